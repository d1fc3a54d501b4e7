"""`arc bench`: benchmarks that print their figures — the ARC layer, the NumPy reference, training throughput, training
memory."""

from __future__ import annotations

import json

import click

from arc.cli.errors import OneLineError
from arc.cli.options import device_option
from arc.cli.table import print_rows
from arc.nn.choices import BACKBONES, IMPLS, POOLS
from arc.runtime import AMP_MODES

IMPL = click.option("--impl", "impls", type=click.Choice(IMPLS), multiple=True,
                    help="ARC implementation(s): lean (the default layer) and/or autograd (its definition); "
                         "repeatable.  [default: all]")


def _emit(rows: list[dict], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(rows))
    else:
        print_rows(rows, title)


@click.group("bench")
def bench():
    """Benchmarks that print their figures: rows with a median time and a ratio to the baseline, and the accuracy
    table of docs/results.md."""


@bench.command("layer")
@click.option("--repeats", type=int, default=50, show_default=True, help="Timed runs of each layer (median taken).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs first.")
@click.option("--threads", type=int, default=None, help="torch intra-op threads (CPU).  [default: torch's]")
@device_option("cpu", "cpu, cuda or cuda:N (timed with CUDA events on that device), or auto.")
@click.option("--n", "n", type=int, default=4, show_default=True, help="ARC recursive steps.")
@click.option("--pool", type=click.Choice(POOLS), default="max", show_default=True,
              help="ARC pooling: max (the paper) or mean (the authors' released code).")
