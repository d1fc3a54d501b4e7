"""Two real gloo processes: after DDP steps each rank's BatchNorm statistics differ until `broadcast_buffers` makes
them rank 0's; a flag raised on one rank is acted on by both at the same step; a collective sums tensors."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from arc.runtime import distributed


def worker(rank: int, world: int, init_file: str, results):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    ctx = distributed.Context(rank=rank, world_size=world)
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
    results[rank] = (differ_before, equal_after, acted, settled, total)
    dist.destroy_process_group()


def test_buffers_agreement_and_sums_over_two_gloo_processes(tmp_path):
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(worker, args=(2, str(tmp_path / "init"), results), nprocs=2, join=True)
    for rank in (0, 1):
        differ_before, equal_after, acted, settled, total = results[rank]
        assert differ_before and equal_after
        assert acted == [False, False, False, True, False]        # raised at step 2 on rank 1, acted on at step 3
        assert settled and total == [2.0, 1.0]
