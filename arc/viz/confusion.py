"""The paper's Fig. 4: confusion sub-matrices of groups of similar classes, baseline beside ARC; and the whole
confusion matrix as an image (for `arc eval` and TensorBoard).

Both read the confusion matrix `arc eval` writes (`<checkpoint>-<split>-confusion.npy`: counts, rows = true class,
columns = predicted), so no second evaluation is needed. A cell shows the fraction of the true class's videos
(its whole row, all classes) predicted as the column's class: a group's rows need not sum to 1, the rest went to
classes outside the group.

Groups. By default, classes whose names share their leading template — the words up to the first "something" that
is not the first word, parentheses dropped — form a group: "Pulling something …", "Tearing something …",
"Pouring something …", "Twisting (wringing) something …". On Something-Something V1 the default groups are the
paper's four (Fig. 4 (a)–(d); "Pulling two ends of something …" is a group of its own, shown in Fig. 1);
elsewhere every template shared by two or more classes, largest first (at most `max_groups`). A groups file
overrides: one group a line, members separated by `;`, each a class name or index; `#` starts a comment.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np

from arc.scoring import row_normalised
from arc.viz.common import VizError, new_figure, suptitle

PAPER_GROUPS = ("Pulling something", "Tearing something", "Pouring something", "Twisting something")
_PARENS = re.compile(r"\s*\([^)]*\)")


# -- groups --------------------------------------------------------------------------------------------------


def template(name: str) -> str:
    """The leading template of a class name: words up to the first 'something' that is not the first word
    (parentheses dropped); the whole name when there is none."""
    words = _PARENS.sub("", name).split()
    for k, word in enumerate(words[1:], 1):
        if word.lower().strip(",") == "something":
            return " ".join(words[: k + 1]).rstrip(",")
    return " ".join(words)


def template_groups(classes: list[str]) -> dict[str, list[int]]:
    """Template → indices of its classes, for templates shared by two or more classes (first seen first)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(classes):
        groups.setdefault(template(name), []).append(i)
    return {t: idx for t, idx in groups.items() if len(idx) >= 2}


def default_groups(classes: list[str], max_groups: int = 4) -> list[tuple[str, list[int]]]:
    """The paper's four groups when all are present (SSv1); else the shared templates, largest first."""
    groups = template_groups(classes)
    if all(t in groups for t in PAPER_GROUPS):
        return [(t, groups[t]) for t in PAPER_GROUPS]
    ranked = sorted(groups.items(), key=lambda item: -len(item[1]))[:max_groups]
    if not ranked:
        raise VizError("no two class names share a leading template, so there are no default groups: give "
                       "--groups FILE (one group a line, class names or indices separated by ';')")
    return ranked


