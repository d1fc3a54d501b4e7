"""What `arc eval` writes per video, for any split (the test split has no labels): the class probabilities with the
video ids (`.npz`), a generic CSV, and the top-1 class of each video in the Something-Something V1 server's form.

    PREFIX-scores.npz       ids [N] str, probs [N, C] float32 (softmax averaged over the views), labels [N] int64
                            (-1: unknown), classes [C] str — `np.load(path)`, no pickle
    PREFIX-predictions.csv  id,label,label_name,predicted,predicted_name,probability (label empty when unknown)
    PREFIX-submission.csv   <id>;<class name> per video — the layout of the SSv1 validation CSV, which its
                            benchmark server takes for the test set

Rows are in the order of the split's index file; unreadable videos are left out (the caller reports them). Each file
is written whole or not at all (`arc.files`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from arc.data.video import VIDEO_SUFFIXES
from arc.files import atomic_open


def video_id(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """The id a benchmark knows a video by: a frame folder's name (SSv1 `12345`), a video file's name without its
    suffix (Diving48 `vid_name`, Kinetics `<youtube_id>_<start>_<end>`). With `root` (generic lists), the path
    relative to it, as the list writes it."""
    path = Path(path)
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()
    return path.stem if path.suffix.lower() in VIDEO_SUFFIXES else path.name


def write_scores(path: Path, ids, probs: np.ndarray, labels: np.ndarray, classes) -> None:
    """`ids`, `probs`, `labels`, `classes` as plain arrays in one `.npz` (readable without `allow_pickle`)."""
    with atomic_open(path, "wb") as f:
        np.savez(f, ids=np.asarray(ids, dtype=str), probs=probs.astype(np.float32),
                 labels=labels.astype(np.int64), classes=np.asarray(classes, dtype=str))


def write_predictions(path: Path, ids, probs: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                      classes) -> None:
    """One CSV row per video: its id, true label (index and name; empty when unknown), the predicted (top-1)
    class and its probability."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "label_name", "predicted", "predicted_name", "probability"])
        for vid, p, y, k in zip(ids, probs, labels.tolist(), predicted.tolist(), strict=True):
            w.writerow([vid, *([y, classes[y]] if y >= 0 else ["", ""]), k, classes[k], f"{p[k]:.6f}"])


def write_submission(path: Path, ids, predicted: np.ndarray, classes) -> None:
    """`<id>;<class name>` lines, the predicted (top-1) class of each video (the SSv1 submission form)."""
    with atomic_open(path, "w") as f:
        f.writelines(f"{vid};{classes[k]}\n" for vid, k in zip(ids, predicted.tolist(), strict=True))
