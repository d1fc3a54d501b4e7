"""Training curves of one or more runs from their `metrics.jsonl` (one JSON line per epoch, written by `arc
train`): loss (training solid, validation dashed), validation top-1 and top-5, and the learning rate, per epoch,
several runs overlaid and named.

    fig = plot_curves(["runs/tsn", "runs/tsm", "runs/arc"], names=["TSN", "TSM", "ARC-TSM"])
"""

from __future__ import annotations

import json
from pathlib import Path

from arc.viz.common import VizError, new_figure


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of `run_dir/metrics.jsonl`, by epoch; VizError when the folder has none."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        what = "no such folder" if not run_dir.is_dir() else "no metrics.jsonl in it"
        raise VizError(f"{run_dir}: {what} (expected the --out folder of an `arc train` run)")
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise VizError(f"{path}, line {k}: not a JSON line") from None
    if not rows:
        raise VizError(f"{path} is empty: the run has not finished an epoch yet")
    return sorted(rows, key=lambda r: r["epoch"])


PANELS = (  # (title, y label, [(key, line style, label suffix)], percent)
    ("loss", "cross-entropy", [("train_loss", "-", "train"), ("val_loss", "--", "val")], False),
    ("validation top-1", "top-1 (%)", [("val_top1", "-", "")], True),
    ("validation top-5", "top-5 (%)", [("val_top5", "-", "")], True),
    ("learning rate", "lr (at the epoch's last step)", [("lr", "-", "")], False),
)


def curves_figure(runs: list[tuple[str, list[dict]]]):
    """2×2 panels (loss, top-1, top-5, lr) against the epoch, one colour per run `(name, rows)`."""
    fig = new_figure(10, 6.5)
    axes = fig.subplots(2, 2).ravel()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, (title, ylabel, series, percent) in zip(axes, PANELS, strict=True):
        for (name, rows), colour in zip(runs, colours, strict=True):
            for key, style, suffix in series:
                points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
                if not points:
                    continue
                x, y = zip(*points, strict=True)
                y = [100 * v for v in y] if percent else list(y)
                ax.plot(x, y, style, color=colour, marker="o", markersize=3,
                        label=f"{name} {suffix}".strip())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if percent:
            ax.set_ylim(-2, 102)
        ax.ticklabel_format(axis="y", style="sci" if title == "learning rate" else "plain", scilimits=(-3, 3))
    axes[0].legend(fontsize=8)
    if len(runs) > 1:
        axes[1].legend(fontsize=8)
    return fig


def plot_curves(run_dirs, names=None):
    """The curves of the runs in `run_dirs`, named by `names` (default: the folder names)."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise VizError("give one or more run folders (the --out of `arc train`)")
    names = list(names) if names else [d.name for d in run_dirs]
    if len(names) != len(run_dirs):
        raise VizError(f"{len(names)} names for {len(run_dirs)} run folders: give one name per folder")
    return curves_figure([(n, read_metrics(d)) for n, d in zip(names, run_dirs, strict=True)])
