"""TSN sampling: which frames a clip is made of, in training and at test time — TSM's frames by default
(`ops/dataset.py` of mit-han-lab/temporal-shift-module), every frame's segment with `sampling="uniform"`."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds

from arc.data.sampling import sample_indices

frame_counts = st.integers(min_value=1, max_value=400)
segment_counts = st.integers(min_value=1, max_value=32)


@given(n=frame_counts, t=segment_counts, seed=seeds)
def test_uniform_training_indices_are_in_range_sorted_and_one_per_segment_covering_every_frame(n, t, seed):
    idx = sample_indices(n, t, train=True, rng=np.random.default_rng(seed), sampling="uniform")
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
    exact = sample_indices(n, t, train=False, sampling="uniform")[0]
    centre = (np.arange(t) + 0.5) * n / t      # frame j covers [j, j + 1) in frame units
    assert np.all(exact <= centre) and np.all(centre < exact + 1)
    if n >= t:
        assert np.all(np.diff(exact) > 0)
    # TSM's float arithmetic can land one frame early where a centre falls exactly on a frame boundary
    # (n = 30, t = 25: 1.2/2 + 1.2·2 < 3); never for t a power of two, as 8 and 16 are
    tsm = sample_indices(n, t, train=False)[0]
    on_boundary = centre == np.round(centre)
    assert np.all((tsm == exact) | (on_boundary & (tsm == exact - 1)))
    if t & (t - 1) == 0:
        assert np.array_equal(tsm, exact)


def test_test_indices_match_tsm_on_common_lengths():
    # TSM's int(tick/2 + tick·k), tick = n/t
    for n, t in [(16, 8), (17, 8), (37, 8), (48, 16), (300, 8)]:
        tick = n / t
        assert sample_indices(n, t, train=False)[0].tolist() == [int(tick / 2 + tick * k) for k in range(t)]


@given(t=segment_counts, clips=st.integers(1, 5), extra=st.integers(0, 50))
def test_uniform_multi_clip_indices_are_distinct_shifted_and_in_segment(t, clips, extra):
    n = t * clips + extra
    idx = sample_indices(n, t, train=False, clips=clips, sampling="uniform")
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
    with pytest.raises(ValueError, match="sampling must be one of tsm, uniform"):
        sample_indices(100, 8, train=False, sampling="dense")


def tsm_train_sets(n, t):
    """The frames TSM's `_sample_indices` can draw for each segment (new_length 1): `k·(n // t) + randint(n // t)`."""
    d = n // t
    return [set(range(k * d, k * d + d)) for k in range(t)]


def tsm_test(n, t, twice=False):
    """TSM's `_get_test_indices` (new_length 1), 0-based: `int(tick / 2.0 + tick * x)`, then with `twice_sample`
    `int(tick * x)`."""
    tick = n / float(t)
    centre = [int(tick / 2.0 + tick * x) for x in range(t)]
    return [centre, [int(tick * x) for x in range(t)]] if twice else [centre]


def drawn_sets(n, t, sampling="tsm", draws=300):
    rng = np.random.default_rng(0)
    idx = np.stack([sample_indices(n, t, train=True, rng=rng, sampling=sampling)[0] for _ in range(draws)])
    return [set(idx[:, k].tolist()) for k in range(t)]


def test_tsm_training_draws_from_segments_of_n_div_t_frames_and_never_the_last_n_mod_t():
    assert drawn_sets(37, 8) == [{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}, {16, 17, 18, 19},
                                 {20, 21, 22, 23}, {24, 25, 26, 27}, {28, 29, 30, 31}]
    for n, t in [(16, 8), (17, 8), (8, 8), (63, 16)]:
        assert drawn_sets(n, t) == tsm_train_sets(n, t)
    # the sampler that covers every frame, for comparison: 37 frames, 8 runs from ⌊k·37/8⌋
    assert drawn_sets(37, 8, "uniform")[-1] == {32, 33, 34, 35, 36}


