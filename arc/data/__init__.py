"""The data room: datasets in their official formats (`formats`, `registry`), reading media (`video`), TSN
sampling (`sampling`), the paper's augmentation (`transforms`), clips and batches (`clips`), resumable loading
(`loader`), where datasets live (`home`), checks (`check`) and the synthetic dataset (`synth`). See docs/data.md.

Names load on first use, so the registry can be read without importing torch.
"""

from arc._lazy import exports

_PUBLIC = {
    "DATASETS": "arc.data.registry", "DatasetSpec": "arc.data.registry", "build_dataset": "arc.data.registry",
    "read_index": "arc.data.registry", "SPLITS": "arc.data.registry",
    "Index": "arc.data.formats", "Record": "arc.data.formats",
    "ClipDataset": "arc.data.clips", "collate_clips": "arc.data.clips", "load_clip": "arc.data.clips",
    "BadSample": "arc.data.errors", "DataError": "arc.data.errors", "DataFormatError": "arc.data.errors",
    "MediaError": "arc.data.errors", "MissingDataFile": "arc.data.errors",
    "flip_map": "arc.data.labels", "flip_pairs": "arc.data.labels",
    "sample_indices": "arc.data.sampling",
    "resolve_data_root": "arc.data.home",
}
__all__ = list(_PUBLIC)

__getattr__ = exports(__name__, _PUBLIC)
