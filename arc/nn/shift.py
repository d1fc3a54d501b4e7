"""Temporal Shift (TSM, Lin et al. 2019): part of the channels look one frame ahead, part one frame back."""

from __future__ import annotations

import torch
from torch import nn


def temporal_shift(x: torch.Tensor, num_segments: int, fold_div: int = 8) -> torch.Tensor:
    """`[N·T, C, H, W]` → same shape. With `fold = C // fold_div`, channels `[0, fold)` of frame `t` take
    frame `t+1`, channels `[fold, 2·fold)` take frame `t-1`, the rest stay; zeros past the clip ends."""
    NT, C, H, W = x.shape
    if NT % num_segments:
        raise ValueError(f"temporal_shift: batch {NT} is not a multiple of num_segments={num_segments}")
    clips = x.view(NT // num_segments, num_segments, C, H, W)
    fold = C // fold_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = clips[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = clips[:, :, 2 * fold :]
    return out.view(NT, C, H, W)


class TemporalShift(nn.Module):
    """The residual shift of TSM as a parameter-free module: applied at the start of a residual branch."""

    def __init__(self, num_segments: int = 8, fold_div: int = 8):
        super().__init__()
        if num_segments < 1 or fold_div < 1:
            raise ValueError(f"TemporalShift: num_segments and fold_div must be >= 1, got {num_segments}, {fold_div}")
        self.num_segments, self.fold_div = num_segments, fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.num_segments, self.fold_div)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, fold_div={self.fold_div}"
