"""Where datasets live: the folder a command reads a dataset from (docs/data.md, "Data roots").

- a dataset as distributed: the folder given (`--data-root`);
- `synthetic`: a folder written by `arc data synth`, or else the cache folder (`$ARC_CACHE`, default
  `~/.cache/arc`) where the default set is generated when missing;
- `list`: by default the folder of the training list file (paths in lists are relative to it).
"""

from __future__ import annotations

from pathlib import Path


def resolve_data_root(dataset: str, data_root: str | None, list_file: str | None = None) -> Path:
    """The data folder of `dataset`; ValueError saying what to give when there is none."""
    if dataset == "synthetic":
        from arc.data.synth import ensure_synthetic

        if data_root is not None and (Path(data_root) / "synth.json").is_file():
            return Path(data_root)
        return Path(ensure_synthetic(cache_dir=data_root))
    if data_root is None and dataset == "list":
        if list_file:
            return Path(list_file).expanduser().resolve().parent
        raise ValueError("--dataset list reads DATA_ROOT/train.txt and DATA_ROOT/val.txt: give --data-root DIR, or "
                         "--train-list and --val-list (lines 'path num_frames label' or 'path label')")
    if data_root is None:
        raise ValueError(f"--data-root is required for dataset {dataset!r}: the folder as distributed "
                         f"(layouts: docs/data.md)")
    return Path(data_root)
