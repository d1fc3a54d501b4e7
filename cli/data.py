"""`arc data`: get a dataset into the data home (`download`, `prepare`), say where datasets live (`home`), write the
synthetic dataset, check that a data root reads as a dataset."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager

import click

from arc.cli.errors import OneLineError, library_errors, one_line
from arc.cli.table import print_table
from arc.data.home import check_writable, describe_home, home_folder, resolve_data_root
from arc.data.registry import DATASETS, SPLITS
from arc.data.sources import SOURCES


@click.group("data")
def data():
    """Dataset tools: download a dataset into the data home, write the synthetic dataset, check a data root."""


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
@click.option("--preset", default="order", show_default=True,
              help="Family: order (make demo's set: 5 classes, the order of one object's motion) or fine (the "
                   "fine-grained benchmark: 12 classes, how a bead slides along a drifting rod; docs/results.md).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files.")
@click.option("--layout", type=click.Choice(["ssv1", "diving48"]), default="ssv1", show_default=True,
              help="ssv1: JPEG frame folders + Something-Something V1 CSVs; diving48: mp4 + Diving48 V2 JSON.")
@click.option("--train-per-class", type=click.IntRange(min=1), default=None,
              help="Training videos per class [default: the preset's: order 80, fine 80].")
@click.option("--val-per-class", type=click.IntRange(min=1), default=None,
              help="Validation videos per class [default: order 24, fine 25].")
@click.option("--min-frames", type=click.IntRange(min=1), default=None, help="Fewest frames per video [default: 14].")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Most frames per video [default: 18].")
@click.option("--height", type=click.IntRange(min=8), default=None,
              help="Frame height, pixels [default: order 72, fine 48].")
@click.option("--width", type=click.IntRange(min=8), default=None,
              help="Frame width, pixels [default: order 96, fine 48].")
def synth(out, preset, seed, layout, train_per_class, val_per_class, min_frames, max_frames, height, width):
    """Write a synthetic dataset whose classes differ only in motion (see docs/data.md): TSN is at chance on it."""
    from arc.data.synth import get_preset, resolve_params, write_synthetic

    try:
        p = get_preset(preset)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--preset") from None
    (lo, hi), (h, w) = p.defaults["frames"], p.defaults["size"]
    frames = (lo if min_frames is None else min_frames, hi if max_frames is None else max_frames)
    size = (h if height is None else height, w if width is None else width)
    if frames[0] > frames[1]:
        raise OneLineError(f"--min-frames {frames[0]} is larger than --max-frames {frames[1]}")
    params = resolve_params(preset, train_per_class=train_per_class, val_per_class=val_per_class, frames=frames,
                            size=size)
    with library_errors("--out"):
        check_writable(out)
    start = time.perf_counter()
    try:
        path = write_synthetic(out, preset=preset, seed=seed, layout=layout, **params)
    except FileExistsError as e:
        raise click.BadParameter(str(e), param_hint="--out") from None
    except ValueError as e:
        raise OneLineError(str(e)) from None
    seconds = time.perf_counter() - start
    files, size_bytes = _disk_usage(path)
    classes = len(p.classes)
    click.echo(f"wrote {path}: {classes * params['train_per_class']} train + {classes * params['val_per_class']} val "
               f"videos, {files} files, {size_bytes / 2**20:.1f} MiB, {seconds:.1f} s")
    click.echo(f"train on it: arc train --dataset {p.dataset if layout == 'ssv1' else 'diving48'} "
               f"--data-root {path}")


class _Progress:
    """`progress(split, done, total)` for `check_dataset`: a rich bar with an ETA when stderr is a terminal, else a
    plain line at the start and end of each split and at most every 10 s between (CI logs stay short)."""

    def __init__(self):
        self.bar = None
        self.task = None
        self.split = None
        self.start = self.last = 0.0

    def __call__(self, split: str, done: int, total: int):
        now = time.perf_counter()
        if split != self.split:
            self.close()
            self.split, self.start, self.last = split, now, now
            if sys.stderr.isatty():
                from rich import progress as rp
                from rich.console import Console

                self.bar = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                                       rp.TimeElapsedColumn(), rp.TextColumn("ETA"), rp.TimeRemainingColumn(),
                                       console=Console(stderr=True), transient=True)
                self.bar.start()
                self.task = self.bar.add_task(f"{split}: decoding", total=total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif done in (0, total) or now - self.last >= 10:
            self.last = now
            elapsed = now - self.start
            eta = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
            click.echo(f"{split}: {done:,}/{total:,} videos decoded, {elapsed:.1f} s{eta}", err=True)

    def close(self):
        if self.bar is not None:
            self.bar.stop()
        self.bar = None


@data.command("check")
@click.option("--dataset", type=click.Choice(list(DATASETS)), required=True, help="Dataset format.")
@click.option("--data-root", type=click.Path(), default=None,
              help="The dataset folder as distributed (default: its folder in the data home, see `arc data home`).")
@click.option("--train-list", type=click.Path(dir_okay=False), default=None,
              help="--dataset list: the training list, as arc train takes it (default: DATA_ROOT/train.txt).")
@click.option("--val-list", type=click.Path(dir_okay=False), default=None,
              help="--dataset list: the validation list (default: DATA_ROOT/val.txt).")
@click.option("--test-list", type=click.Path(dir_okay=False), default=None,
              help="--dataset list: the test list (default: DATA_ROOT/test.txt).")
@click.option("--quick", is_flag=True, help="Only look for every video on disk; decode nothing.")
@click.option("--frames", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames per clip of the test sampler whose frames are decoded (as arc train --frames).")
@click.option("--clips", type=click.IntRange(min=1), default=None,
              help="Clips per video of the test sampler [default: the dataset's test clips, Diving48 2, others 1].")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes that decode (0 or 1: this one) [default: the CPUs, at most 16].")
def check(dataset, data_root, train_list, val_list, test_list, quick, frames, clips, workers):
    """Read the index of every split and look for every video on disk; then open every video or frame folder and
    decode the frames the test sampler reads (not with --quick). Lists each missing, unreadable or short video by
    path with the reason; exit code 1 when anything is wrong."""
    lists = {k: v for k, v in (("train", train_list), ("val", val_list), ("test", test_list)) if v}
    with library_errors():
        root = resolve_data_root(dataset, data_root, train_list)
    if not _print_check(dataset, root, lists or None, quick=quick, frames=frames, clips=clips, workers=workers):
        raise SystemExit(1)


def _print_check(dataset: str, data_root, list_file=None, *, quick: bool = False, frames: int = 8,
                 clips: int | None = None, workers: int | None = None) -> bool:
    """Run `arc.data.check.check_dataset`, print its table and problems; False when it found problems."""
    from arc.data.check import check_dataset
    from arc.runtime.device import default_workers

    workers = default_workers(busy=0) if workers is None else workers
    progress = _Progress()
    start = time.perf_counter()
    try:
        with library_errors():
            reports = check_dataset(dataset, data_root, list_file=list_file, quick=quick, num_segments=frames,
                                    clips=clips, workers=workers, progress=progress)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    rows = [[r.split, r.status, r.videos, r.classes, r.missing, r.unreadable, r.short, r.sample or "—"]
            for r in reports]
    print_table(["split", "status", "videos", "classes", "missing", "unreadable", "short", "first sample"], rows,
                title=f"{dataset} at {data_root}")
    for r in reports:
        for p in r.problems:
            click.echo(f"{r.split}: {'absent: ' if r.status == 'absent' else ''}{p}")
        for item in r.items:
            click.echo(f"{r.split}: {item.kind}: {item.path}: {item.reason}")
    videos = sum(r.videos - r.missing for r in reports)
    if quick:
        click.echo(f"looked for {sum(r.videos for r in reports):,} videos on disk in {seconds:.1f} s")
    else:
        clips = DATASETS[dataset].test_clips if clips is None else clips
        click.echo(f"decoded the test frames ({frames} a clip, {clips} clip(s)) of {videos:,} videos in "
                   f"{seconds:.1f} s with {max(workers, 1)} process(es)")
    return not any(r.status == "problems" for r in reports)


@data.command("home")
def home():
    """Where datasets live: the data home ($ARC_DATA_ROOT) and which datasets are in it."""
    click.echo(f"data home: {describe_home()}")
    rows = []
    for name, spec in DATASETS.items():
        if spec.folder is not None:
            present = home_folder(name).is_dir()
            rows.append([name, f"{spec.folder}/", "present" if present else f"missing: {spec.get}"])
    print_table(["dataset", "folder", "status"], rows)


def _dataset_folder(name: str, data_root):
    return os.path.expanduser(data_root) if data_root else home_folder(name)


def _files_epilog() -> str:
    lines = ["\b", "Files (KEY: URL), for --url KEY=URL:"]
    for name, source in SOURCES.items():
        lines += [f"  {name}: {key}: {source.base}{path}" for key, path in source.files.items()]
    return "\n".join(lines)


class _Signal(BaseException):
    """SIGTERM (or SIGINT) raised in the main thread, as Ctrl-C raises KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stop_on_signals(kept: str, hint: str | None = None):
    """Ctrl-C and SIGTERM stop a download or an unpacking within seconds (the library stops its transfers at the next
    block); what was downloaded stays for the next run, which resumes (`kept` says where). Exit code 128 + the
    signal: 130, 143. Other errors of the block are one `Error:` line."""
    def raise_signal(signum, frame):
        raise _Signal(signum)

    previous = {s: signal.signal(s, raise_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with library_errors(hint):
            yield
    except (_Signal, KeyboardInterrupt) as e:
        signum = getattr(e, "signum", signal.SIGINT)
        click.echo(f"Stopped by {signal.Signals(signum).name}: {kept} — run the same command again to resume",
                   err=True)
        sys.exit(128 + signum)
    except OSError as e:      # arc.files.WriteError (the manifest), a move into the layout
        raise OneLineError(one_line(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _caps(max_files, max_unpacked_gb):
    from arc.data.unpack import Caps

    if max_files is None and max_unpacked_gb is None:
        return None
    return Caps(max_files, None if max_unpacked_gb is None else int(max_unpacked_gb * 1e9))


_CAP_OPTIONS = (
    click.option("--max-files", type=click.IntRange(min=1), default=None,
                 help="The most members an archive may unpack to [default: twice the dataset's videos + 10,000, or "
                      "one per 256 archive bytes where their number is unknown]."),
    click.option("--max-unpacked-gb", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="The most GB an archive may unpack to [default: 3 × the archive + 64 MiB, and at most 3 × "
                      "the dataset's download]."),
)


def _with_caps(f):
    for option in reversed(_CAP_OPTIONS):
        f = option(f)
    return f


@data.command("download", epilog=_files_epilog())
@click.argument("dataset", type=click.Choice(list(SOURCES)))
@click.option("--version", "versions", type=click.Choice(["1", "2"]), multiple=True,
              help="diving48: the annotation version(s) to fetch (default both; the videos are the same).")
@click.option("--split", "splits", type=click.Choice(SPLITS), multiple=True,
              help="k400: the split(s) whose videos to fetch (default all three; the CSVs always).")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="k400: archives fetched and unpacked at once.")
@click.option("--mirror", default=None, metavar="BASE",
              help="Fetch every file from BASE instead of the dataset's site (same folders below it).")
@click.option("--url", "url_overrides", multiple=True, metavar="KEY=URL",
              help="Fetch one file from URL (repeatable); the keys are listed below.")
@click.option("--sha256", "pins", multiple=True, metavar="KEY=HEX",
              help="The SHA-256 a file must have (repeatable): KEY as for --url, or for k400 archives "
                   "SPLIT/NAME (train/part_0.tar.gz). Overrides the digest the manifest recorded.")
@_with_caps
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="The dataset folder to fill (default: its folder in the data home, see `arc data home`).")
@click.option("--keep-archives", is_flag=True, help="Keep the archives once unpacked (default: delete them).")
@click.option("--no-check", is_flag=True, help="Skip `arc data check` at the end.")
def download(dataset, versions, splits, parallel, mirror, url_overrides, pins, max_files, max_unpacked_gb,
             data_root, keep_archives, no_check):
    """Download DATASET into the data home in its official layout, resumably, then check it.

    \b
    diving48  the videos archive and annotations from the UCSD SVCL site (about 10 GB)
    k400      the CVDF mirror of Kinetics-400: tarballs per split and CSVs (about 436 GB)
    ssv1      not freely downloadable any more: prints where to request it (see `arc data prepare`)

    Every file is checked against its SHA-256: pinned with --sha256, or recorded by its first download in the data
    home's manifest.json. Archives are unpacked member by member: regular files and folders inside the dataset
    folder only. Ctrl-C or SIGTERM stop within seconds (exit 130 / 143); the command run again resumes.
    """
    from arc.data import download as dl
    from arc.data.integrity import parse_pins
    from arc.data.progress import Transfers
    from arc.data.sources import parse_overrides

    if dataset == "ssv1":
        with library_errors():
            click.echo(dl.ssv1_instructions(_dataset_folder("ssv1", data_root)))
        return
    with library_errors():
        overrides = parse_overrides(url_overrides)
        options = dict(mirror=mirror, overrides=overrides, keep_archives=keep_archives, pins=parse_pins(pins),
                       caps=_caps(max_files, max_unpacked_gb))
        root = _dataset_folder(dataset, data_root)
    if dataset == "diving48":
        options["versions"] = tuple(int(v) for v in versions) or (1, 2)
    else:
        options.update(splits=splits or SPLITS, parallel=parallel)
    with _stop_on_signals(f"what was downloaded is kept in {root}"), Transfers() as transfers:
        transfers.note(f"{dataset} into {root}")
        done = dl.DOWNLOADERS[dataset](root, transfers=transfers, **options)
    _finish(done, no_check)


@data.command("prepare")
@click.argument("dataset", type=click.Choice(["ssv1"]))
@click.argument("more", nargs=-1, type=click.Path())
@click.option("--from", "sources", multiple=True, type=click.Path(), required=True,
              help="The files as the distributor ships them (archive parts 20bn-something-something-v1-NN, CSVs), "
                   "or the folder that holds them.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="The dataset folder to fill (default: its folder in the data home, see `arc data home`).")
@_with_caps
@click.option("--no-check", is_flag=True, help="Skip `arc data check` at the end.")
def prepare(dataset, more, sources, data_root, max_files, max_unpacked_gb, no_check):
    """Unpack a dataset you downloaded yourself into its layout (ssv1: the split archive and the CSV files).

    `--from ~/Downloads/20bn-something-something-v1-*` takes every file the shell expands to. The archive is
    unpacked member by member (regular files and folders inside the dataset folder only), after a check that the
    disk has room for it.
    """
    from arc.data import download as dl
    from arc.data.progress import Transfers

    root = _dataset_folder(dataset, data_root)
    with _stop_on_signals("the archive parts were left as they are", "--from"), Transfers() as transfers:
        done = dl.prepare_ssv1([*sources, *more], root, transfers=transfers, caps=_caps(max_files, max_unpacked_gb))
    _finish(done, no_check)


def _finish(done, no_check: bool) -> None:
    for note in done.notes:
        click.echo(f"note: {note}")
    click.echo(f"{', '.join(done.datasets)} in {done.root}")
    if no_check:
        return
    found = [_print_check(name, done.root) for name in done.datasets]
    if not all(found):
        click.echo("arc data check reported problems (above). For Kinetics-400, clips listed in the CSVs but gone "
                   "from the mirror are expected; training leaves them out.")
    click.echo(f"train on it: arc train --dataset {done.datasets[0]}" +
               ("" if done.root == home_folder(done.datasets[0]) else f" --data-root {done.root}"))
