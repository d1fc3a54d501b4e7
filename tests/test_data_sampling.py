"""TSN sampling and the selective flip map."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import seeds

from arc.data.labels import flip_map, flip_pairs, swap_left_right
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


def test_swap_left_right_keeps_case_and_whole_words():
    assert swap_left_right("Pushing something from left to right") == "Pushing something from right to left"
    assert swap_left_right("Left and Right") == "Right and Left"
    assert swap_left_right("Putting something upright on the table") is None
    assert swap_left_right("Holding something") is None


def test_selective_flip_of_the_real_ssv1_names_swaps_exactly_the_three_pairs(shared_data):
    names = [s.strip() for s in (shared_data / "something-something-v1-labels.csv").read_text().splitlines()
             if s.strip()]
    assert len(names) == 174
    classes = sorted(names)
    assert flip_pairs(classes) == [(86, 87), (93, 94), (166, 167)]
    assert classes[86] == "Pulling something from left to right"
    assert classes[167] == "Turning the camera right while filming something"
    m = flip_map(classes)
    # "pulling it right out" has the word but no partner: never flipped; "upright" is not the word
    unpaired = classes.index("Plugging something into something but pulling it right out as you remove your hand")
    assert m[unpaired] == -1
    assert m[classes.index("Putting something upright on the table")] == classes.index(
        "Putting something upright on the table")
    flipped_to_other = {i for i in range(174) if m[i] not in (i, -1)}
    assert flipped_to_other == {86, 87, 93, 94, 166, 167}
    assert sum(m == -1) == 1


def test_flip_policies():
    classes = ["Moving something left", "Moving something right", "Turning left", "Waving"]
    assert flip_map(classes).tolist() == [1, 0, -1, 3]
    assert flip_map(classes, "always").tolist() == [0, 1, 2, 3]
    assert flip_map(classes, "never").tolist() == [-1, -1, -1, -1]
    with pytest.raises(ValueError, match="policy"):
        flip_map(classes, "sometimes")
