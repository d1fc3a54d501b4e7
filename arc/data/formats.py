"""The datasets in their official formats: each reader turns the files as distributed into `Record`s (a video
file or frame folder, and a label) and the class names in index order. Layouts: docs/data.md.

Light on purpose (no torch): the registry (`arc.data.registry`) and the command line import it to list datasets.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from arc.data.errors import DataFormatError, MissingDataFile
from arc.data.video import VIDEO_SUFFIXES


@dataclass(frozen=True)
class Record:
    """One video of an index: a video file or a frame folder, and its label (-1: unknown, e.g. a test set)."""

    path: Path
    label: int


@dataclass(frozen=True)
class Index:
    """What a reader found for one split: the records in file order, the class names in index order, and the
    entries of the index whose video is not on disk (left out of `records`; Kinetics only — its clips are often
    gone from YouTube)."""

    records: list[Record]
    classes: list[str]
    missing: list[Path] = field(default_factory=list)


def _find(root: Path, names, what: str) -> Path:
    """The first of `names` found in `root` or `root/annotations`."""
    for folder in (root, root / "annotations"):
        for n in names:
            if (folder / n).is_file():
                return folder / n
    raise MissingDataFile(root / names[0], f"{what} not found (looked for {', '.join(names)} "
                                           f"in {root} and {root / 'annotations'})")


def _lines(path: Path):
    """(line number, stripped text) of the non-empty lines of a text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not a UTF-8 text file ({e.reason})") from None
    return [(k, s.strip()) for k, s in enumerate(text.splitlines(), 1) if s.strip()]


def _short(value, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n] + "…"


def _check_name(path: Path, name: str, what: str, line: int) -> None:
    """`DataFormatError` unless `name` is a plain file name (an index names videos in its dataset's folder)."""
    if "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        raise DataFormatError(path, f"{what} {_short(name)} is not a plain file name", line)


def _check_nonempty(records, path: Path):
    if not records:
        raise DataFormatError(path, "lists no videos")
    return records


# --- Something-Something V1 (and the synthetic dataset) -------------------------------------------------

SSV1_FILES = {"train": "something-something-v1-train.csv", "val": "something-something-v1-validation.csv",
              "test": "something-something-v1-test.csv"}
SSV1_LABELS = "something-something-v1-labels.csv"
SSV1_FRAMES = "20bn-something-something-v1"


def read_class_names(path: Path) -> list[str]:
    """One class name a line, no duplicates."""
    names, seen = [], {}
    for k, name in _lines(path):
        if name in seen:
            raise DataFormatError(path, f"class {name!r} repeats line {seen[name]}", k)
        seen[name] = k
        names.append(name)
    if not names:
        raise DataFormatError(path, "no class names (expected one name a line)")
    return names


def ssv1_index(root: Path, split: str):
    """`<id>;<class name>` lines (ids only in the test file); frames in `20bn-something-something-v1/<id>/`
    (or directly under `root`). Class index = position among the sorted names of the labels file."""
    labels_file = _find(root, [SSV1_LABELS], "Something-Something V1 labels file")
    classes = sorted(read_class_names(labels_file))
    index = {c: i for i, c in enumerate(classes)}
    split_file = _find(root, [SSV1_FILES[split]], f"Something-Something V1 {split} list")
    frames = root / SSV1_FRAMES if (root / SSV1_FRAMES).is_dir() else root
    records = []
    for k, line in _lines(split_file):
        vid, sep, name = line.partition(";")
        vid, name = vid.strip(), name.strip()
        if not vid:
            raise DataFormatError(split_file, "expected '<video id>;<class name>'", k)
        _check_name(split_file, vid, "video id", k)
        if split == "test" and not name:
            records.append(Record(frames / vid, -1))
            continue
        if not sep or not name:
            raise DataFormatError(split_file, f"expected '<video id>;<class name>', got {line!r}", k)
        if name not in index:
            raise DataFormatError(split_file, f"class {name!r} is not in {labels_file.name}", k)
        records.append(Record(frames / vid, index[name]))
    return Index(_check_nonempty(records, split_file), classes)


# --- Diving48 -------------------------------------------------------------------------------------------

DIVING48_FILES = {2: {"train": "Diving48_V2_train.json", "test": "Diving48_V2_test.json"},
                  1: {"train": "Diving48_train.json", "test": "Diving48_test.json"}}
DIVING48_VOCAB = "Diving48_vocab.json"


MAX_JSON_DEPTH = 32       # nesting of an annotation file's lists and objects: Diving48's is 3


