"""TensorBoard while training: scalars per step and per epoch, the validation confusion matrix as an image per epoch.

    board = Board(out / "tb", purge_step=run.step)      # rank 0 only; Board(..., enabled=False) does nothing
    board.step(run.step, loss=…, lr=…, grad_norm=…, clips_per_s=…)           # after an optimiser step
    board.epoch(epoch, row, confusion=scores.confusion)                       # after validation
    board.close()

Tags: `step/<name>` for per-step scalars (x = optimiser steps), `epoch/<name>` for the metrics row (x = epochs,
1-based; its `epoch` key is the x, not a scalar), `val/confusion` for the image. On by default in `OUT/tb/`
(`tensorboard --logdir OUT/tb`); `tensorboard` is a dependency of arc. `purge_step` makes a resumed run hide the
events that the interrupted run wrote at or after that step, so its curves do not fold back.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from arc.scoring import row_normalised


class Board:
    """A TensorBoard writer for one run (`enabled=False`: every method does nothing)."""

    def __init__(self, log_dir: str | Path, *, enabled: bool = True, purge_step: int | None = None):
        self.log_dir = Path(log_dir)
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise RuntimeError(f"TensorBoard logging needs the 'tensorboard' package, a dependency of arc "
                               f"(pip install tensorboard), or turn it off ({e})") from None
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step or None)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def step(self, step: int, **scalars: float) -> None:
        """Per-step scalars (`loss`, `lr`, `grad_norm`, `clips_per_s`, …) as `step/<name>` at optimiser step
        `step`; None and non-finite values are skipped."""
        if self.writer is None:
            return
        for name, value in scalars.items():
            if value is not None and math.isfinite(float(value)):
                self.writer.add_scalar(f"step/{name}", float(value), step)

    def epoch(self, epoch: int, row: dict, confusion: np.ndarray | None = None) -> None:
        """The epoch's metrics row (numbers only) as `epoch/<key>`, and the validation confusion matrix (counts,
        rows = true class) as the image `val/confusion` (`confusion_image`); then flush."""
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)
        if confusion is not None:
            self.writer.add_image("val/confusion", confusion_image(np.asarray(confusion)), epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def confusion_image(confusion: np.ndarray, side: int = 512) -> np.ndarray:
    """The row-normalised confusion matrix (rows = true class, columns = predicted) as an RGB `uint8` image of about
    `side` pixels, one square block per cell, white (0) to dark blue (1): a glance per epoch. The labelled figure of
    a checkpoint is `arc viz confusion` (docs/viz.md)."""
    from matplotlib import colormaps

    fraction = row_normalised(confusion)
    cell = max(1, side // max(len(fraction), 1))
    rgb = colormaps["Blues"](fraction)[..., :3]
    return (255 * np.kron(rgb, np.ones((cell, cell, 1)))).round().astype(np.uint8)
