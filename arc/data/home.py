"""Where datasets live (docs/data.md, "Getting the data").

The *data home* is one folder, `$ARC_DATA_ROOT` (default: `data/` in the arc cache, `$ARC_CACHE` or `~/.cache/arc`,
so `~/.cache/arc/data`). Each dataset sits in it under a fixed name (`arc.data.registry.DatasetSpec.folder`:
`diving48/`, `sthv1/`, `kinetics400/`) in the layout it is distributed in. A command's `--data-root` overrides it:

- a dataset as distributed: `--data-root DIR`, else `<data home>/<folder>`;
- `synthetic`, `synthetic-fine`: a folder written by `arc data synth` (`--preset fine` for the second), or a cache
  folder where the preset's set is (or is then) generated; the default cache is used when no folder is given. An
  explicit folder that does not exist is an error unless `generate=True` (`arc train --generate`), so a typo does
  not write 35 MB somewhere unexpected;
- `list`: by default the folder of the training list file (paths in lists are relative to it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arc.data.errors import MissingDataFile

ENV = "ARC_DATA_ROOT"


def data_home() -> Path:
    """`$ARC_DATA_ROOT`, else `data/` in the arc cache (`$ARC_CACHE`, default `~/.cache/arc`)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    from arc.data.synth import default_cache

    return default_cache() / "data"


def home_folder(dataset: str) -> Path:
    """Where `dataset` lives in the data home; ValueError for datasets without a place there (lists, synthetic)."""
    from arc.data.registry import get

    spec = get(dataset)
    if spec.folder is None:
        raise ValueError(f"dataset {dataset!r} has no folder in the data home; give --data-root")
    return data_home() / spec.folder


def describe_home() -> str:
    """The data home and where its path came from, for messages."""
    source = f"from ${ENV}" if os.environ.get(ENV) else f"the default; ${ENV} moves it"
    return f"{data_home()} ({source})"


def not_found(dataset: str, folder: Path, *, given: bool) -> MissingDataFile:
    """The one-line error for a dataset folder that is not there: where it looked, the layout, how to get it."""
    from arc.data.registry import get

    spec = get(dataset)
    if given:
        where = "--data-root is not a folder"
        fix = f"get the data with: {spec.get} --data-root DIR" if spec.get else "see docs/data.md"
    else:
        where = f"no {dataset} data in the data home {describe_home()}"
        fix = f"get it with: {spec.get}, or give --data-root DIR" if spec.get else "give --data-root DIR"
    expected = f"; expected {spec.about.split(':')[0]} as distributed: {spec.layout}" if spec.layout else ""
    return MissingDataFile(folder, f"{where}{expected}; {fix}")


def resolve_data_root(dataset: str, data_root: str | None, list_file: str | None = None, *,
                      generate: bool = False) -> Path:
    """The data folder of `dataset`; a `ValueError` (`MissingDataFile` when a folder is missing) saying where it
    looked, what it expects there and what to do. `generate`: write the synthetic set into an explicit `data_root`
    that does not exist yet."""
    from arc.data.synth import preset_of

    preset = preset_of(dataset)
    if preset is not None:
        return _synthetic_root(preset, data_root, generate)
    if data_root is None and dataset == "list":
        if list_file:
            return Path(list_file).expanduser().resolve().parent
        raise ValueError("--dataset list reads DATA_ROOT/train.txt and DATA_ROOT/val.txt: give --data-root DIR, or "
                         "--train-list and --val-list (lines 'path num_frames label' or 'path label')")
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise not_found(dataset, root, given=True)
        return root
    root = home_folder(dataset)
    if not root.is_dir():
        raise not_found(dataset, root, given=False)
    return root


def _synthetic_root(preset, data_root: str | None, generate: bool) -> Path:
    from arc.data.synth import ensure_synthetic, read_manifest

    if data_root is None:
        return Path(ensure_synthetic(preset=preset.name))
    root = Path(data_root).expanduser()
    if (root / "synth.json").is_file():
        written = (read_manifest(root) or {}).get("preset", "order")
        if written != preset.name:
            raise MissingDataFile(root, f"holds the synthetic preset {written!r}; --dataset {preset.dataset} reads "
                                        f"the preset {preset.name!r} (arc data synth --preset {preset.name})")
        return root
    if not root.exists() and not generate:
        raise MissingDataFile(root, "no such folder (--data-root); write the synthetic dataset there with "
                                    "`arc data synth --out DIR` (or `arc train --generate`), or leave out "
                                    "--data-root for the default cache")
    if root.exists() and not root.is_dir():
        raise MissingDataFile(root, "not a folder (--data-root)")
    return Path(ensure_synthetic(cache_dir=root, preset=preset.name))


def check_writable(folder) -> Path:
    """Raise `PermissionError` (naming the folder) unless files can be created in `folder` — or, when it does not
    exist yet, in its nearest existing parent (where it would be created). Creates nothing that stays."""
    folder = Path(folder).expanduser().absolute()
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"cannot create {folder}: {probe} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".arc-write-test-", dir=probe)
    except OSError as e:
        raise PermissionError(f"cannot write in {probe} ({e.strerror or e}); choose a folder you can write to") \
            from None
    os.close(fd)
    os.unlink(name)
    return folder
