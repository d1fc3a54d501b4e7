"""Two real gloo processes joined the way torchrun joins them (its environment variables, `distributed.setup`): after
DDP steps each rank's BatchNorm statistics differ until `broadcast_buffers` makes them rank 0's; a flag raised on one
rank is acted on by both at the same step; the collectives sum, gather and broadcast; the loaders share the samples
out. One process: every helper is the identity."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from arc.data.loader import make_loader
from arc.runtime import distributed

BIG = 2**24 + 1     # the first integer float32 cannot hold: sums of counts stay exact in float64


class Indices:
    """A 10-sample dataset whose sample is its index (read by the sampler's `(index, epoch)` keys)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, key: tuple[int, int]) -> int:
        return key[0]


def shares(rank: int, world: int, train: bool) -> list[int]:
    """The sample indices rank `rank`'s loader reads in epoch 1 of a 10-sample dataset (batches of 2)."""
    loader, sampler = make_loader(Indices(), batch_size=2, train=train, seed=4, rank=rank, world_size=world,
                                  collate_fn=list)
    sampler.set_epoch(1)
    return [i for batch in loader for i in batch]


def worker(rank: int, world: int, port: int, results):
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    ctx = distributed.setup(torch.device("cpu"))
    joined = (ctx.rank, ctx.local_rank, ctx.world_size, ctx.distributed, ctx.main, dist.get_backend())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    for _ in range(3):
        ddp(torch.randn(2, 3, 8, 8) + rank).sum().backward()     # each rank its own batch
    gathered = [torch.zeros(4) for _ in range(world)]
    dist.all_gather(gathered, model[1].running_mean.clone())
    differ_before = not torch.equal(gathered[0], gathered[1])
    distributed.broadcast_buffers(model, ctx)
    dist.all_gather(gathered, model[1].running_mean.clone())
    equal_after = torch.equal(gathered[0], gathered[1])
    agreement = distributed.Agreement(ctx)
    acted = [agreement.exchange([rank == 1 and step == 2, False])[0] for step in range(5)]
    settled = agreement.settle([rank == 0, False])[0]
    total = distributed.all_reduce_tensor(torch.tensor([1.0, rank]), ctx).tolist()
    counts = distributed.all_reduce_sum([BIG, rank, 0.5], ctx)
    every = distributed.all_gather_objects({"rank": rank, "bad": [f"video{rank}"]}, ctx)
    told = distributed.broadcast_object(f"said by rank {rank}", ctx)
    loaded = distributed.all_gather_objects([shares(rank, world, True), shares(rank, world, False)], ctx)
    distributed.barrier(ctx)
    distributed.teardown(ctx)
    results[rank] = (joined, differ_before, equal_after, acted, settled, total, counts, every, told, loaded,
                     dist.is_initialized())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_helpers_over_two_gloo_processes_joined_from_torchruns_environment():
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(worker, args=(2, free_port(), results), nprocs=2, join=True)
    for rank in (0, 1):
        joined, differ_before, equal_after, acted, settled, total, counts, every, told, loaded, still = results[rank]
        assert joined == (rank, rank, 2, True, rank == 0, "gloo")
        assert differ_before and equal_after
        assert acted == [False, False, False, True, False]        # raised at step 2 on rank 1, acted on at step 3
        assert settled and total == [2.0, 1.0]
        assert counts == [2 * BIG, 1.0, 1.0]
        assert every == [{"rank": 0, "bad": ["video0"]}, {"rank": 1, "bad": ["video1"]}]
        assert told == "said by rank 0" and not still
        (train0, val0), (train1, val1) = loaded
        assert len(train0) == len(train1) == 4 and not set(train0) & set(train1)   # 10 // 2 ranks, batches of 2
        assert train0 + train1 != list(range(8)) and train0 == shares(0, 2, True)  # shuffled, by (seed, epoch)
        assert val0 == [0, 2, 4, 6, 8] and val1 == [1, 3, 5, 7, 9]                # every sample once


def test_one_process_is_its_own_world(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.setup(torch.device("cpu"))
    assert (ctx.rank, ctx.world_size, ctx.distributed, ctx.main) == (0, 1, False, True)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.setup(torch.device("cpu")) == ctx and not dist.is_initialized()
    assert distributed.all_reduce_sum([BIG, 0.5], ctx) == [BIG, 0.5]
    t = torch.tensor([3.0])
    assert distributed.all_reduce_tensor(t, ctx) is t and t.item() == 3.0
    assert distributed.all_gather_objects(["a"], ctx) == [["a"]]
    assert distributed.broadcast_object({"x": 1}, ctx) == {"x": 1}
    agreement = distributed.Agreement(ctx)
    assert agreement.exchange([1, 0]) == [True, False] and agreement.settle([0, 1]) == [False, True]
    distributed.barrier(ctx)
    distributed.teardown(ctx)
    assert shares(0, 1, False) == list(range(10)) and sorted(shares(0, 1, True)) == list(range(10))
