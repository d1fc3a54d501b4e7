"""TSN sampling: which frames a clip is made of, in training and at test time."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds

from arc.data.sampling import sample_indices

frame_counts = st.integers(min_value=1, max_value=400)
segment_counts = st.integers(min_value=1, max_value=32)


@given(n=frame_counts, t=segment_counts, seed=seeds)
def test_training_indices_are_in_range_sorted_and_one_per_segment(n, t, seed):
    idx = sample_indices(n, t, train=True, rng=np.random.default_rng(seed))
    assert idx.shape == (1, t) and idx.dtype == np.int64
    i = idx[0]
    assert i.min() >= 0 and i.max() < n
    assert np.all(np.diff(i) >= 0)
    k = np.arange(t)
    if n >= t:   # frame i[k] lies in segment k: frames [⌊k·n/t⌋, ⌊(k+1)·n/t⌋)
        assert np.all(i >= k * n // t) and np.all(i < (k + 1) * n // t)
        assert np.all(np.diff(i) > 0)


@given(n=frame_counts, t=segment_counts)
def test_test_indices_are_the_frames_holding_the_segment_centres(n, t):
    idx = sample_indices(n, t, train=False)[0]
    centre = (np.arange(t) + 0.5) * n / t      # frame j covers [j, j + 1) in frame units
    assert np.all(idx <= centre) and np.all(centre < idx + 1)
    if n >= t:
        assert np.all(np.diff(idx) > 0)


def test_test_indices_match_tsm_on_common_lengths():
    # TSM's int(tick/2 + tick·k), tick = n/t
    for n, t in [(16, 8), (17, 8), (37, 8), (48, 16), (300, 8)]:
        tick = n / t
        assert sample_indices(n, t, train=False)[0].tolist() == [int(tick / 2 + tick * k) for k in range(t)]


@given(t=segment_counts, clips=st.integers(1, 5), extra=st.integers(0, 50))
def test_multi_clip_indices_are_distinct_shifted_and_in_segment(t, clips, extra):
    n = t * clips + extra
    idx = sample_indices(n, t, train=False, clips=clips)
    assert idx.shape == (clips, t)
    assert idx.min() >= 0 and idx.max() < n
    assert len({tuple(c) for c in idx.tolist()}) == clips
    # clip c+1 is clip c shifted later inside every segment
    assert np.all(np.diff(idx, axis=0) >= 0)
    k = np.arange(t)
    assert np.all(idx >= k * n // t) and np.all(idx < (k + 1) * n / t)


def test_training_offsets_vary_between_draws():
    rng = np.random.default_rng(0)
    draws = {tuple(sample_indices(100, 8, train=True, rng=rng)[0]) for _ in range(20)}
    assert len(draws) > 15


def test_sampling_refuses_nonsense():
    with pytest.raises(ValueError, match="num_frames"):
        sample_indices(0, 8, train=False)
    with pytest.raises(ValueError, match="one clip"):
        sample_indices(100, 8, train=True, clips=2)


