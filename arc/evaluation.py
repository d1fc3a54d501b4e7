"""After training: evaluate a checkpoint on a split of its dataset, and predict the classes of videos.

    result = evaluate("runs/d48/best.pt", clips=2)            # {"top1": …, "top5": …, "mean_class_acc": …, …}
    evaluate("runs/ssv1/best.pt", split="test", frames=16)    # no labels: per-video scores and a submission file
    predict("dive.mp4", "runs/d48/best.pt")                   # [(class name, probability), …], best first

Evaluation writes, into `out_dir`, the per-video scores of every split (`arc.submission`) and, where the split has
labels, the confusion matrix (`.npy` and a `.png` drawing) and per-class accuracy, each whole or not at all
(`arc.files`). The folder is checked writable before any work (and created only when the first file is written); a
file that cannot be written afterwards does not lose the metrics (it is listed in `failed`, with why).
Scoring itself (views averaged as probabilities, the metrics) is `arc.scoring`, shared with validation in training.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from arc import submission
from arc.data.home import resolve_data_root
from arc.data.registry import SPLITS
from arc.data.sampling import TEST_CROPS
from arc.files import atomic_open, write_with
from arc.nn.choices import check_choice
from arc.runtime.device import Runtime
from arc.scoring import Scores, readable_batches, scores_of, tally, view_probs
from arc.training import checkpoint as ckpt
from arc.training.outdir import check_writable
from arc.viz.confusion import write_confusion_png

JSON_KEYS = ("num_classes", "top1", "top5", "mean_class_acc", "clips", "crops", "videos")
METRICS = ("top1", "top5", "mean_class_acc")


def evaluate(checkpoint: str | Path, *, data_root: str | None = None, split: str = "val", frames: int | None = None,
             clips: int | None = None, crops: int = 1, batch_size: int = 4, workers: int = 0,
             device: str | None = None, amp: str = "auto", out_dir: str | Path | None = None, log=None) -> dict:
    """Score every video of `split` with `clips × crops` views of `frames` frames (default: the checkpoint's);
    write the files to `out_dir` (default: beside the checkpoint), named `<checkpoint stem>-<split>-…`.

    Returns the `--json` keys (accuracies None when the split has no labels) plus `frames`, `split`, `bad`
    (unreadable videos, left out), `files` (name → path written) and `failed` (path → why it was not written)."""
    from arc.data.clips import collate_clips
    from arc.data.loader import make_loader
    from arc.data.registry import build_dataset

    check_choice(split, SPLITS, "--split")
    check_choice(crops, TEST_CROPS, "--crops")
    for name, value in (("--frames", frames), ("--clips", clips)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    checkpoint = Path(checkpoint)
    rt = Runtime.create(device, amp=amp)
    model, state = ckpt.load_model(checkpoint, rt.device)
    out_dir = check_writable(checkpoint.parent if out_dir is None else out_dir, create=False)
    cfg, classes = state["config"], state["classes"]
    frames = cfg["num_segments"] if frames is None else frames
    clips = cfg.get("test_clips", 1) if clips is None else clips
    model.set_num_segments(frames)
    rt.prepare(model)
    root = resolve_data_root(cfg["dataset"], data_root or cfg.get("data_root"), cfg.get("train_list"))
    dataset = build_dataset(cfg["dataset"], root, split, num_segments=frames, train=False, clips=clips, crops=crops,
                            input_size=cfg["input_size"], list_file=_list_file(cfg, split),
                            sampling=cfg.get("sampling", "tsm"))
    if list(dataset.classes) != list(classes):
        raise ValueError(f"the classes of {cfg['dataset']} at {root} differ from the {len(classes)} "
                         f"classes {checkpoint} was trained on")
    loader, _ = make_loader(dataset, batch_size=batch_size, train=False, seed=0, collate_fn=collate_clips,
                            workers=workers, pin_memory=rt.device.type == "cuda")

    def warn(b):
        if log is not None:
            log(f"warning: skipped unreadable sample {b.path} ({b.reason})")

    index, probs, bad = collect(model, loader, rt, on_bad=warn)
    labels = dataset.labels[index]
    ids = [submission.video_id(dataset.records[i].path, root if cfg["dataset"] == "list" else None) for i in index]
    predicted = torch.from_numpy(probs).topk(1, dim=1).indices[:, 0].numpy() if len(index) else index
    labelled = len(labels) > 0 and bool((labels >= 0).all())
    s = scores_from_probs(probs, labels, len(classes), bad) if labelled else None
    result = {"num_classes": len(classes), **{k: None if s is None else getattr(s, k) for k in METRICS},
              "clips": clips, "crops": crops, "videos": len(index),
              "frames": frames, "split": split, "bad": [str(b.path) for b in bad], "files": {}, "failed": {}}
    _write_outputs(out_dir / f"{checkpoint.stem}-{split}", ids, probs, labels, predicted, classes, s, result)
    return result


def _write_outputs(prefix: Path, ids, probs, labels, predicted, classes, s: Scores | None, result: dict) -> None:
    """The files of one evaluation, `<prefix>-…`: scores, predictions, submission, and with labels the confusion
    (matrix, per-class accuracy, image). Each is written whole or not at all; `result["files"]` gets what was
    written, `result["failed"]` what was not and why, so one full disk does not lose the others."""
    writers = {"scores": (f"{prefix}-scores.npz", lambda p: submission.write_scores(p, ids, probs, labels, classes)),
               "predictions": (f"{prefix}-predictions.csv",
                               lambda p: submission.write_predictions(p, ids, probs, labels, predicted, classes)),
               "submission": (f"{prefix}-submission.csv",
                              lambda p: submission.write_submission(p, ids, predicted, classes))}
    if s is not None:
        writers["confusion"] = (f"{prefix}-confusion.npy", lambda p: write_with(p, lambda f: np.save(f, s.confusion)))
        writers["per_class"] = (f"{prefix}-per_class.csv", lambda p: write_per_class(p, s.confusion, classes))
        writers["confusion_image"] = (f"{prefix}-confusion.png",
                                      lambda p: write_confusion_png(p, s.confusion, classes, prefix.name))
    for name, (path, write) in writers.items():
        try:
            write(Path(path))
            result["files"][name] = path
        except OSError as e:      # arc.files' WriteError: names the file, the reason and the free space
            result["failed"][path] = str(e)


def _list_file(cfg: dict, split: str) -> str | None:
    """The list a generic-list dataset reads `split` from: the run's own list, or a `{split}` template."""
    own = {"train": cfg.get("train_list"), "val": cfg.get("val_list")}.get(split)
    if own:
        return own
    return next((f for f in (cfg.get("val_list"), cfg.get("train_list")) if f and "{split}" in f), None)


@torch.no_grad()
def collect(model, loader, rt: Runtime, on_bad=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Run `model` (eval mode) over `loader`: (dataset indices `[N]`, class probabilities averaged over the views of
    each video `[N, C]` float32, unreadable samples), in dataset order. Results stay on the device until the end."""
    model.eval()
    indices, probs, bad = [], [], []
    for clips, _, index in readable_batches(loader, bad, on_bad):
        p, _ = view_probs(model, clips.to(rt.device, non_blocking=True), rt.amp)
        probs.append(p.float())
        indices.append(index)
    if not indices:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), bad
    index = torch.cat(indices).numpy()
    order = np.argsort(index, kind="stable")
    return index[order], torch.cat(probs).cpu().numpy()[order], bad


def scores_from_probs(probs: np.ndarray, labels: np.ndarray, num_classes: int, bad=()) -> Scores:
    """The sums `arc.scoring.Scores` keeps, from per-video probabilities `[N, C]` and labels `[N]` (all known)."""
    p, y = torch.from_numpy(probs).double(), torch.from_numpy(labels)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    sums = tally(p, p.clamp_min(1e-12).log(), y, confusion)
    return scores_of(sums.numpy(), confusion.numpy(), list(bad))


def write_per_class(path: Path, confusion: np.ndarray, classes) -> None:
    """`index,name,videos,correct,accuracy` per class (accuracy empty for a class without videos)."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "name", "videos", "correct", "accuracy"])
        for i, name in enumerate(classes):
            videos, correct = int(confusion[i].sum()), int(confusion[i, i])
            w.writerow([i, name, videos, correct, f"{correct / videos:.6f}" if videos else ""])


def predict_many(paths, checkpoint: str | Path, *, topk: int = 5, frames: int | None = None,
                 clips: int | None = None, crops: int = 1, device: str | None = None, amp: str = "auto",
                 on_error=None) -> Iterator[tuple[Path, list[tuple[str, float]]]]:
    """For each video file or frame folder in `paths`: `(path, the topk (class name, probability) pairs, best
    first)`, the model loaded once. A missing or unreadable video raises `MediaError`, or, with
    `on_error(path, error)`, is reported there and skipped."""
    from arc.data.clips import load_clip
    from arc.data.errors import MediaError
    from arc.data.registry import DATASETS

    paths = [Path(p) for p in paths]
    check_choice(crops, TEST_CROPS, "--crops")
    rt = Runtime.create(device, amp=amp)
    model, state = ckpt.load_model(checkpoint, rt.device)
    cfg, classes = state["config"], state["classes"]
    frames = cfg["num_segments"] if frames is None else frames
    if frames < 1:
        raise ValueError(f"--frames must be >= 1, got {frames}")
    model.set_num_segments(frames)
    rt.prepare(model)
    clips = cfg.get("test_clips", 1) if clips is None else clips
    for path in paths:
        try:
            clip = load_clip(path, num_segments=frames, clips=clips, crops=crops, input_size=cfg["input_size"],
                             prescale=DATASETS[cfg["dataset"]].prescale, sampling=cfg.get("sampling", "tsm"))
        except MediaError as e:
            if on_error is None:
                raise
            on_error(path, e)
            continue
        with torch.no_grad():
            probs, _ = view_probs(model, clip[None].to(rt.device), rt.amp)
        p, i = probs[0].float().topk(min(topk, len(classes)))
        yield path, [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


def predict(path: str | Path, checkpoint: str | Path, *, topk: int = 5, **options) -> list[tuple[str, float]]:
    """The `topk` (class name, probability) pairs for one video file or frame folder, best first (options as
    `predict_many`)."""
    return next(predict_many([path], checkpoint, topk=topk, **options))[1]


def to_json(result: dict) -> str:
    """The machine-readable summary: exactly the `arc eval --json` keys (accuracies null without labels)."""
    return json.dumps({k: result[k] for k in JSON_KEYS})


def prediction_json(path, ranked: list[tuple[str, float]]) -> str:
    """One `arc predict --json` line: `{"video", "classes", "probs"}`, best first."""
    return json.dumps({"video": str(path), "classes": [c for c, _ in ranked], "probs": [p for _, p in ranked]})
