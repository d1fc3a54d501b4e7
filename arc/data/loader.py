"""Data loading that can be resumed at the exact batch: a seeded, distributed, resumable sampler.

`ResumableSampler` gives every epoch a permutation drawn from `(seed, epoch)` alone, splits it over the ranks
(`perm[rank::world]`, like `DistributedSampler`), can start at batch `k` of an epoch, and yields `(index, epoch)`
keys. The dataset (`arc.data.clips.ClipDataset`) draws a sample's random crop, flip and frame offsets from
`(seed, epoch, index)` alone, so they do not depend on which worker reads it, on the number of workers, or on where
a run was resumed: the resumed run sees the same samples, in the same order, augmented the same way.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler


class ResumableSampler(Sampler):
    """Yields `(index, epoch)` keys for this rank; `set_epoch(epoch, start=k)` skips the first `k` keys.

    Training (`shuffle=True, drop_last=True`): a permutation of `size` from `(seed, epoch)`, cut to a multiple of
    `world_size` so every rank gets the same count. Evaluation (`shuffle=False, drop_last=False`): rank `r` takes
    `r, r + world, …`, every sample exactly once over all ranks."""

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 drop_last: bool | None = None):
        self.size, self.shuffle, self.seed = int(size), bool(shuffle), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.drop_last = self.shuffle if drop_last is None else bool(drop_last)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def indices(self) -> list[int]:
        """This rank's sample indices for the current epoch, from its beginning."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.drop_last:
            order = order[: self.size - self.size % self.world_size]
        return order[self.rank:: self.world_size]

    def __iter__(self):
        for i in self.indices()[self.start:]:
            yield (i, self.epoch)

    def __len__(self) -> int:
        return max(len(self.indices()) - self.start, 0)


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


def make_loader(dataset, *, batch_size: int, train: bool, seed: int, collate_fn, workers: int = 0, rank: int = 0,
                world_size: int = 1, pin_memory: bool = False) -> tuple[DataLoader, ResumableSampler]:
    """A DataLoader over `dataset` for one rank, and its sampler (call `sampler.set_epoch` before each epoch).

    The loader has its own generator, so creating an iterator never draws from the global torch RNG (which the
    training step's dropout uses): resumed and uninterrupted runs draw the same dropout masks. Its workers persist
    across epochs (a sample depends on its `(index, epoch)` key alone, not on worker state)."""
    sampler = ResumableSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size)
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate_fn, drop_last=train, pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed), persistent_workers=workers > 0,
    )
    return loader, sampler
