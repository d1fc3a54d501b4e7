"""Scoring a model on clips: multi-view probability averaging, top-1, top-5, mean class accuracy and the confusion
matrix, summed over the ranks of a torchrun job. Used by the training loop (validation) and by `arc.evaluation`.

Views: a test sample is `[V, T, 3, S, S]` with `V = clips × crops`. The model scores each view; the class
probabilities (softmax) of the views are averaged, and the prediction is the arg-max of that average.
Mean class accuracy is the mean over classes that occur of `correct / videos` of the class (the diagonal of the
row-normalised confusion matrix; rows = true class, columns = predicted class).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from arc.runtime.device import autocast
from arc.runtime.distributed import Context, all_gather_objects, all_reduce_tensor


@dataclass
class Scores:
    """Sums over a dataset (reducible over ranks by adding)."""

    loss_sum: float = 0.0
    correct1: int = 0
    correct5: int = 0
    videos: int = 0
    confusion: np.ndarray | None = None
    bad: list = field(default_factory=list)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.videos, 1)

    @property
    def top1(self) -> float:
        return self.correct1 / max(self.videos, 1)

    @property
    def top5(self) -> float:
        return self.correct5 / max(self.videos, 1)

    @property
    def mean_class_acc(self) -> float:
        seen = self.confusion.sum(axis=1) > 0
        return float(np.diag(row_normalised(self.confusion))[seen].mean()) if seen.any() else 0.0


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """The confusion matrix (counts, rows = true class) with each row divided by its total, the true class's
    videos: the fraction of them predicted as each class. Rows without videos stay 0."""
    totals = confusion.sum(axis=1, keepdims=True).astype(float)
    return np.divide(confusion, totals, out=np.zeros(confusion.shape, dtype=float), where=totals > 0)


def view_probs(model, clips: torch.Tensor, amp: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """Clips `[B, V, T, 3, S, S]` → (class probabilities averaged over the V views `[B, C]`, log of it)."""
    B, V = clips.shape[:2]
    with autocast(clips.device, amp):
        logits = model(clips.flatten(0, 1)).float()
    if V == 1:
        return logits.softmax(-1), logits.log_softmax(-1)
    probs = logits.softmax(-1).view(B, V, -1).mean(1)
    return probs, probs.clamp_min(1e-12).log()


def readable_batches(loader, bad: list, on_bad=None):
    """The `(clips, labels, indices)` of `loader`'s `(clips, labels, indices, bad)` batches that hold a readable
    sample; each unreadable one is appended to `bad` (and passed to `on_bad`)."""
    for clips, labels, index, bad_now in loader:
        for b in bad_now:
            bad.append(b)
            if on_bad is not None:
                on_bad(b)
        if index.numel():
            yield clips, labels, index


def tally(probs: torch.Tensor, logp: torch.Tensor, labels: torch.Tensor, confusion: torch.Tensor) -> torch.Tensor:
    """One batch's `[loss, top-1 hits, top-5 hits, videos]` (float64, on the device) from its probabilities and their
    log `[B, C]`; its predictions counted into `confusion` `[C, C]` (rows = true class)."""
    top = probs.topk(min(5, probs.shape[1]), dim=1).indices
    confusion.index_put_((labels, top[:, 0]), torch.ones_like(labels, dtype=confusion.dtype), accumulate=True)
    return torch.stack([F.nll_loss(logp, labels, reduction="sum"), (top[:, 0] == labels).sum(),
                        (top == labels[:, None]).any(1).sum(), torch.tensor(labels.numel(), device=labels.device)
                        ]).double()


def scores_of(sums, confusion, bad: list) -> Scores:
    """`Scores` from the summed `[loss, top-1 hits, top-5 hits, videos]` and the confusion counts (host arrays)."""
    return Scores(float(sums[0]), int(round(sums[1])), int(round(sums[2])), int(round(sums[3])),
                  np.rint(confusion).astype(np.int64), bad)


@torch.no_grad()
def score(model, loader, num_classes: int, ctx: Context, amp: str = "none", on_bad=None) -> Scores:
    """Run `model` (eval mode) over `loader` of `(clips, labels, indices, bad)` batches; the sums are kept on the
    device (no host sync per batch) and reduced over the ranks in one collective at the end."""
    model.eval()
    dev = ctx.device
    sums = torch.zeros(4, dtype=torch.float64, device=dev)            # loss, top-1 hits, top-5 hits, videos
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64, device=dev)
    bad = []
    for clips, labels, _ in readable_batches(loader, bad, on_bad):
        clips, labels = clips.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
        sums += tally(*view_probs(model, clips, amp), labels, confusion)
    total = all_reduce_tensor(torch.cat([sums, confusion.flatten()]), ctx).cpu().numpy()
    bad = [b for per_rank in all_gather_objects(bad, ctx) for b in per_rank]
    return scores_of(total[:4], total[4:].reshape(num_classes, num_classes), bad)
