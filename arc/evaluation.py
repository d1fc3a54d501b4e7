"""After training: evaluate a checkpoint on a split of its dataset (top-1, top-5, mean class accuracy, the
confusion matrix and per-class accuracy on disk), and predict the classes of single videos.

    result = evaluate("runs/d48/best.pt", clips=2)   # {"top1": …, "top5": …, "mean_class_acc": …, …}
    predict("dive.mp4", "runs/d48/best.pt")          # [(class name, probability), …], best first

Scoring itself (views averaged as probabilities, the metrics) is `arc.scoring`, shared with validation in training.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from arc.data.home import resolve_data_root
from arc.runtime.device import Runtime
from arc.runtime.distributed import Context
from arc.scoring import score, view_probs
from arc.training import checkpoint as ckpt

JSON_KEYS = ("num_classes", "top1", "top5", "mean_class_acc", "clips", "crops", "videos")


def evaluate(checkpoint: str | Path, *, data_root: str | None = None, split: str = "val", clips: int | None = None,
             crops: int = 1, batch_size: int = 4, workers: int = 0, device: str | None = None, amp: str = "none",
             out_dir: str | Path | None = None, log=None) -> dict:
    """Evaluate `checkpoint` on its dataset's `split`; write `confusion.npy` and `per_class.csv` to `out_dir`
    (default: beside the checkpoint, prefixed with its name). Returns the `--json` dict plus the file paths."""
    from arc.data.clips import collate_clips
    from arc.data.loader import make_loader
    from arc.data.registry import build_dataset

    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    checkpoint = Path(checkpoint)
    rt = Runtime.create(device, amp=amp)
    model, state = ckpt.load_model(checkpoint, rt.device)
    cfg, classes = state["config"], state["classes"]
    clips = cfg.get("test_clips", 1) if clips is None else clips
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    root = resolve_data_root(cfg["dataset"], data_root or cfg.get("data_root"), cfg.get("train_list"))
    dataset = build_dataset(cfg["dataset"], root, split, num_segments=cfg["num_segments"], train=False,
                            clips=clips, crops=crops, input_size=cfg["input_size"],
                            list_file=cfg.get("val_list") if split == "val" else cfg.get("train_list"))
    if list(dataset.classes) != list(classes):
        raise ValueError(f"the classes of {cfg['dataset']} at {root} differ from the {len(classes)} "
                         f"classes {checkpoint} was trained on")
    loader, _ = make_loader(dataset, batch_size=batch_size, train=False, seed=0, collate_fn=collate_clips,
                            workers=workers, pin_memory=rt.device.type == "cuda")

    def warn(b):
        if log is not None:
            log(f"warning: skipped unreadable sample {b.path} ({b.reason})")

    s = score(model, loader, len(classes), Context(device=rt.device), amp=rt.amp, on_bad=warn)
    out_dir = checkpoint.parent if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{checkpoint.stem}-{split}"
    confusion_path, csv_path = out_dir / f"{stem}-confusion.npy", out_dir / f"{stem}-per_class.csv"
    np.save(confusion_path, s.confusion)
    write_per_class(csv_path, s.confusion, classes)
    return {"num_classes": len(classes), "top1": s.top1, "top5": s.top5,
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


def predict(path: str | Path, checkpoint: str | Path, *, topk: int = 5, clips: int | None = None, crops: int = 1,
            device: str | None = None) -> list[tuple[str, float]]:
    """The `topk` (class name, probability) pairs for one video file or frame folder, best first."""
    from arc.data.clips import load_clip
    from arc.data.registry import DATASETS

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such video file or frame folder")
    rt = Runtime.create(device, amp="none")
    model, state = ckpt.load_model(checkpoint, rt.device)
    cfg, classes = state["config"], state["classes"]
    clip = load_clip(path, num_segments=cfg["num_segments"], clips=cfg.get("test_clips", 1) if clips is None else clips,
                     crops=crops, input_size=cfg["input_size"], prescale=DATASETS[cfg["dataset"]].prescale)
    with torch.no_grad():
        probs, _ = view_probs(model, clip[None].to(rt.device))
    p, i = probs[0].topk(min(topk, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


def to_json(result: dict) -> str:
    """The machine-readable summary: exactly the `arc eval --json` keys."""
    return json.dumps({k: result[k] for k in JSON_KEYS})
