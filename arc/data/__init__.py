"""Video data for ARC-TSM: the datasets in their official formats, TSN sampling, the paper's augmentation,
and a built-in synthetic dataset (see docs/data.md)."""

from arc.data.clips import ClipDataset, Record, collate_clips, load_clip
from arc.data.datasets import DATASETS, DatasetInfo, build_dataset
from arc.data.errors import BadSample, BadSampleWarning, DataError, DataFormatError, MediaError
from arc.data.labels import flip_map, flip_pairs
from arc.data.sampling import sample_indices

__all__ = [
    "DATASETS", "BadSample", "BadSampleWarning", "ClipDataset", "DataError", "DataFormatError", "DatasetInfo",
    "MediaError", "Record", "build_dataset", "collate_clips", "flip_map", "flip_pairs", "load_clip",
    "sample_indices",
]