@given(n=frame_counts, t=segment_counts, seed=seeds)
def test_tsm_training_indices_lie_in_their_segment_of_n_div_t_frames(n, t, seed):
    idx = sample_indices(n, t, train=True, rng=np.random.default_rng(seed))[0]
    assert idx.shape == (t,) and np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() < n
    if n >= t:
        d = n // t
        assert np.all(idx // d == np.arange(t))       # segment k is frames [k·d, (k + 1)·d)


@given(n=st.integers(1, 31), t=st.integers(2, 32))
def test_tsm_training_spreads_a_video_shorter_than_t_evenly_over_its_frames(n, t):
    # TSM's _sample_indices returns frame 0 for every segment when n < t; here: the test frames, every frame in order
    if n >= t:
        return
    idx = sample_indices(n, t, train=True, rng=np.random.default_rng(0))[0]
    assert idx.tolist() == tsm_test(n, t)[0]
    counts = np.bincount(idx, minlength=n)
    assert counts.min() >= t // n and counts.max() <= -(-t // n)


def test_tsm_test_and_twice_sample_indices_on_a_37_frame_video():
    assert sample_indices(37, 8, train=False).tolist() == [[2, 6, 11, 16, 20, 25, 30, 34]]
    assert sample_indices(37, 8, train=False, clips=2).tolist() == [[2, 6, 11, 16, 20, 25, 30, 34],
                                                                     [0, 4, 9, 13, 18, 23, 27, 32]]
    # the former default (offsets 1/4 and 3/4 of each segment) stays as "uniform"
    assert sample_indices(37, 8, train=False, clips=2, sampling="uniform").tolist() == [
        [1, 5, 10, 15, 19, 24, 28, 33], [3, 8, 12, 17, 21, 26, 31, 35]]


@given(n=frame_counts, t=segment_counts)
def test_tsm_one_and_two_clip_test_indices_equal_tsm_formulas(n, t):
    assert sample_indices(n, t, train=False).tolist() == tsm_test(n, t)
    assert sample_indices(n, t, train=False, clips=2).tolist() == tsm_test(n, t, twice=True)


@given(t=segment_counts, clips=st.integers(3, 6), extra=st.integers(0, 50))
def test_tsm_more_clips_are_evenly_spaced_offsets_that_include_the_centre(t, clips, extra):
    n = t * clips + extra
    idx = sample_indices(n, t, train=False, clips=clips)
    assert idx[0].tolist() == tsm_test(n, t)[0]                       # clip 0 is the centre clip
    assert len({tuple(c) for c in idx.tolist()}) == clips              # distinct when n >= t·clips
    k = np.arange(t)
    assert np.all(idx >= np.floor(k * n / t)) and np.all(idx < (k + 1) * n / t) and idx.max() < n




def test_datasets_read_the_frames_their_sampling_names(tmp_path):
    from datafiles import index_of, write_frames

    from arc.data import ClipDataset, Record
    from arc.data.clips import read_clips

    folder = write_frames(tmp_path / "v", 37, size=(24, 32))
    for sampling in ("tsm", "uniform"):
        clips = read_clips(folder, 8, False, 2, None, sampling)
        assert [[index_of(f) for f in c] for c in clips] == sample_indices(37, 8, train=False, clips=2,
                                                                           sampling=sampling).tolist()
    ds = ClipDataset([Record(folder, 0)], ["a"], name="t", train=True, input_size=16, sampling="uniform")
    assert ds.sampling == "uniform" and ds[0][0].shape == (1, 8, 3, 16, 16)
    assert ClipDataset([Record(folder, 0)], ["a"], name="t").sampling == "tsm"
    with pytest.raises(ValueError, match="sampling must be one of tsm, uniform"):
        ClipDataset([Record(folder, 0)], ["a"], name="t", sampling="dense")