@IMPL
@click.option("--channels-last", is_flag=True, help="Input and layers in channels-last memory format.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def layer(repeats, warmup, threads, device, n, pool, impls, channels_last, as_json):
    """Forward+backward of ARCConv2d vs the plain 3×3 conv it wraps: C=256, 14×14, T=8, N=2 clips; time and the
    elements kept for the backward."""
    from arc.bench.layer import time_layer

    if threads is not None and threads < 1:
        raise OneLineError(f"--threads must be >= 1, got {threads}")
    try:
        rows = time_layer(repeats=repeats, warmup=warmup, threads=threads, device=device, n=n, pool=pool,
                          impls=impls or IMPLS, channels_last=channels_last)
    except ValueError as e:
        raise OneLineError(f"arc bench layer: {e}") from None
    _emit(rows, as_json, f"ARC layer vs plain conv, forward+backward, C=256 14×14 T=8 N=2 on {device}"
                         f"{', channels-last' if channels_last else ''}, median of {repeats} (ms); memory kept for "
                         "the backward (elements)")


@bench.command("reference")
@click.option("--repeats", type=int, default=10, show_default=True, help="Timed runs (median taken).")
@click.option("--threads", type=int, default=None, help="Threads for numba / torch.  [default: theirs]")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def reference(repeats, threads, as_json):
    """The NumPy reference (plain and numba) against the PyTorch layer."""
    from arc.bench.reference import time_reference

    try:
        rows = time_reference(repeats=repeats, threads=threads)
    except ValueError as e:
        raise OneLineError(f"arc bench reference: {e}") from None
    _emit(rows, as_json, f"NumPy reference vs PyTorch, median of {repeats} (ms)")


@bench.command("train")
@click.option("--size", "sizes", type=int, multiple=True, help="Input size in pixels (repeatable).  "
              "[default: 224 and the synthetic demo's size]")
@click.option("--frames", type=int, default=8, show_default=True, help="Frames per clip.")
@click.option("--batch-size", type=int, default=2, show_default=True, help="Clips per step.")
@click.option("--steps", type=int, default=5, show_default=True, help="Timed training steps per model.")
@click.option("--warmup", type=int, default=1, show_default=True, help="Untimed steps first.")
@device_option("cpu", "cpu, cuda, cuda:N or auto.")
@click.option("--amp", type=click.Choice(AMP_MODES), default="none", show_default=True,
              help="Mixed precision (auto: bf16 on GPUs that compute it natively, fp16 on older ones, none on CPU).")
@click.option("--threads", type=int, default=None, help="torch intra-op threads (CPU).")
@click.option("--no-loader", is_flag=True, help="Skip the data-loader row.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the models first.")
@IMPL
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def train(sizes, frames, batch_size, steps, warmup, device, amp, threads, no_loader, compile_, impls, as_json):
    """Training throughput (clips/s) of TSM-R18 vs ARC-TSM-R18, and whether data loading keeps up."""
    from arc.bench.train import time_training

    counts = [("--frames", frames), ("--batch-size", batch_size), ("--steps", steps),
              ("--threads", 1 if threads is None else threads), *(("--size", size) for size in sizes)]
    bad = [f"{flag} {value}" for flag, value in counts if value < 1] + ([f"--warmup {warmup}"] if warmup < 0 else [])
    if bad:
        raise OneLineError(f"arc bench train: {', '.join(bad)}: sizes, counts and threads must be >= 1, warm-up >= 0")
    kwargs = dict(frames=frames, batch_size=batch_size, steps=steps, warmup=warmup, device=device, amp=amp,
                  threads=threads, loader=not no_loader, compile=compile_, impls=impls or IMPLS,
                  log=None if as_json else (lambda line: click.echo(line, err=True)))
    if sizes:
        kwargs["sizes"] = sizes
    try:
        rows = time_training(**kwargs)
    except ValueError as e:
        raise OneLineError(f"arc bench train: {e}") from None
    _emit(rows, as_json, f"Training throughput on {device}, {frames} frames, batch {batch_size}")


@bench.command("memory")
@click.option("--backbone", "backbones", type=click.Choice(list(BACKBONES)), multiple=True,
              help="Repeatable.  [default: r18 and r50]")
@IMPL
@click.option("--size", type=int, default=224, show_default=True, help="Frame size in pixels.")
@click.option("--frames", type=int, default=8, show_default=True, help="Frames per clip.")
@click.option("--batch-size", type=int, default=2, show_default=True, help="Clips per step.")
@click.option("--steps", type=int, default=2, show_default=True, help="Training steps per model.")
@device_option("cpu", "cpu (peak resident memory), cuda or cuda:N (torch.cuda.max_memory_allocated), or auto.")
@click.option("--budget", default=None, help="Memory budget, e.g. 16GiB or 500MB: report the largest batch that fits.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch intra-op threads (CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def memory(backbones, impls, size, frames, batch_size, steps, device, budget, threads, as_json):
    """Peak memory of a few training steps of TSM vs ARC-TSM, per clip, and the largest batch under --budget."""
    from arc.bench.memory import parse_bytes, peak_memory

    if threads < 1:
        raise OneLineError(f"--threads must be >= 1, got {threads}")
    try:
        limit = None if budget is None else parse_bytes(budget)
        rows = peak_memory(**({"backbones": backbones} if backbones else {}), impls=impls or IMPLS, size=size,
                           frames=frames, batch=batch_size, steps=steps, device=device, budget=limit, threads=threads,
                           log=None if as_json else (lambda line: click.echo(line, err=True)))
    except ValueError as e:
        raise OneLineError(f"arc bench memory: {e}") from None
    _emit(rows, as_json, f"Training memory on {device}, {frames} frames at {size}px, batch {batch_size}, "
                         f"{steps} steps (bytes){'' if budget is None else f'; budget {budget}'}")


@bench.command("accuracy")
@click.option("--preset", default="fine", show_default=True,
              help="Synthetic family (arc data synth --preset): fine (the fine-grained benchmark) or order (make "
                   "demo's set).")
@click.option("--models", default="tsn,tsm,arc,msn,arc-msn", show_default=True,
              help="Comma list of tsn, tsm, arc (ARC-TSM, n=4), msn, arc-msn.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per model, with training seeds 0, 1, …")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder of the runs and the table [default: runs/bench-accuracy-PRESET]; rerun to resume.")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Runs at a time.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads per run.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="The preset's dataset, written by arc data synth --preset PRESET [default: its cached set, "
                   "written when missing].")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs per run instead of the recipe's (a trial; docs/results.md uses the recipe's).")
