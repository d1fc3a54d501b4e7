"""Distributed data parallel from torchrun's environment, in a few lines (nanoGPT style).

`torchrun --nproc_per_node K --no-python -- arc train …` sets `RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR` and
`MASTER_PORT`; without them the run is a single process. Backend: NCCL on CUDA, gloo on the CPU. Rank 0 alone
writes files and prints; metrics are summed over ranks with `all_reduce`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """True on the process that writes checkpoints, metrics and logs."""
        return self.rank == 0


def setup(device: torch.device) -> Context:
    """Join the process group torchrun describes (if any); on CUDA each process takes the GPU of its local rank."""
    dev = device
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(device=dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo",
                                **({"device_id": dev} if dev.type == "cuda" else {}))
    return Context(rank=rank, local_rank=local_rank, world_size=world, device=dev)


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values, ctx: Context) -> list[float]:
    """Sum a short list of numbers over all ranks (float64, so counts stay exact)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    if ctx.distributed:
        if ctx.device.type == "cuda":
            t = t.to(ctx.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def all_reduce_tensor(t: torch.Tensor, ctx: Context) -> torch.Tensor:
    """`t` summed over all ranks, in place, in one collective (on this rank's device)."""
    if ctx.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_objects(obj, ctx: Context) -> list:
    """Every rank's `obj` (small, picklable: e.g. lists of bad file names), in rank order."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(obj, ctx: Context):
    """Rank 0's `obj` on every rank (small and picklable: e.g. an error message or None)."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(model: torch.nn.Module, ctx: Context) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank.

    DDP broadcasts them at the start of each forward, so after the last step of an epoch every rank holds the
    statistics of its own last batch: validating or saving then would mix N slightly different models."""
    if ctx.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


class Agreement:
    """Flags that every rank must act on at the same step (stop now; save now), agreed without stalling the step:
    each step this rank's flags are summed over all ranks asynchronously on a CPU (gloo) group, and the result is
    read one step later, by which time it has long arrived. So all ranks act at the same step, one step after the
    first rank raised the flag; a single process acts at once."""

    def __init__(self, ctx: Context, size: int = 2):
        self.ctx, self.size = ctx, size
        self.group = None
        self.pending = None
        if ctx.distributed:
            self.group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD

    def exchange(self, flags: list[bool]) -> list[bool]:
        """Contribute this step's `flags`; returns the flags all ranks agree to act on now."""
        if not self.ctx.distributed:
            return [bool(f) for f in flags]
        mine = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int32)
        agreed = [False] * self.size
        if self.pending is not None:
            work, total = self.pending
            work.wait()
            agreed = [bool(v) for v in total.tolist()]
        work = dist.all_reduce(mine, op=dist.ReduceOp.SUM, group=self.group, async_op=True)
        self.pending = (work, mine)
        return agreed

    def settle(self, flags: list[bool]) -> list[bool]:
        """Blocking: the flags in flight and this call's `flags`, agreed over all ranks now (at an epoch's end)."""
        if not self.ctx.distributed:
            return [bool(f) for f in flags]
        agreed = [False] * self.size
        if self.pending is not None:
            work, total = self.pending
            work.wait()
            agreed = [bool(v) for v in total.tolist()]
            self.pending = None
        mine = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int32)
        dist.all_reduce(mine, op=dist.ReduceOp.SUM, group=self.group)
        return [a or bool(v) for a, v in zip(agreed, mine.tolist(), strict=True)]
