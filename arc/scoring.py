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
from arc.runtime.distributed import Context, all_gather_objects, all_reduce_sum


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
        per_video = self.confusion.sum(axis=1)
        seen = per_video > 0
        return float((np.diag(self.confusion)[seen] / per_video[seen]).mean()) if seen.any() else 0.0


def view_probs(model, clips: torch.Tensor, amp: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """Clips `[B, V, T, 3, S, S]` → (class probabilities averaged over the V views `[B, C]`, log of it)."""
    B, V = clips.shape[:2]
    with autocast(clips.device, amp):
        logits = model(clips.flatten(0, 1)).float()
    if V == 1:
        return logits.softmax(-1), logits.log_softmax(-1)
    probs = logits.softmax(-1).view(B, V, -1).mean(1)
    return probs, probs.clamp_min(1e-12).log()


@torch.no_grad()
def score(model, loader, num_classes: int, ctx: Context, amp: str = "none", on_bad=None) -> Scores:
    """Run `model` (eval mode) over `loader` of `(clips, labels, indices, bad)` batches; sums reduced over ranks."""
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    loss_sum, c1, c5, videos, bad = 0.0, 0, 0, 0, []
    k = min(5, num_classes)
    for clips, labels, _, bad_now in loader:
        for b in bad_now:
            bad.append(b)
            if on_bad is not None:
                on_bad(b)
        if labels.numel():
            clips, labels = clips.to(ctx.device, non_blocking=True), labels.to(ctx.device)
            probs, logp = view_probs(model, clips, amp)
            loss_sum += F.nll_loss(logp, labels, reduction="sum").item()
            top = probs.topk(k, dim=1).indices
            c1 += (top[:, 0] == labels).sum().item()
            c5 += (top == labels[:, None]).any(1).sum().item()
            videos += labels.numel()
            confusion.index_put_((labels.cpu(), top[:, 0].cpu()), torch.ones(len(labels), dtype=torch.int64),
                                 accumulate=True)
    sums = all_reduce_sum([loss_sum, c1, c5, videos] + confusion.flatten().tolist(), ctx)
    bad = [b for per_rank in all_gather_objects(bad, ctx) for b in per_rank]
    conf = np.asarray(sums[4:], dtype=np.int64).reshape(num_classes, num_classes)
    return Scores(sums[0], int(sums[1]), int(sums[2]), int(sums[3]), conf, bad)