def accuracy(preset, models, seeds, out, jobs, threads, data_root, epochs):
    """Train every model with every seed on a synthetic preset (two runs at a time, one thread each), score each
    last checkpoint on the validation split, and write OUT/accuracy.csv, accuracy.json and accuracy.png (mean ± sd
    over seeds). Finished runs are kept: run it again to resume (Ctrl-C or SIGTERM: the runs in progress save
    their last.pt first)."""
    from arc.bench.accuracy import accuracy_table, parse_models
    from arc.cli.errors import one_line
    from arc.data.synth import get_preset
    from arc.training.stop import Interrupted

    for flag, check, value in (("--preset", get_preset, preset), ("--models", parse_models, models)):
        try:
            check(value)
        except ValueError as e:
            raise OneLineError(f"{flag}: {e}") from None
    names = parse_models(models)
    out = out or f"runs/bench-accuracy-{preset}"
    progress = _RunProgress(len(names) * seeds)
    try:
        with progress:
            table = accuracy_table(out, preset=preset, models=names, seeds=seeds, data_root=data_root, jobs=jobs,
                                   threads=threads, overrides={"epochs": epochs} if epochs else None,
                                   on_event=progress)
    except (OSError, ValueError) as e:
        raise OneLineError(f"arc bench accuracy: {one_line(e)}") from None
    except Interrupted as e:
        click.echo(str(e), err=True)
        raise SystemExit(e.exit_code) from None
    rows = [{"model": m["label"], "runs": m["runs"],
             "top-1 %": f"{100 * m['top1_mean']:.1f} ± {100 * m['top1_std']:.1f}",
             "mean class acc %": f"{100 * m['mean_class_acc_mean']:.1f} ± {100 * m['mean_class_acc_std']:.1f}",
             "params (M)": round(m["params"] / 1e6, 2), "multiply-adds (G)": round(m["macs"] / 1e9, 3),
             "CPU min/run": round(m["cpu_s_mean"] / 60, 1)} for m in table["models"].values()]
    print_rows(rows, f"{table['dataset']} v{table['version']}: validation accuracy of the last checkpoint, "
                     f"mean ± sd over seeds")
    click.echo(f"wrote {out}/accuracy.csv, accuracy.json, accuracy.png")
    for name, why in table["failed"].items():
        click.echo(f"failed: {name}: {why}", err=True)
    if table["failed"]:
        raise SystemExit(1)


class _RunProgress:
    """`on_event` for `accuracy_table`: a rich display (runs done, each running run's epochs) on a terminal, else one
    line per event."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.bar = None
        self.tasks = {}

    def __enter__(self):
        import sys

        if sys.stderr.isatty():
            from rich import progress as rp
            from rich.console import Console

            self.bar = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                                   rp.TimeElapsedColumn(), console=Console(stderr=True))
            self.bar.start()
            self.tasks["all"] = self.bar.add_task("runs", total=self.total)
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, kind: str, run, info):
        if kind in ("skipped", "done", "failed"):
            self.done += 1
        if self.bar is None:
            detail = {"epoch": lambda: f"epoch {info[0]}/{info[1]}",
                      "done": lambda: f"top-1 {100 * info['top1']:.1f}%, mean class acc "
                                      f"{100 * info['mean_class_acc']:.1f}%, {info['cpu_s'] / 60:.1f} CPU min, "
                                      f"{info['wall_s'] / 60:.1f} min wall",
                      "failed": lambda: str(info)}.get(kind, lambda: "")()
            click.echo(f"[{self.done}/{self.total}] {run.name}: {kind}{': ' + detail if detail else ''}", err=True)
            return
        self.bar.update(self.tasks["all"], completed=self.done)
        if kind == "started":
            self.tasks[run.name] = self.bar.add_task(f"  {run.name}", total=None)
        elif kind == "epoch" and run.name in self.tasks:
            self.bar.update(self.tasks[run.name], completed=info[0], total=info[1])
        elif kind in ("done", "failed") and run.name in self.tasks:
            self.bar.remove_task(self.tasks.pop(run.name))
            if kind == "failed":
                self.bar.console.print(f"failed: {run.name}: {info}")
