"""TSN sparse sampling (Wang et al. 2016; docs/data.md): one frame from each of `T` equal segments of the video.

Training: a video of `N ≥ T` frames is cut into `T` runs of whole frames, run `k` = frames
`[b_k, b_{k+1})` with `b_k = ⌊k·N/T⌋`, and one frame is drawn uniformly from each run — strictly
increasing indices. Testing: frame `⌊(k + u)·N/T⌋` of segment `k` with `u = 1/2`, the centre frame (the
same frames as TSM); multi-clip testing gives clip `c` of `C` the offset `u = (c + 1/2)/C`, spreading the
clips evenly inside each segment (distinct when `N ≥ T·C`). Videos shorter than `T` repeat frames
(`⌊(k + u)·N/T⌋` with a random `u` per segment in training). Indices are always in `[0, N)`, sorted.
"""

from __future__ import annotations

import numpy as np


def sample_indices(num_frames: int, num_segments: int, *, train: bool, clips: int = 1,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices `[clips, num_segments]` (int64) for a video of `num_frames` frames.

    `train=True` draws random offsets from `rng` and allows a single clip only."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if num_segments < 1 or clips < 1:
        raise ValueError(f"num_segments and clips must be >= 1, got {num_segments} and {clips}")
    if train:
        if clips != 1:
            raise ValueError("training samples one clip per video (clips=1)")
        rng = rng if rng is not None else np.random.default_rng()
        u = rng.random((1, num_segments))
    else:
        u = ((np.arange(clips, dtype=np.float64) + 0.5) / clips)[:, None]
    if train and num_frames >= num_segments:
        b = np.arange(num_segments + 1, dtype=np.int64) * num_frames // num_segments
        idx = b[None, :-1] + np.floor(u * (b[1:] - b[:-1])[None, :]).astype(np.int64)
    else:
        k = np.arange(num_segments, dtype=np.float64)
        idx = np.floor((k[None, :] + u) * num_frames / num_segments).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
