"""`arc bench accuracy`: the accuracy table of TSN, TSM, ARC-TSM, MSN and ARC-MSN on a synthetic preset, over seeds
(docs/results.md) — the paper's Table 2 in miniature.

    table = accuracy_table("runs/bench-fine", preset="fine", models=("tsn", "tsm", "arc"), seeds=3)

Every (model, seed) is one run of `arc train` on the preset's cached dataset with the dataset's recipe, in its own
process with one torch thread and the data read in that process (`workers=0`), `jobs` runs at a time, in the
channels-last memory format (the same function; on the CPU the ARC layers run 1.3-1.4x faster in it at these sizes,
the others as fast). A run is
scored on the validation split with its *last* checkpoint (`arc eval`: top-1, mean class accuracy, per class,
confusion), not with the epoch that scored best on that same split, and its CPU time (user + system of its process)
is recorded beside its wall time: on a shared machine the wall time says little.

Resumable: `OUT/runs/<model>-seed<k>/` holds each run; a finished run (its `result.json`) is never run again, an
interrupted one continues from its `last.pt`. A run folder whose settings differ from those asked for is an error,
not a silent re-run. After every finished run `OUT/accuracy.csv` (one row per run), `OUT/accuracy.json` (the runs,
per model mean ± standard deviation over seeds, the dataset and recipe) and `OUT/accuracy.png` (bar chart with error
bars) are rewritten.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from arc.files import write_text, write_with
from arc.training.stop import SIGNALS, Interrupted, StopRequest


@dataclass(frozen=True)
class Model:
    """A row of the table: its label and the `TrainConfig` fields that make it."""

    label: str
    options: dict


MODELS: dict[str, Model] = {
    "tsn": Model("TSN", dict(n=1, shift=False)),
    "tsm": Model("TSM", dict(n=1)),
    "arc": Model("ARC-TSM", dict(n=4)),
    "msn": Model("MSN", dict(n=1, motion="ms")),
    "arc-msn": Model("ARC-MSN", dict(n=4, motion="ms")),
}
RESULT = "result.json"
SPEC = "spec.json"


@dataclass(frozen=True)
class Run:
    """One (model, seed) of the table and the `TrainConfig` fields it trains with."""

    model: str
    seed: int
    config: dict

    @property
    def name(self) -> str:
        return f"{self.model}-seed{self.seed}"


def parse_models(text) -> tuple[str, ...]:
    """`"tsn,tsm,arc"` (or a sequence) → names of `MODELS`, in the order given; ValueError naming a bad one."""
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    bad = [m for m in names if m not in MODELS]
    if bad or not names:
        raise ValueError(f"models {bad[0] if bad else text!r}: expected a comma list of {', '.join(MODELS)}")
    return tuple(dict.fromkeys(names))


def plan(preset: str, models, seeds: int, data_root: Path, *, threads: int = 1, overrides: dict | None = None,
         ) -> list[Run]:
    """The runs of the table, seed by seed (every model of seed 0 first, so a partial table is balanced)."""
    from arc.data.synth import get_preset

    dataset = get_preset(preset).dataset
    runs = []
    for seed in range(seeds):
        for m in parse_models(models):
            config = dict(dataset=dataset, data_root=str(data_root), backbone="r18", **MODELS[m].options,
                          **(overrides or {}), seed=seed, device="cpu", threads=threads, workers=0,
                          channels_last=True, progress=False)
            runs.append(Run(m, seed, config))
    return runs


def dataset_root(preset: str, data_root=None, cache_dir=None) -> Path:
    """The preset's dataset: `data_root` (written by `arc data synth --preset …`), or its cached default set
    (written when missing)."""
    from arc.data.home import resolve_data_root
    from arc.data.synth import ensure_synthetic, get_preset

    if data_root is None:
        return ensure_synthetic(cache_dir, seed=0, preset=preset)
    return resolve_data_root(get_preset(preset).dataset, str(data_root)).resolve()


# -- the table -----------------------------------------------------------------------------------------------


def accuracy_table(out, *, preset: str = "fine", models=tuple(MODELS), seeds: int = 3, data_root=None,
                   jobs: int = 2, threads: int = 1, overrides: dict | None = None, cache_dir=None,
                   on_event: Callable | None = None, poll: float = 2.0) -> dict:
    """Run every (model, seed) not yet finished in `out`, `jobs` at a time, and write the table (see the module).

    `overrides`: `TrainConfig` fields that replace the recipe's (`epochs`, `batch_size`, …) — for trials; the
    protocol of docs/results.md uses none. `on_event(kind, run, info)` is told of each run that is `"skipped"`
    (finished before), `"started"`, at an `"epoch"` (info: (done, total)), `"done"` (info: its row) or
    `"failed"` (info: the reason). Returns the table (`accuracy.json`'s content); a run that failed is left out of
    it and listed under `"failed"`. SIGINT or SIGTERM stop the runs in progress (each saves its `last.pt`, from
    which the next call continues) and raise `Interrupted`."""
    if seeds < 1 or jobs < 1 or threads < 1:
        raise ValueError(f"seeds, jobs and threads must be >= 1, got {seeds}, {jobs}, {threads}")
    out = Path(out)
    emit = on_event or (lambda *_: None)
    root = dataset_root(preset, data_root, cache_dir)
    runs = plan(preset, models, seeds, root, threads=threads, overrides=overrides)
    pending = _unfinished(out, runs, emit)
    costs = {m: model_cost(runs[0].config["dataset"], m, overrides) for m in parse_models(models)}
    failed = {}
    running: dict[str, tuple[Run, subprocess.Popen, int]] = {}
    with StopRequest() as stop:
        while (pending and not stop.requested) or running:
            while pending and len(running) < jobs and not stop.requested:
                run = pending.pop(0)
                running[run.name] = (run, _start(out / "runs" / run.name, run), 0)
                emit("started", run, None)
            time.sleep(poll)
            for name, (run, proc, seen) in list(running.items()):
                if stop.requested and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)   # the run saves its last.pt at this step and stops
                folder = out / "runs" / name
                done = _epochs_done(folder)
                if done != seen:
                    running[name] = (run, proc, done)
                    emit("epoch", run, (done, _epochs_of(run)))
                if proc.poll() is None:
                    continue
                del running[name]
                result = _read_json(folder / RESULT)
                if proc.returncode == 0 and result is not None:
                    table = write_table(out, preset, runs, costs)
                    emit("done", run, next(r for r in table["runs"] if r["run"] == name))
                elif not stop.requested:
                    failed[name] = f"exit code {proc.returncode}; see {folder / 'log.txt'}: {_last_line(folder)}"
                    emit("failed", run, failed[name])
        if stop.requested:
            raise Interrupted(stop.signum, f"stopped by {SIGNALS.get(stop.signum, stop.signum)}: the runs that were "
                                           f"running saved their last.pt; run the same command again to go on")
    table = write_table(out, preset, runs, costs)
    table["failed"] = failed
    return table


def _unfinished(out: Path, runs: list[Run], emit: Callable) -> list[Run]:
    """The runs without a result in `out` (the others are `"skipped"`); a folder holding a run with other settings
    is an error, not a silent re-run."""
    pending = []
    for run in runs:
        folder = out / "runs" / run.name
        saved = _read_json(folder / SPEC)
        if saved is not None and saved["config"] != run.config:
            raise ValueError(f"{folder} holds a run with other settings ({_difference(saved['config'], run.config)});"
                             f" give another --out, or remove that folder to run it again")
        if (folder / RESULT).is_file():
            emit("skipped", run, None)
        else:
            pending.append(run)
    return pending


def _start(folder: Path, run: Run) -> subprocess.Popen:
    """`python -m arc.bench.accuracy FOLDER` with one thread for every library, logging to FOLDER/log.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / SPEC, json.dumps({"model": run.model, "seed": run.seed, "config": run.config}, indent=1))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    with open(folder / "log.txt", "a") as log:
        return subprocess.Popen([sys.executable, "-m", "arc.bench.accuracy", str(folder)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _difference(a: dict, b: dict) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} asked" for k in keys)


def _epochs_done(folder: Path) -> int:
    from arc.viz.common import VizError
    from arc.viz.curves import read_metrics

    try:
        return len(read_metrics(folder / "train"))
    except VizError:
        return 0


def _epochs_of(run: Run) -> int:
    from arc.training.recipes import RECIPES

    return run.config.get("epochs") or RECIPES[run.config["dataset"]].epochs


def _last_line(folder: Path) -> str:
    try:
        lines = [line for line in (folder / "log.txt").read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def model_cost(dataset: str, model: str, overrides: dict | None = None) -> dict:
    """Parameters and forward multiply-adds of one clip of `model` as the table trains it on `dataset`."""
    from arc.data.registry import DATASETS
    from arc.overhead import model_cost as cost
    from arc.training.config import TrainConfig

    cfg, _ = TrainConfig(dataset=dataset, backbone="r18", **MODELS[model].options, **(overrides or {})).resolve()
    return cost(cfg.model_kwargs(DATASETS[dataset].num_classes), cfg.input_size)


# -- one run (in its own process) ----------------------------------------------------------------------------


def run_one(folder) -> dict:
    """Train the run described by `folder/spec.json` (continuing from its `last.pt` if there is one), score its
    last checkpoint on the validation split and write `folder/result.json`; returns it."""
    import torch

    from arc.evaluation import evaluate
    from arc.scoring import row_normalised
    from arc.training.config import TrainConfig
    from arc.training.loop import train
    from arc.viz.curves import read_metrics

    start = time.perf_counter()
    folder = Path(folder)
    spec = json.loads((folder / SPEC).read_text())
    train_dir = folder / "train"
    last = train_dir / "last.pt"
    resumed = last.is_file()
    if _epochs_done(folder) < _epochs_of(Run(spec["model"], spec["seed"], spec["config"])):
        train(TrainConfig(**{**spec["config"], "out": str(train_dir), "resume": str(last) if resumed else None}))
    scores = evaluate(last, workers=0, device="cpu", amp="none")
    confusion = np.load(scores["files"]["confusion"])
    metrics = read_metrics(train_dir)
    best = max(metrics, key=lambda r: r["val_top1"])
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    result = {
        "model": spec["model"], "seed": spec["seed"], "top1": scores["top1"], "top5": scores["top5"],
        "mean_class_acc": scores["mean_class_acc"], "videos": scores["videos"],
        "per_class": np.diag(row_normalised(confusion)).tolist(),
        "confusion": confusion.astype(int).tolist(), "epochs": metrics[-1]["epoch"],
        "final_train_loss": metrics[-1]["train_loss"], "best_val_top1": best["val_top1"],
        "best_epoch": best["epoch"], "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
        "wall_s": time.perf_counter() - start, "resumed": resumed, "threads": spec["config"]["threads"],
        "torch": torch.__version__, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_text(folder / RESULT, json.dumps(result, indent=1) + "\n")
    return result


# -- the table's files ---------------------------------------------------------------------------------------


COLUMNS = ("run", "model", "label", "seed", "top1", "mean_class_acc", "top5", "best_val_top1", "best_epoch",
           "epochs", "params", "macs", "cpu_s", "wall_s", "resumed")


def summarise(rows: list[dict]) -> dict:
    """Per model: the runs' mean and sample standard deviation (ddof 1; 0 for one run) of top-1 and mean class
    accuracy, and the mean of each class's accuracy."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        entry = {"label": mine[0]["label"], "runs": len(mine), "seeds": [r["seed"] for r in mine],
                 "params": mine[0]["params"], "macs": mine[0]["macs"]}
        for key in ("top1", "mean_class_acc", "cpu_s", "wall_s"):
            values = np.array([r[key] for r in mine], dtype=np.float64)
            entry[f"{key}_mean"] = float(values.mean())
            entry[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        entry["per_class_mean"] = np.mean([r["per_class"] for r in mine], axis=0).tolist()
        out[model] = entry
    return out


def write_table(out: Path, preset: str, runs: list[Run], costs: dict) -> dict:
    """`accuracy.csv`, `accuracy.json` and `accuracy.png` from the finished runs in `out` (in the order planned)."""
    from arc.data.synth import get_preset, read_manifest
    from arc.training.recipes import RECIPES

    rows = []
    for run in runs:
        result = _read_json(out / "runs" / run.name / RESULT)
        if result is not None:
            rows.append({"run": run.name, "label": MODELS[run.model].label, **costs[run.model], **result})
    p = get_preset(preset)
    dataset = runs[0].config["dataset"]
    overrides = {k: v for k, v in runs[0].config.items() if k in RECIPES[dataset].__dataclass_fields__}
    table = {"preset": p.name, "dataset": dataset, "version": p.version, "classes": list(p.classes),
             "data": read_manifest(runs[0].config["data_root"]), "recipe": {**vars(RECIPES[dataset]), **overrides},
             "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                         "python": platform.python_version()},
             "models": summarise(rows), "runs": rows}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "accuracy.csv", buffer.getvalue())
    write_text(out / "accuracy.json", json.dumps(table, indent=1) + "\n")
    if rows:
        fig = chart(table)
        write_with(out / "accuracy.png", lambda f: fig.savefig(f, format="png", dpi=fig.dpi))
    return table


def chart(table: dict):
    """Bars of top-1 and mean class accuracy per model (mean over seeds, error bars ± one standard deviation), each
    run a dot, chance as a dashed line."""
    from arc.viz.common import new_figure

    models = table["models"]
    fig = new_figure(1.2 + 1.1 * len(models), 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(models))
    for k, (key, name) in enumerate((("top1", "top-1"), ("mean_class_acc", "mean class accuracy"))):
        pos = x + (k - 0.5) * 0.38
        means = [100 * m[f"{key}_mean"] for m in models.values()]
        stds = [100 * m[f"{key}_std"] for m in models.values()]
        ax.bar(pos, means, 0.36, yerr=stds, capsize=3, label=name, color=("#4c72b0", "#dd8452")[k])
        for i, model in enumerate(models):
            dots = [100 * r[key] for r in table["runs"] if r["model"] == model]
            ax.plot([pos[i]] * len(dots), dots, "k.", markersize=3)
    ax.axhline(100 / len(table["classes"]), color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(x, [m["label"] for m in models.values()])
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(0, 100)
    seeds = max(m["runs"] for m in models.values())
    ax.set_title(f"synthetic preset '{table['preset']}' v{table['version']}, R18, mean ± sd over {seeds} seed(s)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    return fig


if __name__ == "__main__":
    try:
        run_one(sys.argv[1])
    except Interrupted as e:
        print(e, file=sys.stderr)
        sys.exit(e.exit_code)
