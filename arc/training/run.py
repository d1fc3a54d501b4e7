"""The state of a training run at one moment. `Run.state_dict()` is the checkpoint — everything a resumed run needs,
gathered in one place — and `Run.weights()` what `best.pt` keeps for evaluation and fine-tuning."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from arc.training import checkpoint
from arc.training.config import TrainConfig
from arc.training.schedule import Schedule


@dataclass
class EpochSums:
    """Running sums of the epoch in progress (kept in the checkpoint so that a resumed epoch reports the same loss)."""

    loss_sum: float = 0.0            # over all ranks
    samples: int = 0                 # over all ranks
    bad: list[str] = field(default_factory=list)   # "path (reason)" of this rank's unreadable training samples
    bad_total: int = 0               # unreadable training samples over all ranks (at the last logging point)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.samples, 1)


@dataclass
class Run:
    """A training run: its resolved configuration, its classes, the model (bare: not wrapped in DDP or compiled),
    optimiser, lr schedule and gradient scaler, and where it stands."""

    config: TrainConfig
    classes: list[str]
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    epoch: int = 0                   # epochs completed
    step: int = 0                    # optimiser steps taken, over all epochs
    batch_in_epoch: int = 0          # batches of the current epoch already trained (the sampler's position)
    best_top1: float = -1.0
    sums: EpochSums = field(default_factory=EpochSums)

    def state_dict(self) -> dict:
        """The checkpoint: plain tensors and values only, so `torch.load(weights_only=True)` reads it."""
        return {
            "model": self.model.state_dict(), "model_config": dict(self.model.config),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
            "best_top1": self.best_top1, "epoch_stats": dataclasses.asdict(self.sums),
            "rng": checkpoint.rng_state(), "config": self.config.to_dict(), "classes": list(self.classes),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state`: weights, optimiser, schedule, scaler (when it has one), position, RNG streams."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step, self.batch_in_epoch = state["epoch"], state["step"], state["batch_in_epoch"]
        self.best_top1 = state["best_top1"]
        self.sums = EpochSums(**state["epoch_stats"])
        checkpoint.set_rng_state(state["rng"])

    def weights(self, metrics: dict) -> dict:
        """`best.pt`: the weights and what is needed to rebuild and read the model, with the metrics that chose
        it — no optimiser."""
        return {"model": self.model.state_dict(), "model_config": dict(self.model.config),
                "config": self.config.to_dict(), "classes": list(self.classes), "epoch": self.epoch,
                "step": self.step, "best_top1": self.best_top1, "metrics": dict(metrics)}

    def start_epoch(self) -> None:
        """Move to the next epoch: the position and the running sums start over."""
        self.epoch, self.batch_in_epoch, self.sums = self.epoch + 1, 0, EpochSums()
