"""The clip dataset every format loads into, its collate function, and one-off clip loading for `arc predict`."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from arc.data.errors import BadSample, MediaError
from arc.data.formats import Record
from arc.data.labels import flip_map as make_flip_map
from arc.data.sampling import SAMPLINGS, sample_indices
from arc.data.transforms import ClipTransform
from arc.data.video import open_media


class ClipDataset(Dataset):
    """Videos → `(clip, label, index, bad)` with `clip` float32 `[V, T, 3, S, S]` (V = clips·crops, 1 in training).

    An unreadable video or frame folder is not raised. In training it is replaced by the next readable video of the
    index (as TSM does), so batches stay full and every process of a torchrun job takes the same steps, and it is
    listed in `bad` (`BadSample`: the file and the reason) for the caller to report; after `retries` unreadable
    ones in a row a `BadSample` is returned instead. At test time a `BadSample` takes the item's place: it is left
    out of the metrics, not replaced. `collate_clips` drops `BadSample`s and gathers every `bad`.

    `sampling` picks the frames (`arc.data.sampling`): "tsm" (TSM's, the default) or "uniform".

    Randomness (training offsets, crop, flip): `dataset[(i, e)]` — sample `i` in epoch `e`, the keys
    `arc.data.loader.ResumableSampler` yields — draws from `numpy.random.default_rng((seed, e, i))` and from
    nothing else, so a sample is the same in any worker process and after a resume; `dataset[i]` is epoch 0."""

    def __init__(self, records: list[Record], classes: list[str], *, name: str, num_segments: int = 8,
                 train: bool = False, clips: int = 1, crops: int = 1, input_size: int = 224,
                 prescale=None, flip_policy: str = "always", flip: bool = True, seed: int = 0, missing=(),
                 retries: int | None = None, sampling: str = "tsm"):
        if train and (clips != 1 or crops != 1):
            raise ValueError("training uses one clip and one crop per video (clips=1, crops=1)")
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        self.sampling = sampling
        self.records = list(records)
        self.missing = list(missing)      # entries of the index whose video is not on disk (left out)
        self.retries = (10 if train else 0) if retries is None else retries
        self.classes = list(classes)
        self.name = name
        self.num_segments = num_segments
        self.train = train
        self.clips = clips
        self.crops = crops
        self.input_size = input_size
        self.prescale = prescale
        self.flip_policy = flip_policy if flip else "never"
        self.seed = int(seed)
        self.transform = ClipTransform(
            input_size=input_size, prescale=prescale, train=train, crops=crops,
            flip_map=make_flip_map(self.classes, self.flip_policy) if train and flip else None)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        return np.array([r.label for r in self.records], dtype=np.int64)

    @property
    def views(self) -> int:
        return 1 if self.train else self.clips * self.crops

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key):
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        bad = []
        for j in (i + k for k in range(min(self.retries + 1, len(self.records)))):
            j %= len(self.records)
            rec = self.records[j]
            rng = np.random.default_rng((self.seed, epoch, j))
            try:
                images = read_clips(rec.path, self.num_segments, self.train, self.clips, rng, self.sampling)
            except MediaError as e:
                bad.append(BadSample(str(rec.path), e.reason, j))
                continue
            clip, label = self.transform(images, rec.label, rng)
            return clip, label, j, bad
        return bad[0] if len(bad) == 1 else BadSample(bad[0].path, bad[0].reason, i, tuple(bad[1:]))

    def __repr__(self) -> str:
        mode = "train" if self.train else f"test, {self.clips} clip(s) x {self.crops} crop(s)"
        return (f"ClipDataset({self.name!r}, {len(self)} videos, {self.num_classes} classes, "
                f"T={self.num_segments}, size={self.input_size}, {mode})")


def read_clips(path, num_segments: int, train: bool, clips: int, rng, sampling: str = "tsm") -> list[list]:
    """The frames of each clip of the video at `path` (TSN sampling), as RGB images."""
    with open_media(path) as media:
        idx = sample_indices(media.num_frames, num_segments, train=train, clips=clips, rng=rng, sampling=sampling)
        images = media.read(idx.ravel())
    return [images[c * num_segments:(c + 1) * num_segments] for c in range(idx.shape[0])]


def collate_clips(batch):
    """`[(clip, label, index, bad) | BadSample]` → `(clips [B,V,T,3,S,S], labels [B], indices [B], bad)`.

    Bad samples are dropped from the tensors and returned, with those replaced in training, in `bad`; when all are
    bad the tensors are empty."""
    good = [b for b in batch if not isinstance(b, BadSample)]
    bad = [s for b in batch for s in ((b, *b.also) if isinstance(b, BadSample) else b[3])]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), bad
    clips = torch.stack([g[0] for g in good])
    labels = torch.tensor([g[1] for g in good], dtype=torch.long)
    indices = torch.tensor([g[2] for g in good], dtype=torch.long)
    return clips, labels, indices, bad


def load_clip(path, *, num_segments: int = 8, clips: int = 1, crops: int = 1, input_size: int = 224,
              prescale=None, sampling: str = "tsm") -> torch.Tensor:
    """Test-time views `[V, T, 3, S, S]` of one video file or frame folder (for `arc predict`).

    `prescale` as in the dataset table (`None`, shorter side, or `(h, w)`, sizes for input 224).
    Raises `MediaError` (a ValueError) naming the file when it cannot be read."""
    images = read_clips(path, num_segments, False, clips, None, sampling)
    transform = ClipTransform(input_size=input_size, prescale=prescale, train=False, crops=crops)
    views, _ = transform(images, -1)
    return views