def _json_depth_error(path: Path, text: str) -> None:
    """`DataFormatError` at the line where `text` nests lists and objects deeper than `MAX_JSON_DEPTH` (found in one
    pass over its brackets and strings, before `json` would recurse that deep)."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        c = m.group(0)
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise DataFormatError(path, f"lists and objects nested more than {MAX_JSON_DEPTH} deep",
                                      text.count("\n", 0, m.start()) + 1)
        elif c in "]}":
            depth -= 1


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not a UTF-8 text file ({e.reason})") from None
    _json_depth_error(path, text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno) from None
    except (ValueError, RecursionError) as e:     # e.g. an integer of more than 4300 digits
        long = re.search(r"[0-9]{4300}", text)
        raise DataFormatError(path, f"invalid JSON: {str(e).split(';')[0]}",
                              text.count("\n", 0, long.start()) + 1 if long else None) from None


def diving48_index(root: Path, split: str, version: int = 2):
    """A JSON list of `{"vid_name", "label", "start_frame", "end_frame"}`; videos `rgb/<vid_name>.mp4`
    (or directly under `root`). Diving48 has no validation split: "val" reads the test list.
    Class names are the entries of `Diving48_vocab.json` (lists of words, joined by spaces)."""
    vocab_file = _find(root, [DIVING48_VOCAB], "Diving48 vocabulary")
    vocab = _load_json(vocab_file)
    if not isinstance(vocab, list) or not vocab:
        raise DataFormatError(vocab_file, "expected a JSON list of class names (each a list of words)")
    classes = [" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in vocab]
    split_file = _find(root, [DIVING48_FILES[version]["train" if split == "train" else "test"]],
                       f"Diving48 V{version} {split} list")
    entries = _load_json(split_file)
    if not isinstance(entries, list):
        raise DataFormatError(split_file, 'expected a JSON list of {"vid_name", "label", ...} objects')
    videos = root / "rgb" if (root / "rgb").is_dir() else root
    records = []
    for k, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("vid_name"), str):
            raise DataFormatError(split_file, f'entry {k}: expected an object with a string "vid_name", got '
                                              f'{_short(e)}')
        _check_name(split_file, e["vid_name"], f"entry {k}: vid_name", None)
        label = e.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(classes):
            raise DataFormatError(split_file, f'entry {k} ({e["vid_name"]}): "label" must be an integer in '
                                              f'[0, {len(classes)}) ({vocab_file.name}), got {_short(label)}')
        records.append(Record(videos / f"{e['vid_name']}.mp4", label))
    return Index(_check_nonempty(records, split_file), classes)


# --- Kinetics-400 ---------------------------------------------------------------------------------------

K400_FILES = {"train": ["train.csv", "kinetics-400_train.csv", "kinetics400_train.csv"],
              "val": ["validate.csv", "val.csv", "kinetics-400_val.csv", "kinetics400_val.csv"],
              "test": ["test.csv", "kinetics-400_test.csv", "kinetics400_test.csv"]}
K400_DIRS = {"train": ["train"], "val": ["val", "validate", "valid"], "test": ["test"]}
K400_COLUMNS = ("youtube_id", "time_start", "time_end")


def _seconds(text) -> int | None:
    """A Kinetics time (`12`, `12.0`) as whole seconds; None unless it is a finite number >= 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if math.isfinite(value) and value >= 0 else None


