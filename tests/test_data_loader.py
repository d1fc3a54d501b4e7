"""The resumable, seeded, distributed sampler, and augmentation that depends on (seed, epoch, index) alone."""

import random

import numpy as np
import pytest
import torch
from datafiles import write_frames

from arc.data.clips import ClipDataset, collate_clips
from arc.data.formats import Record
from arc.data.loader import ResumableSampler, make_loader


def test_sampler_order_depends_only_on_seed_and_epoch():
    a = ResumableSampler(50, shuffle=True, seed=7)
    b = ResumableSampler(50, shuffle=True, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    assert a.indices() == b.indices() and sorted(a.indices()) == list(range(50))
    b.set_epoch(4)
    assert a.indices() != b.indices()
    assert [k for k, _ in a] == a.indices() and {e for _, e in a} == {3}


@pytest.mark.parametrize("size, world", [(50, 2), (50, 3), (7, 4), (64, 8)])
def test_training_ranks_get_equal_disjoint_shares(size, world):
    shares = []
    for rank in range(world):
        s = ResumableSampler(size, shuffle=True, seed=1, rank=rank, world_size=world)
        s.set_epoch(2)
        shares.append(s.indices())
    assert len({len(x) for x in shares}) == 1 and len(shares[0]) == size // world
    union = [i for x in shares for i in x]
    assert len(set(union)) == len(union) == size - size % world


@pytest.mark.parametrize("size, world", [(50, 3), (5, 4), (3, 8)])
def test_evaluation_ranks_cover_every_sample_exactly_once(size, world):
    union = []
    for rank in range(world):
        union += ResumableSampler(size, shuffle=False, rank=rank, world_size=world).indices()
    assert sorted(union) == list(range(size))


def test_sampler_started_mid_epoch_yields_the_rest_of_the_same_order():
    s = ResumableSampler(40, shuffle=True, seed=5, rank=1, world_size=2)
    s.set_epoch(1)
    full = [k for k, _ in s]
    s.set_epoch(1, start=12)
    assert [k for k, _ in s] == full[12:] and len(s) == len(full) - 12


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """12 frame folders of 10 frames, labels 0/1, read as a training set (random offsets, crop, flip)."""
    root = tmp_path_factory.mktemp("videos")
    records = [Record(write_frames(root / str(i), 10, size=(30, 40)), i % 2) for i in range(12)]
    return ClipDataset(records, ["a", "b"], name="t", num_segments=4, train=True, input_size=16, seed=3)


def test_a_sample_depends_only_on_seed_epoch_and_index_and_leaves_global_rngs_alone(videos):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    x = videos[(5, 2)][0]
    assert torch.equal(torch.get_rng_state(), states[0]) and random.getstate() == states[1]
    assert np.array_equal(np.random.get_state()[1], states[2])
    assert torch.equal(videos[(5, 2)][0], x)
    assert not torch.equal(videos[(5, 3)][0], x)
    draws = {}
    for workers in (0, 2):
        loader, sampler = make_loader(videos, batch_size=4, train=True, seed=3, collate_fn=collate_clips,
                                      workers=workers)
        sampler.set_epoch(2)
        draws[workers] = {int(i): v for vs, _, idx, _ in loader for i, v in zip(idx, vs, strict=True)}
    assert draws[0].keys() == draws[2].keys() and len(draws[0]) == 12
    assert all(torch.equal(draws[0][i], draws[2][i]) for i in draws[0])
    assert torch.equal(draws[0][5], x)


def test_making_an_iterator_does_not_draw_from_the_global_rng(videos):
    loader, sampler = make_loader(videos, batch_size=4, train=True, seed=0, collate_fn=collate_clips)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    next(iter(loader))
    assert torch.equal(torch.get_rng_state(), state)
