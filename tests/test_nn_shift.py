"""The TSM temporal shift against its definition written out element by element: two folds of channels move one
frame, in opposite directions, zeros at the clip ends; any clip length, channel count and fold divisor."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import clip_batches

from arc import TemporalShift, temporal_shift


def shifted_literally(x: torch.Tensor, T: int, fold_div: int) -> torch.Tensor:
    """`out[n, t, c] = x[n, t+1, c]` for `c < fold`, `x[n, t-1, c]` for `fold ≤ c < 2·fold`, `x[n, t, c]` above,
    with `fold = ⌊C / fold_div⌋` and 0 where `t ± 1` falls outside the clip — one element at a time."""
    NT, C = x.shape[:2]
    clips = x.view(NT // T, T, C, *x.shape[2:])
    out = torch.empty_like(clips)
    fold = C // fold_div
    for n in range(NT // T):
        for t in range(T):
            for c in range(C):
                source = t + 1 if c < fold else t - 1 if c < 2 * fold else t
                out[n, t, c] = clips[n, source, c] if 0 <= source < T else 0
    return out.view_as(x)


@given(batch=clip_batches(), fold_div=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_temporal_shift_is_its_element_by_element_definition(batch, fold_div, seed):
    N, T, C, H, W = batch
    x = torch.randn(N * T, C, H, W, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = shifted_literally(x, T, fold_div)
    assert torch.equal(temporal_shift(x, T, fold_div), expected)
    assert torch.equal(TemporalShift(T, fold_div)(x), expected)


def test_temporal_shift_moves_two_folds_in_opposite_directions():
    N, T, C = 2, 4, 16
    x = torch.arange(N * T * C, dtype=torch.float32).view(N * T, C, 1, 1) + 1
    out = temporal_shift(x, T).view(N, T, C)
    clips = x.view(N, T, C)
    fold = C // 8
    assert torch.equal(out[:, :-1, :fold], clips[:, 1:, :fold])  # frame t sees t+1
    assert torch.equal(out[:, -1, :fold], torch.zeros(N, fold))
    assert torch.equal(out[:, 1:, fold:2 * fold], clips[:, :-1, fold:2 * fold])  # frame t sees t-1
    assert torch.equal(out[:, 0, fold:2 * fold], torch.zeros(N, fold))
    assert torch.equal(out[:, :, 2 * fold:], clips[:, :, 2 * fold:])


@pytest.mark.parametrize("T,fold_div,last,first", [(5, 8, 2, 2), (5, 3, 5, 5), (5, 1, 16, 0), (5, 20, 0, 0),
                                                   (2, 8, 2, 2), (1, 8, 4, 4), (1, 1, 16, 16)])
def test_edge_frames_lose_what_they_would_take_from_outside_the_clip(T, fold_div, last, first):
    """16 channels: the last frame has `last` zero channels (the fold that looks ahead), the first `first` (the fold
    that looks back; `fold_div = 1`: every channel looks ahead and none back); a one-frame clip loses both folds."""
    x = torch.rand(2 * T, 16, 2, 2) + 1
    zero = (temporal_shift(x, T, fold_div).view(2, T, 16, 4) == 0).all(dim=3)   # [N, T, C]
    assert zero[:, -1].sum(dim=1).tolist() == [last, last] and zero[:, 0].sum(dim=1).tolist() == [first, first]
    assert not zero[:, 1:-1].any()


def test_clips_that_do_not_fill_the_batch_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="batch 6 is not a multiple of num_segments=4"):
        temporal_shift(torch.zeros(6, 8, 1, 1), 4)
    with pytest.raises(ValueError, match="must be >= 1"):
        TemporalShift(0)
    with pytest.raises(ValueError, match="must be >= 1"):
        TemporalShift(8, fold_div=0)
