"""The dataset registry: one table from a dataset's name to how it is read and the facts the rest of the package
needs (class count, pre-scaling, flip policy, test clips). The recipes (`arc.training.recipes`), the command line
and `--help` all read their dataset names from here.

Light on purpose (no torch at import): `build_dataset` imports the clip dataset when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from arc.data import formats
from arc.data.errors import MissingDataFile
from arc.data.synth import CLASSES as SYNTH_CLASSES
from arc.data.synth_fine import CLASSES as FINE_CLASSES

SPLITS = ("train", "val", "test")   # every dataset's, in this order (Diving48's "val" is its test list)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset. `index(root, split, list_file)` reads a split (`arc.data.formats`); `num_classes` is the count
    the paper reports (None: from the data); `prescale` is `(h, w)`, a shorter side, or None (sizes for input 224);
    `flip` the horizontal-flip policy (`arc.data.labels.flip_map`); `test_clips` the clips the paper averages at
    test time (Diving48: 2). `folder` is its place in the data home (`arc.data.home`: `$ARC_DATA_ROOT/<folder>`),
    holding the files in the `layout` they are distributed in; `get` is the command that puts them there."""

    name: str
    about: str
    index: Callable[..., formats.Index]
    num_classes: int | None
    prescale: object
    flip: str
    test_clips: int = 1
    uses_list_file: bool = False
    folder: str | None = None      # None: no place in the data home (lists, the synthetic cache)
    layout: str = ""
    get: str = ""


def _index_without_lists(reader):
    def index(root: Path, split: str, list_file=None) -> formats.Index:
        return reader(root, split)
    return index


_D48_LAYOUT = "rgb/<vid_name>.mp4, {} and Diving48_vocab.json (beside rgb/ or in annotations/)"
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("ssv1", "Something-Something V1: JPEG frames + CSVs", _index_without_lists(formats.ssv1_index),
                174, (240, 320), "selective", folder="sthv1",
                layout="20bn-something-something-v1/<id>/00001.jpg… and something-something-v1-{labels,train,"
                       "validation,test}.csv", get="arc data download ssv1"),
    DatasetSpec("diving48", "Diving48 V2: mp4 + JSON",
                _index_without_lists(partial(formats.diving48_index, version=2)), 48, (240, 320), "always",
                test_clips=2, folder="diving48", layout=_D48_LAYOUT.format("Diving48_V2_{train,test}.json"),
                get="arc data download diving48"),
    DatasetSpec("diving48-v1", "Diving48 V1: mp4 + JSON",
                _index_without_lists(partial(formats.diving48_index, version=1)), 48, (240, 320), "always",
                test_clips=2, folder="diving48", layout=_D48_LAYOUT.format("Diving48_{train,test}.json"),
                get="arc data download diving48 --version 1"),
    DatasetSpec("k400", "Kinetics-400: mp4 + CSV", _index_without_lists(formats.k400_index), 400, 320, "always",
                folder="kinetics400",
                layout="{train,val,test}.csv (label,youtube_id,time_start,time_end,split) and clips "
                       "<youtube_id>_<start:06d>_<end:06d>.mp4 in train/, val/, test/",
                get="arc data download k400"),
    DatasetSpec("list", "generic list files: 'path num_frames label' / 'path label'", formats.list_index, None, None,
                "selective", uses_list_file=True),
    DatasetSpec("synthetic", "the built-in synthetic dataset (SSv1 layout)", _index_without_lists(formats.ssv1_index),
                len(SYNTH_CLASSES), (240, 320), "selective"),
    # Frames are cropped as written (48×48 by default, no pre-scaling); every class has a mirror twin.
    DatasetSpec("synthetic-fine", "the fine-grained synthetic dataset (SSv1 layout; docs/results.md)",
                _index_without_lists(formats.ssv1_index), len(FINE_CLASSES), None, "selective"),
)}


def get(name: str) -> DatasetSpec:
    """The registry entry of `name`; ValueError listing the datasets otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def read_index(name: str, root, split: str, list_file=None) -> formats.Index:
    """The index of `split` (one of `SPLITS`) of dataset `name` under `root` (the folder as distributed)."""
    spec = get(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingDataFile(root, "data root not found (expected a folder)")
    return spec.index(root, split, list_file)


_DEFAULT = object()


def build_dataset(name: str, root, split: str, *, num_segments: int = 8, train: bool | None = None,
                  clips: int = 1, crops: int = 1, input_size: int = 224, list_file=None, flip: bool = True,
                  seed: int = 0, prescale=_DEFAULT, sampling: str = "tsm"):
    """The `split` of dataset `name` under `root` as a `ClipDataset`.

    `train=None` means `split == "train"` (random sampling, multi-scale crop, flip). For "synthetic" `root` is a
    folder written by `arc.data.synth.write_synthetic`; for "list", `list_file` is the list (default
    `root/<split>.txt`; a `{split}` in it is replaced). The augmentation of sample `i` in epoch `e` is a function
    of `(seed, e, i)`; `sampling` picks the frames: "tsm" (TSM's, the default) or "uniform" (`arc.data.sampling`).
    Raises `DataFormatError` for missing or malformed files."""
    from arc.data.clips import ClipDataset

    spec = get(name)
    index = read_index(name, root, split, list_file)
    return ClipDataset(index.records, index.classes, name=name, num_segments=num_segments,
                       train=split == "train" if train is None else train, clips=clips, crops=crops,
                       input_size=input_size, prescale=spec.prescale if prescale is _DEFAULT else prescale,
                       flip_policy=spec.flip, flip=flip, seed=seed, missing=index.missing, sampling=sampling)
