"""`arc data`: write the synthetic dataset; check that a data root reads as a dataset."""

from __future__ import annotations

import os
import time

import click

from arc.data.registry import DATASETS
from cli.errors import OneLineError
from cli.table import print_table


@click.group("data")
def data():
    """Dataset tools: write the synthetic dataset, check a data root."""


def _disk_usage(folder) -> tuple[int, int]:
    """(files, bytes) under `folder`."""
    files = size = 0
    for dirpath, _, names in os.walk(folder):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


@data.command("synth")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder to create (must not exist, or be empty).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files.")
@click.option("--layout", type=click.Choice(["ssv1", "diving48"]), default="ssv1", show_default=True,
              help="ssv1: JPEG frame folders + Something-Something V1 CSVs; diving48: mp4 + Diving48 V2 JSON.")
@click.option("--train-per-class", type=click.IntRange(min=1), default=80, show_default=True,
              help=f"Training videos per class ({DATASETS['synthetic'].num_classes} classes).")
@click.option("--val-per-class", type=click.IntRange(min=1), default=24, show_default=True,
              help="Validation videos per class.")
@click.option("--min-frames", type=click.IntRange(min=1), default=14, show_default=True,
              help="Fewest frames per video.")
@click.option("--max-frames", type=click.IntRange(min=1), default=18, show_default=True,
              help="Most frames per video.")
@click.option("--height", type=click.IntRange(min=8), default=72, show_default=True, help="Frame height, pixels.")
@click.option("--width", type=click.IntRange(min=8), default=96, show_default=True, help="Frame width, pixels.")
def synth(out, seed, layout, train_per_class, val_per_class, min_frames, max_frames, height, width):
    """Write the synthetic fine-grained dataset (classes differ only in the order of motion; see docs/data.md)."""
    from arc.data.synth import write_synthetic

    if min_frames > max_frames:
        raise OneLineError(f"--min-frames {min_frames} is larger than --max-frames {max_frames}")
    start = time.perf_counter()
    try:
        path = write_synthetic(out, seed=seed, layout=layout, train_per_class=train_per_class,
                               val_per_class=val_per_class, frames=(min_frames, max_frames), size=(height, width))
    except FileExistsError as e:
        raise click.BadParameter(str(e), param_hint="--out") from None
    except ValueError as e:
        raise OneLineError(str(e)) from None
    seconds = time.perf_counter() - start
    files, size = _disk_usage(path)
    classes = DATASETS["synthetic"].num_classes
    click.echo(f"wrote {path}: {classes * train_per_class} train + {classes * val_per_class} val videos, "
               f"{files} files, {size / 2**20:.1f} MiB, {seconds:.1f} s")
    click.echo(f"train on it: arc train --dataset {'synthetic' if layout == 'ssv1' else 'diving48'} "
               f"--data-root {path}")


@data.command("check")
@click.option("--dataset", type=click.Choice(list(DATASETS)), required=True, help="Dataset format.")
@click.option("--data-root", type=click.Path(), required=True, help="The dataset folder as distributed.")
@click.option("--list-file", default=None,
              help="For --dataset list: the list file; '{split}' is replaced by train/val/test "
                   "(default: DATA_ROOT/<split>.txt).")
def check(dataset, data_root, list_file):
    """Read the index of every split, look for the videos on disk, load one sample per split."""
    from arc.data.check import check_dataset

    if not os.path.isdir(data_root):
        raise click.BadParameter(f"{data_root} is not a folder", param_hint="--data-root")
    reports = check_dataset(dataset, data_root, list_file=list_file)
    rows = [[r.split, r.status, r.videos, r.classes, r.missing, r.sample or "—"] for r in reports]
    print_table(["split", "status", "videos", "classes", "missing", "first sample"], rows,
                title=f"{dataset} at {data_root}")
    for r in reports:
        for p in r.problems:
            click.echo(f"{r.split}: {'absent: ' if r.status == 'absent' else ''}{p}")
    if any(r.status == "problems" for r in reports):
        raise SystemExit(1)
