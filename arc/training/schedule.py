"""Learning-rate schedules of the paper's recipes (docs/training.md): multistep decay and cosine with linear warm-up.

Both are pure functions of the (fractional) epoch `e = epoch + step_in_epoch / steps_per_epoch`, so the lr at any
point of a run — and after a resume — follows from the step count alone.

- multistep: `lr(e) = base · gamma^k`, `k` = number of milestones `m` with `m <= e`  (×0.1 at epochs 30, 40 on SSv1).
- cosine:    `lr(e) = base · e / W` for `e < W` (warm-up), then `base · ½(1 + cos(π (e - W) / (E - W)))`.
"""

from __future__ import annotations

import math

SCHEDULES = ("multistep", "cosine")


def multistep_lr(epoch: float, base_lr: float, milestones, gamma: float = 0.1) -> float:
    """`base_lr · gamma^(number of milestones reached)`; milestone `m` takes effect at the start of epoch `m`."""
    return base_lr * gamma ** sum(1 for m in milestones if epoch >= m)


def cosine_lr(epoch: float, base_lr: float, epochs: float, warmup_epochs: float = 0.0) -> float:
    """Linear warm-up from 0 to `base_lr` over `warmup_epochs`, then half a cosine down to 0 at `epochs`."""
    if epoch < warmup_epochs:
        return base_lr * epoch / warmup_epochs
    span = max(epochs - warmup_epochs, 1e-12)
    progress = min(max((epoch - warmup_epochs) / span, 0.0), 1.0)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


class Schedule:
    """The lr of a run as a function of the global step; `apply(optimizer, step)` sets it on every param group.

    Its `state_dict()` is a plain dict (for `weights_only` checkpoints) that records the schedule and the last step."""

    def __init__(self, kind: str, base_lr: float, epochs: int, steps_per_epoch: int, *, milestones=(),
                 gamma: float = 0.1, warmup_epochs: float = 0.0):
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.kind, self.base_lr, self.epochs = kind, float(base_lr), int(epochs)
        self.steps_per_epoch = int(steps_per_epoch)
        self.milestones, self.gamma = tuple(int(m) for m in milestones), float(gamma)
        self.warmup_epochs = float(warmup_epochs)
        self.last_step = 0

    def lr_at_epoch(self, epoch: float) -> float:
        if self.kind == "multistep":
            return multistep_lr(epoch, self.base_lr, self.milestones, self.gamma)
        return cosine_lr(epoch, self.base_lr, self.epochs, self.warmup_epochs)

    def lr_at_step(self, step: int) -> float:
        return self.lr_at_epoch(step / self.steps_per_epoch)

    def apply(self, optimizer, step: int) -> float:
        lr = self.lr_at_step(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        self.last_step = int(step)
        return lr

    def state_dict(self) -> dict:
        return {"kind": self.kind, "base_lr": self.base_lr, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch, "milestones": list(self.milestones),
                "gamma": self.gamma, "warmup_epochs": self.warmup_epochs, "last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved step; refuse a checkpoint whose steps per epoch differ (the data or batch size
        changed). The schedule itself comes from the run's configuration — so a resumed run given more epochs
        follows the schedule over the new length."""
        if int(state["steps_per_epoch"]) != self.steps_per_epoch:
            raise ValueError(f"the checkpoint was made with {state['steps_per_epoch']} steps per epoch, this run "
                             f"has {self.steps_per_epoch}: resume with the same data, batch size and processes")
        self.last_step = int(state["last_step"])

    def __repr__(self) -> str:
        if self.kind == "multistep":
            return f"multistep(lr={self.base_lr:g}, ×{self.gamma:g} at epochs {list(self.milestones)})"
        return f"cosine(lr={self.base_lr:g}, {self.warmup_epochs:g} warm-up epochs, {self.epochs} epochs)"
