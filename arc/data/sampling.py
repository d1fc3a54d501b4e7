"""TSN sparse sampling (Wang et al. 2016; docs/data.md): one frame from each of `T` segments of a video of `N` frames.

Two samplers, chosen by `sampling`:

- "tsm" (the default): exactly the frames of TSM's `ops/dataset.py`, with which the ARC authors trained and tested.
  Training: segments of `N // T` whole frames, one uniform draw in each (frame `k·(N // T) + r_k`), so the last
  `N mod T` frames are never drawn. Testing: `tick = N / T` and frame `int(tick·u + tick·k)` of segment `k`; one
  clip is the centre, `u = 1/2` (TSM's `_get_test_indices`), two clips are the centre clip and the clip at each
  segment's start, `u = 1/2, 0` (TSM's `twice_sample`); `C` clips generalise these with `u = (1/2 + c/C) mod 1`
  (TSM has no convention for `C > 2` outside its dense sampling). For `N < T`, where TSM's training draws frame 0
  for every segment, training takes the test frames instead (every frame, in order, each `⌊T/N⌋` or `⌈T/N⌉` times).
- "uniform": segments that cover every frame. Training: runs `[⌊k·N/T⌋, ⌊(k+1)·N/T⌋)`, one draw in each; for
  `N < T` frame `⌊(k + u)·N/T⌋` with a random `u` per segment. Testing: frame `⌊(k + u)·N/T⌋`, clip `c` of `C` at
  `u = (c + 1/2)/C` (one clip: the centre frames, computed exactly; "tsm" takes the frame before where TSM's float
  rounding puts a centre that falls on a frame boundary just below it, which never happens for `T` a power of 2).

Indices are always in `[0, N)` and sorted within a clip.
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("tsm", "uniform")
TEST_CROPS = (1, 3)   # crops of a test clip (`arc.data.transforms`): the centre, or three at full resolution


def clip_offsets(clips: int, sampling: str = "tsm") -> np.ndarray:
    """Where clip `c` of `clips` samples inside each test segment, as a fraction `u ∈ [0, 1)` of the segment."""
    c = np.arange(clips, dtype=np.float64)
    if sampling == "tsm":
        return (0.5 + c / clips) % 1.0
    return (c + 0.5) / clips


def sample_indices(num_frames: int, num_segments: int, *, train: bool, clips: int = 1,
                   rng: np.random.Generator | None = None, sampling: str = "tsm") -> np.ndarray:
    """Frame indices `[clips, num_segments]` (int64) for a video of `num_frames` frames.

    `train=True` draws random offsets from `rng` and allows a single clip only; `sampling` is "tsm" or "uniform"."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if num_segments < 1 or clips < 1:
        raise ValueError(f"num_segments and clips must be >= 1, got {num_segments} and {clips}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    if train and clips != 1:
        raise ValueError("training samples one clip per video (clips=1)")
    n, t = num_frames, num_segments
    k = np.arange(t, dtype=np.int64)
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        if sampling == "tsm":
            if n < t:
                return sample_indices(n, t, train=False, sampling="tsm")
            length = n // t
            return (k * length + rng.integers(length, size=t))[None, :]
        if n >= t:
            b = np.arange(t + 1, dtype=np.int64) * n // t
            return (b[:-1] + np.floor(rng.random(t) * (b[1:] - b[:-1])).astype(np.int64))[None, :]
        idx = np.floor((k + rng.random(t)) * n / t).astype(np.int64)[None, :]
        return np.minimum(idx, n - 1)
    u = clip_offsets(clips, sampling)[:, None]
    if sampling == "tsm":
        tick = n / t     # in TSM's order of float operations, so the frames are the same to the last bit
        idx = np.floor(tick * u + tick * k[None, :]).astype(np.int64)
    else:
        idx = np.floor((k[None, :] + u) * n / t).astype(np.int64)
    return np.minimum(idx, n - 1)
