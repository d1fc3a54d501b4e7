"""TSN sparse sampling (Wang et al. 2016; SPEC §4): one frame from each of `T` equal segments of the video.

Frame `k` of a clip is `⌊(k + u_k)·N / T⌋` for a video of `N` frames: `u_k ~ U[0, 1)` independently per
segment in training, `u = 1/2` (the segment's centre) in testing, and for multi-clip testing clip `c` of `C`
uses `u = (c + 1/2) / C`, so the clips are spread evenly inside each segment (distinct when `N ≥ T·C`).
The indices are always in `[0, N)`, non-decreasing, one per segment; strictly increasing when `N ≥ T`.
Short videos (`N < T`) repeat frames, as TSM does.
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
    k = np.arange(num_segments, dtype=np.float64)
    if train:
        if clips != 1:
            raise ValueError("training samples one clip per video (clips=1)")
        rng = rng if rng is not None else np.random.default_rng()
        u = rng.random((1, num_segments))
    else:
        u = ((np.arange(clips, dtype=np.float64) + 0.5) / clips)[:, None]
    idx = np.floor((k[None, :] + u) * num_frames / num_segments).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
