"""Evaluation of a trained model: multi-clip / multi-crop score averaging, top-1, top-5, mean class accuracy,
the confusion matrix, and single-video prediction.

Views: a test sample is `[V, T, 3, S, S]` with `V = clips × crops`. The model scores each view; the class
probabilities (softmax) of the views are averaged, and the prediction is the arg-max of that average.
Mean class accuracy is the mean over classes that occur of `correct / videos` of the class (the diagonal of the
row-normalised confusion matrix; rows = true class, columns = predicted class).
"""

from __future__ import annotations

import csv
import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from arc import checkpoint as ckpt
from arc.distributed import Context, all_gather_objects, all_reduce_sum, pick_device


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


def autocast(device: torch.device, amp: str):
    """The autocast context for `amp` in none/bf16/fp16."""
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


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


# -- evaluating a checkpoint -----------------------------------------------------------------------------------


def model_from_checkpoint(state: dict, device: torch.device):
    """Rebuild the model a training checkpoint was made with, and load its weights."""
    from arc.models import build_model

    cfg = dict(state["config"]["model"])
    model = build_model(**cfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def evaluate(checkpoint: str | Path, *, data_root: str | None = None, split: str = "val", clips: int | None = None,
             crops: int = 1, batch_size: int = 4, workers: int = 0, device: str | None = None, amp: str = "none",
             out_dir: str | Path | None = None, log=None) -> dict:
    """Evaluate `checkpoint` on its dataset's `split`; write `confusion.npy` and `per_class.csv` to `out_dir`
    (default: beside the checkpoint, prefixed with its name). Returns the `--json` dict plus the file paths."""
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    checkpoint = Path(checkpoint)
    state = ckpt.load(checkpoint)
    from arc.data import build_dataset, collate_clips
    from arc.loader import make_loader

    cfg = state["config"]
    clips = cfg.get("test_clips", 1) if clips is None else clips
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    dev = pick_device(device)
    model = model_from_checkpoint(state, dev)
    root = resolve_data_root(cfg["dataset"], data_root or cfg.get("data_root"), cfg.get("train_list"))
    dataset = build_dataset(cfg["dataset"], root, split, num_segments=cfg["frames"], train=False, clips=clips,
                            crops=crops, input_size=cfg["input_size"],
                            list_file=cfg.get("val_list") if split == "val" else cfg.get("train_list"))
    if list(dataset.classes) != list(state["classes"]):
        raise ValueError(f"the classes of {cfg['dataset']} at {root} differ from the {len(state['classes'])} "
                         f"classes {checkpoint} was trained on")
    loader, _ = make_loader(dataset, batch_size=batch_size, train=False, seed=0, collate_fn=collate_clips,
                            workers=workers, pin_memory=dev.type == "cuda")

    def warn(b):
        if log is not None:
            log(f"warning: skipped unreadable sample {b.path} ({b.reason})")

    s = score(model, loader, len(state["classes"]), Context(device=dev), amp=amp, on_bad=warn)
    out_dir = checkpoint.parent if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{checkpoint.stem}-{split}"
    confusion_path, csv_path = out_dir / f"{stem}-confusion.npy", out_dir / f"{stem}-per_class.csv"
    np.save(confusion_path, s.confusion)
    write_per_class(csv_path, s.confusion, state["classes"])
    return {"num_classes": len(state["classes"]), "top1": s.top1, "top5": s.top5,
            "mean_class_acc": s.mean_class_acc, "clips": clips, "crops": crops, "videos": s.videos,
            "bad": [str(b.path) for b in s.bad], "confusion": str(confusion_path), "per_class": str(csv_path)}


def write_per_class(path: Path, confusion: np.ndarray, classes) -> None:
    """`index,name,videos,correct,accuracy` per class (accuracy empty for a class without videos)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "name", "videos", "correct", "accuracy"])
        for i, name in enumerate(classes):
            videos, correct = int(confusion[i].sum()), int(confusion[i, i])
            w.writerow([i, name, videos, correct, f"{correct / videos:.6f}" if videos else ""])


def resolve_data_root(dataset: str, data_root: str | None, list_file: str | None = None) -> Path:
    """The data folder: as given; for `synthetic` a folder written by `arc data synth`, or else the cache folder
    (default `$ARC_CACHE` or `~/.cache/arc`) where the default set is generated when missing; for `list` by default
    the folder of the list file (paths in lists are relative to it)."""
    if dataset == "synthetic":
        from arc.data.synth import ensure_synthetic

        if data_root is not None and (Path(data_root) / "synth.json").is_file():
            return Path(data_root)

        return Path(ensure_synthetic(cache_dir=data_root))
    if data_root is None and dataset == "list" and list_file:
        return Path(list_file).expanduser().resolve().parent
    if data_root is None:
        raise ValueError(f"--data-root is required for dataset {dataset!r}: the folder as distributed (SPEC §5)")
    return Path(data_root)


def predict(path: str | Path, checkpoint: str | Path, *, topk: int = 5, clips: int | None = None, crops: int = 1,
            device: str | None = None) -> list[tuple[str, float]]:
    """The `topk` (class name, probability) pairs for one video file or frame folder, best first."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such video file or frame folder")
    state = ckpt.load(checkpoint)
    from arc.data import load_clip
    from arc.data.datasets import DATASETS

    cfg, classes = state["config"], state["classes"]
    dev = pick_device(device)
    model = model_from_checkpoint(state, dev)
    clip = load_clip(path, num_segments=cfg["frames"], clips=cfg.get("test_clips", 1) if clips is None else clips,
                     crops=crops, input_size=cfg["input_size"], prescale=DATASETS[cfg["dataset"]].prescale)
    with torch.no_grad():
        probs, _ = view_probs(model, clip[None].to(dev))
    p, i = probs[0].topk(min(topk, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


def to_json(result: dict) -> str:
    """The machine-readable summary: exactly the `arc eval --json` keys."""
    keys = ("num_classes", "top1", "top5", "mean_class_acc", "clips", "crops", "videos")
    return json.dumps({k: result[k] for k in keys})
