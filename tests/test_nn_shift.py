"""The TSM temporal shift: two folds of channels move one frame, in opposite directions, zeros at the clip ends."""

import torch

from arc import temporal_shift


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