def _read_k400_csv(path: Path):
    """Rows `(line, label or None, clip file stem, youtube_id)` of a Kinetics CSV."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames or []
            missing = [c for c in K400_COLUMNS if c not in header]
            if missing:
                raise DataFormatError(path, f"header must have label,youtube_id,time_start,time_end,split; "
                                            f"missing {', '.join(missing)}", 1)
            for row in reader:
                k = reader.line_num
                start, end = _seconds(row["time_start"]), _seconds(row["time_end"])
                if start is None or end is None:
                    raise DataFormatError(path, f"time_start/time_end must be numbers of seconds >= 0, got "
                                                f"{_short(row['time_start'])}, {_short(row['time_end'])}", k)
                label = row.get("label")
                yid = (row["youtube_id"] or "").strip()
                if not yid:
                    raise DataFormatError(path, "empty youtube_id", k)
                _check_name(path, yid, "youtube_id", k)
                rows.append((k, label.strip() if label else None, f"{yid}_{start:06d}_{end:06d}", yid))
        except csv.Error as e:
            raise DataFormatError(path, f"not a readable CSV row ({e})", reader.line_num + 1) from None
        except UnicodeDecodeError as e:
            raise DataFormatError(path, f"not a UTF-8 text file ({e.reason})", reader.line_num + 1) from None
    return rows


def _scan_videos(folders) -> dict[str, Path]:
    """Video files directly in `folders` or one level below (per-class folders), by file stem."""
    found: dict[str, Path] = {}
    for folder in folders:
        for entry in os.scandir(folder):
            if entry.is_dir():
                for sub in os.scandir(entry.path):
                    if os.path.splitext(sub.name)[1].lower() in VIDEO_SUFFIXES:
                        found.setdefault(os.path.splitext(sub.name)[0], Path(sub.path))
            elif os.path.splitext(entry.name)[1].lower() in VIDEO_SUFFIXES:
                found.setdefault(os.path.splitext(entry.name)[0], Path(entry.path))
    return found


def k400_index(root: Path, split: str):
    """CSV `label,youtube_id,time_start,time_end,split[,is_cc]`; clips `<id>_<start:06d>_<end:06d>.mp4` in
    `root/<split>/` (`train`, `val`/`validate`, `test`) or `root/`, flat or in per-class folders.
    Class index = position among the sorted labels of the training CSV. Clips missing on disk (common:
    videos removed from YouTube) are left out and listed in `Index.missing`."""
    split_file = _find(root, K400_FILES[split], f"Kinetics-400 {split} list")
    rows = _read_k400_csv(split_file)
    try:
        train_rows = rows if split == "train" else _read_k400_csv(_find(root, K400_FILES["train"], ""))
    except MissingDataFile:
        train_rows = rows
    classes = sorted({r[1] for r in train_rows if r[1]})
    index = {c: i for i, c in enumerate(classes)}
    folders = [root / d for d in K400_DIRS[split] if (root / d).is_dir()] or [root]
    videos = _scan_videos(folders)
    records, missing = [], []
    for k, label, stem, yid in rows:
        if label and label not in index:
            raise DataFormatError(split_file, f"label {label!r} does not occur in the training list", k)
        path = videos.get(stem) or videos.get(yid)
        if path is None:
            missing.append(folders[0] / f"{stem}.mp4")
            continue
        records.append(Record(path, index[label] if label else -1))
    if not records:
        raise DataFormatError(split_file, f"none of its {len(rows)} clips was found under "
                                          f"{', '.join(map(str, folders))} (expected e.g. {missing[0].name})"
                              if rows else "lists no clips")
    return Index(records, classes, missing)


# --- generic lists --------------------------------------------------------------------------------------

_INT = re.compile(r"-?[0-9]{1,18}")
MAX_CLASSES = 100_000      # a list without classes.txt has max(label) + 1 classes; more than this needs the names


def _is_int(s: str) -> bool:
    """An integer as lists write them: ASCII digits, an optional minus, at most 18 digits (`--1`, `²`, `1e3` are
    not)."""
    return _INT.fullmatch(s) is not None


def list_index(root: Path, split: str, list_file=None):
    """Lines `path num_frames label` (a frame folder, TSM / MMAction2 rawframes lists) or `path label`
    (a video file), whitespace-separated; paths relative to `root`. Labels are class indices; names come
    from `classes.txt` (one a line, in index order) beside the list or in `root`, else "0", "1", …"""
    if list_file is None:
        path = root / f"{split}.txt"
    else:
        path = Path(str(list_file).replace("{split}", split)).expanduser()
        if not path.is_absolute() and not path.is_file():
            path = root / path
    if not path.is_file():
        raise MissingDataFile(path, f"list file for split {split!r} not found")
    records = []
    for k, line in _lines(path):
        parts = line.split()
        if len(parts) not in (2, 3) or not all(_is_int(x) for x in parts[1:]):
            raise DataFormatError(path, f"expected 'path num_frames label' or 'path label' (whitespace-separated, "
                                        f"integers of ASCII digits after the path), got {_short(line, 80)}", k)
        rel, label = parts[0], int(parts[-1])
        if label < 0:
            raise DataFormatError(path, f"label must be >= 0, got {label}", k)
        p = Path(rel)
        records.append((k, p if p.is_absolute() else root / p, label))
    _check_nonempty(records, path)
    names_file = next((f for f in (path.parent / "classes.txt", root / "classes.txt") if f.is_file()), None)
    if names_file is not None:
        classes = read_class_names(names_file)
        for k, _, label in records:
            if label >= len(classes):
                raise DataFormatError(path, f"label {label} has no name in {names_file} "
                                            f"({len(classes)} classes)", k)
    else:
        k, _, label = max(records, key=lambda r: r[2])
        if label >= MAX_CLASSES:
            raise DataFormatError(path, f"label {label} would make {label + 1:,} classes, more than "
                                        f"{MAX_CLASSES:,} without their names; give them in classes.txt beside the "
                                        f"list (one a line)", k)
        classes = [str(i) for i in range(label + 1)]
    return Index([Record(p, label) for _, p, label in records], classes)
