"""`arc data check`: read each split's index, look for every video on disk and — unless `quick` — open every video
or frame folder and decode the frames the test sampler reads, in parallel; report each missing, unreadable or
short video by path, with the reason.

Light at import (no torch), so worker processes start quickly; only the one sample per split that goes through the
whole clip pipeline imports the dataset class.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from arc.data.errors import BadSample, DataFormatError, MediaError, MissingDataFile
from arc.data.registry import SPLITS, build_dataset, get, read_index
from arc.data.sampling import sample_indices
from arc.data.video import FrameFolder, TruncatedVideo, frame_number, open_media

KINDS = ("missing", "unreadable", "short")


@dataclass(frozen=True)
class Problem:
    """One video that will not train as it should. `kind`: "missing" (not on disk), "unreadable" (cannot be opened
    or decoded), "short" (fewer frames than its container declares, decoding that stops early, frames missing from
    a folder's numbering)."""

    kind: str
    path: str
    reason: str


@dataclass
class SplitReport:
    """What `check_dataset` found for one split. `status`: "ok", "absent" (an optional split without files) or
    "problems" (`problems`: the index's; `items`: one `Problem` per video, in index order). `unreadable` and
    `short` are None when the media were not decoded (`quick`)."""

    split: str
    status: str = "ok"
    videos: int = 0
    classes: int = 0
    missing: int = 0
    unreadable: int | None = None
    short: int | None = None
    sample: str = ""
    problems: list[str] = field(default_factory=list)
    items: list[Problem] = field(default_factory=list)


def _exists(path: Path) -> bool:
    return path.is_dir() or path.is_file()


def _folder_problem(folder: FrameFolder) -> Problem | None:
    """Empty images anywhere in a frame folder, and gaps in its frame numbers (without decoding anything)."""
    empty = [f.name for f in folder.files if f.stat().st_size == 0]
    if empty:
        more = f" and {len(empty) - 1} more" if len(empty) > 1 else ""
        return Problem("unreadable", str(folder.path), f"empty frame image {empty[0]} (0 bytes){more}")
    numbering = [frame_number(f) for f in folder.files]
    if None in numbering or len({pattern for pattern, _ in numbering}) > 1:
        return None     # no single numbering to check
    numbers = [n for _, n in numbering]
    pairs = list(zip(numbers, numbers[1:], strict=False))
    twice = next((a for a, b in pairs if b == a), None)
    if twice is not None:
        return Problem("short", str(folder.path), f"frame number {twice} appears twice")
    jumps = [(a, b) for a, b in pairs if b > a + 1]
    if not jumps:
        return None
    lost = sum(b - a - 1 for a, b in jumps)
    return Problem("short", str(folder.path), f"frame numbers jump from {jumps[0][0]} to {jumps[0][1]}: {lost} of "
                                              f"the frames numbered {numbers[0]}…{numbers[-1]} are missing")


def check_media(path, num_segments: int = 8, clips: int = 1) -> Problem | None:
    """Open one video file or frame folder and decode the frames the test sampler reads (`num_segments` × `clips`,
    TSM sampling); None when all is well."""
    try:
        with open_media(path) as media:
            if isinstance(media, FrameFolder):
                problem = _folder_problem(media)
                if problem is not None:
                    return problem
            idx = sample_indices(media.num_frames, num_segments, train=False, clips=clips)
            media.read(idx.ravel(), strict=True)
    except TruncatedVideo as e:
        return Problem("short", str(path), e.reason)
    except MediaError as e:
        return Problem("unreadable", str(path), e.reason)
    except Exception as e:     # a check must survive any file: say what went wrong and go on
        return Problem("unreadable", str(path), f"{type(e).__name__}: {e}")
    return None


def _ignore_interrupts():
    """In a worker: leave Ctrl-C to the parent, which stops the pool after the chunks under way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_chunk(paths: list[str], num_segments: int, clips: int) -> list[Problem | None]:
    return [check_media(p, num_segments, clips) for p in paths]


def check_all_media(paths: list, *, num_segments: int = 8, clips: int = 1, executor: Executor | None = None,
                    workers: int = 1, progress: Callable[[int], None] | None = None) -> list[Problem | None]:
    """`check_media` of every path (in `executor`'s processes, else in this one), in order; `progress(done)` after
    each chunk."""
    paths = [str(p) for p in paths]
    size = max(1, min(32, len(paths) // max(4 * workers, 1)))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    results: list[list[Problem | None] | None] = [None] * len(chunks)
    done = 0
    if executor is None:
        for k, chunk in enumerate(chunks):
            results[k] = _check_chunk(chunk, num_segments, clips)
            done += len(chunk)
            if progress:
                progress(done)
    else:
        futures = {executor.submit(_check_chunk, chunk, num_segments, clips): k for k, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            k = futures[future]
            results[k] = future.result()
            done += len(chunks[k])
            if progress:
                progress(done)
    return [p for chunk in results for p in chunk]


def check_split(name: str, root, split: str, *, list_file=None, quick: bool = False, num_segments: int = 8,
                clips: int | None = None, input_size: int = 224, executor: Executor | None = None,
                workers: int = 1, progress: Callable[[str, int, int], None] | None = None) -> SplitReport:
    """Check one split (see `check_dataset`)."""
    report = SplitReport(split)
    try:
        index = read_index(name, root, split, list_file)
    except MissingDataFile as e:
        report.status = "problems" if split == "train" else "absent"
        report.problems.append(str(e))
        return report
    except DataFormatError as e:
        report.status = "problems"
        report.problems.append(str(e))
        return report
    clips = get(name).test_clips if clips is None else clips
    report.videos, report.classes = len(index.records) + len(index.missing), len(index.classes)
    report.items = [Problem("missing", str(p), "not on disk (left out of the index)") for p in index.missing]
    present = []
    for r in index.records:
        if _exists(r.path):
            present.append(r.path)
        else:
            report.items.append(Problem("missing", str(r.path), "not on disk"))
    report.missing = len(report.items)
    if not quick:
        if progress:
            progress(split, 0, len(present))
        found = check_all_media(present, num_segments=num_segments, clips=clips, executor=executor, workers=workers,
                                progress=(lambda done: progress(split, done, len(present))) if progress else None)
        report.items += [p for p in found if p is not None]
        report.unreadable = sum(p.kind == "unreadable" for p in report.items)
        report.short = sum(p.kind == "short" for p in report.items)
    bad = {p.path for p in report.items}
    first = next((i for i, r in enumerate(index.records) if str(r.path) not in bad), None)
    if first is not None:
        ds = build_dataset(name, root, split, train=False, num_segments=num_segments, clips=clips,
                           input_size=input_size, list_file=list_file)
        item = ds[first]
        if isinstance(item, BadSample):
            report.items.append(Problem("unreadable", item.path, item.reason))
            report.unreadable = (report.unreadable or 0) + 1
        else:
            report.sample = f"{ds.records[first].path.name}: clip {list(item[0].shape)}, label {item[1]}"
    if report.problems or report.items:
        report.status = "problems"
    return report


def check_dataset(name: str, root, *, list_file=None, quick: bool = False, num_segments: int = 8,
                  clips: int | None = None, input_size: int = 224, workers: int = 1,
                  progress: Callable[[str, int, int], None] | None = None) -> list[SplitReport]:
    """One `SplitReport` per split ("train", "val", "test"). `list_file` (dataset "list"): one list for every
    split (a `{split}` in it is replaced), or a dict split → list; default `root/<split>.txt`.

    Reads each index and looks for every video on disk; unless `quick`, opens every video or frame folder and
    decodes the frames the test sampler reads (`num_segments` frames × `clips`, default the dataset's test clips),
    in `workers` processes (0 or 1: this one), calling `progress(split, done, total)` as it goes. Then one sample per
    split goes through the whole clip pipeline (`build_dataset`, test mode)."""
    executor = ProcessPoolExecutor(workers, initializer=_ignore_interrupts) if workers > 1 and not quick else None
    try:
        return [check_split(name, root, s, list_file=list_file.get(s) if isinstance(list_file, dict) else list_file,
                            quick=quick, num_segments=num_segments, clips=clips,
                            input_size=input_size, executor=executor, workers=max(workers, 1), progress=progress)
                for s in SPLITS]
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
