"""`arc data check`: read a dataset's index for every split, look for its videos on disk and load one sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from arc.data.errors import BadSample, DataFormatError, MissingDataFile
from arc.data.formats import SPLITS
from arc.data.registry import build_dataset, read_index


@dataclass
class SplitReport:
    """What `check_dataset` found for one split. `status`: "ok", "absent" (an optional split without
    files) or "problems" (then `problems` says what)."""

    split: str
    status: str = "ok"
    videos: int = 0
    classes: int = 0
    missing: int = 0
    sample: str = ""
    problems: list[str] = field(default_factory=list)


def _exists(path: Path) -> bool:
    return path.is_dir() or path.is_file()


def check_split(name: str, root, split: str, *, list_file=None, input_size: int = 224) -> SplitReport:
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
    ds = build_dataset(name, root, split, train=False, input_size=input_size, list_file=list_file)
    report.videos, report.classes = len(index.records) + len(index.missing), len(index.classes)
    missing = list(index.missing) + [r.path for r in index.records if not _exists(r.path)]
    report.missing = len(missing)
    if missing:
        examples = ", ".join(str(p) for p in missing[:3])
        report.problems.append(f"{len(missing)} of {report.videos} videos not found on disk (e.g. {examples})")
    first = next((i for i, r in enumerate(ds.records) if _exists(r.path)), None)
    if first is not None:
        item = ds[first]
        if isinstance(item, BadSample):
            report.problems.append(f"sample {first} unreadable: {item.path}: {item.reason}")
        else:
            report.sample = f"{ds.records[first].path.name}: clip {list(item[0].shape)}, label {item[1]}"
    if report.problems:
        report.status = "problems"
    return report


def check_dataset(name: str, root, *, list_file=None, input_size: int = 224) -> list[SplitReport]:
    """One `SplitReport` per split ("train", "val", "test")."""
    return [check_split(name, root, s, list_file=list_file, input_size=input_size) for s in SPLITS]