def read_groups(path: str | Path, classes: list[str]) -> list[tuple[str, list[int]]]:
    """Groups from a file: one a line, members (class names or indices) separated by `;`, `#` comments."""
    path = Path(path)
    groups = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        members = []
        for item in (m.strip() for m in line.split(";")):
            if not item:
                continue
            if item.isdigit():
                if int(item) >= len(classes):
                    raise VizError(f"{path}, line {k}: class {item} is out of range: there are {len(classes)} "
                                   f"classes, 0 to {len(classes) - 1}")
                members.append(int(item))
            elif item in classes:
                members.append(classes.index(item))
            else:
                near = difflib.get_close_matches(item, classes, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise VizError(f"{path}, line {k}: {item!r} is not a class name{hint}")
        repeated = sorted({classes[i] for i in members if members.count(i) > 1})
        if repeated:
            raise VizError(f"{path}, line {k}: the group names {repeated[0]!r} twice")
        if len(members) < 2:
            raise VizError(f"{path}, line {k}: a group needs two or more classes, got {len(members)}")
        groups.append((_common_prefix([classes[i] for i in members]), members))
    if not groups:
        raise VizError(f"{path}: no groups (expected one group a line, members separated by ';')")
    return groups


def _common_prefix(names: list[str]) -> str:
    words = [n.split() for n in names]
    common = []
    for column in zip(*words, strict=False):
        if len(set(column)) > 1:
            break
        common.append(column[0])
    return " ".join(common) or f"{len(names)} classes"


def short_name(name: str, group_title: str) -> str:
    """A class name without its group's shared words: `… so that it gets stretched`."""
    if group_title and name.startswith(group_title) and name != group_title:
        return "…" + name[len(group_title):]
    return name


# -- matrices ------------------------------------------------------------------------------------------------


def load_confusion(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """A square confusion matrix from an `.npy`; VizError when it is missing or of the wrong size."""
    path = Path(path)
    if not path.is_file():
        raise VizError(f"{path} does not exist")
    m = np.load(path)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise VizError(f"{path}: expected a square [classes, classes] matrix, got shape {list(m.shape)}")
    if num_classes is not None and m.shape[0] != num_classes:
        raise VizError(f"{path} is {m.shape[0]}×{m.shape[0]} but the model has {num_classes} classes")
    return m


def group_matrix(confusion: np.ndarray, members: list[int]) -> np.ndarray:
    """The rows and columns `members` of the row-normalised matrix: `[g, g]`."""
    idx = np.asarray(members)
    return row_normalised(confusion)[np.ix_(idx, idx)]


# -- figures -------------------------------------------------------------------------------------------------


def groups_figure(models: list[tuple[str, np.ndarray]], classes: list[str], groups: list[tuple[str, list[int]]],
                  title: str = ""):
    """Rows = groups, columns = models `(label, confusion counts)`; each panel the group's sub-matrix, the
    percentage written in each cell; one 0–1 colour scale for the figure."""
    rows, cols = len(groups), len(models)
    size = max(len(m) for _, m in groups)
    cell = 0.55 if size <= 6 else 0.35
    label_room = 0.075 * max(len(short_name(classes[i], t)) for t, m in groups for i in m)
    fig = new_figure(max(6.0, cols * (size * cell + 0.6) + label_room + 1.4),
                     rows * (size * cell + label_room * 0.6 + 0.9) + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for r, (group_title, members) in enumerate(groups):
        names = [short_name(classes[i], group_title) for i in members]
        for c, (label, confusion) in enumerate(models):
            ax = axes[r, c]
            sub = group_matrix(confusion, members)
            im = ax.imshow(sub, cmap="Blues", vmin=0, vmax=1)
            for (i, j), v in np.ndenumerate(sub):
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 else "black")
            ax.set_xticks(range(len(members)), names, rotation=40, ha="right", fontsize=7)
            ax.set_yticks(range(len(members)), names if c == 0 else [""] * len(members), fontsize=7)
            ax.set_title(f"{label}\n{group_title} …" if r == 0 else f"{group_title} …", fontsize=9)
            if c == 0:
                ax.set_ylabel("true class", fontsize=8)
            ax.set_xlabel("predicted class", fontsize=8)
    fig.colorbar(im, ax=axes, label="fraction of the true class's videos (cells: %)", fraction=0.03, pad=0.02)
    if title:
        suptitle(fig, title, 10)
    return fig


def confusion_figure(confusion: np.ndarray, classes: list[str] | None = None, title: str = ""):
    """The whole matrix, row-normalised, with a colour bar; class names on the axes when there are at most 40."""
    k = len(confusion)
    named = classes is not None and k <= 40
    side = min(12.0, 3.0 + 0.28 * k)
    room = 0.065 * max((len(c) for c in classes), default=0) if named else 0.3
    fig = new_figure(side + room + 1.2, side + room * 0.7)
    ax = fig.subplots()
    fraction = row_normalised(confusion)
    im = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if named:
        ax.set_xticks(range(k), classes, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(k), classes, fontsize=7)
        if k <= 12:
            for (i, j), v in np.ndenumerate(confusion):
                if v:
                    ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                            color="white" if fraction[i, j] > 0.6 else "black")
    ax.set_xlabel("predicted class" + ("" if named else " (index)"))
    ax.set_ylabel("true class" + ("" if named else " (index)"))
    fig.colorbar(im, ax=ax, label="fraction of the true class's videos" + (" (cells: counts)" if named and k <= 12
                                                                           else ""), fraction=0.04, pad=0.02)
    ax.set_title(title or f"confusion matrix, {int(confusion.sum())} videos", fontsize=10)
    return fig


def _classes_from_csv(npy: Path) -> list[str] | None:
    """Class names from the per-class CSV `arc eval` writes beside the `.npy` (same prefix), when present."""
    import csv

    path = npy.with_name(npy.name.replace("-confusion.npy", "-per_class.csv"))
    if not path.is_file() or path == npy:
        return None
    with open(path, newline="") as f:
        return [row["name"] for row in csv.DictReader(f)]


def save_confusion_png(npy: str | Path, classes: list[str] | None = None, out: str | Path | None = None) -> Path:
    """Draw the confusion matrix in `npy` (`arc eval`'s) to `out` (default: the same name, `.png`); class names
    from `classes` or from the per-class CSV beside it. Returns the image's path."""
    npy = Path(npy)
    confusion = load_confusion(npy)
    classes = classes if classes is not None else _classes_from_csv(npy)
    return write_confusion_png(npy.with_suffix(".png") if out is None else out, confusion, classes, npy.stem)


def write_confusion_png(path: str | Path, confusion: np.ndarray, classes: list[str] | None, name: str) -> Path:
    """`confusion_figure` written to `path` (format by suffix); the title is `name` and the number of videos."""
    from arc.viz.common import save

    confusion = np.asarray(confusion)
    return save(confusion_figure(confusion, classes, f"{name}: {int(confusion.sum())} videos"), path)


def confusion_path(checkpoint: str | Path, split: str = "val") -> Path:
    """Where `arc eval` wrote the confusion matrix of `checkpoint` on `split`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}-{split}-confusion.npy")


def plot_groups(checkpoint: str | Path, *, baseline=None, groups_file=None, split: str = "val",
           max_groups: int = 4):
    """Fig. 4 for a checkpoint (and a `baseline`): group sub-matrices from the confusion matrices `arc eval`
    wrote beside them."""
    from arc.training.checkpoint import load
    from arc.viz.common import model_label

    models, classes = [], None
    for path in ([baseline] if baseline is not None else []) + [checkpoint]:
        state = load(path)
        if classes is not None and list(state["classes"]) != classes:
            raise VizError(f"{baseline} and {checkpoint} were trained on different classes")
        classes = list(state["classes"])
        npy = confusion_path(path, split)
        if not npy.is_file():
            raise VizError(f"no confusion matrix {npy.name} beside {path}: run `arc eval --checkpoint {path}"
                           f"{'' if split == 'val' else f' --split {split}'}` first")
        models.append((model_label(state), load_confusion(npy, len(classes))))
    chosen = read_groups(groups_file, classes) if groups_file else default_groups(classes, max_groups)
    return groups_figure(models, classes, chosen, f"confusion within groups of similar classes ({split} split)")
