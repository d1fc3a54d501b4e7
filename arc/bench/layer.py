"""`arc bench layer`: forward + backward of `ARCConv2d` against the plain conv it wraps.

Default shape: `C = 256`, `14×14`, `T = 8` frames, `N = 2` clips, `n = 4` — a ResNet `res4` 3×3 conv.
Both run one training step's worth of autograd (input and parameters require grad, gradients set to None
before each run); the two are timed alternately, and the median of `repeats` runs is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from arc.nn.layer import ARCConv2d
from arc.overhead import check_layer_args, flops_formula
from arc.runtime.device import cpu_threads


def step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad)

    return run


def _time_cpu(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _time_cuda(fn: Callable[[], None]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def time_layer(
    repeats: int = 50, warmup: int = 5, threads: int | None = None, device: str = "cpu",
    C: int = 256, H: int = 14, T: int = 8, N: int = 2, n: int = 4, K: int = 3, pool: str = "max", seed: int = 0,
) -> list[dict]:
    """Median forward+backward time (ms) of the plain conv and of ARC around it; `ratio` = time / plain time,
    `flop_ratio` = multiply-adds / plain (Eq. 8). `threads` sets torch's intra-op threads for the run (CPU);
    on CUDA the runs are timed with CUDA events."""
    check_layer_args(C, H, H, T, K, n, pool=pool)
    if repeats < 1 or warmup < 0 or N < 1:
        raise ValueError(f"repeats must be >= 1, warmup >= 0 and N >= 1; got {repeats}, {warmup}, {N}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    with cpu_threads(threads):
        gen = torch.Generator().manual_seed(seed)
        conv = nn.Conv2d(C, C, K, padding=K // 2, bias=False)
        arc = ARCConv2d.from_conv(nn.Conv2d(C, C, K, padding=K // 2, bias=False), n=n, num_segments=T, pool=pool)
        with torch.no_grad():
            arc.weight.copy_(conv.weight)
            for p in (arc.embed, arc.fuse, arc.attend):
                if p is not None:
                    p.copy_(0.01 * torch.randn(p.shape, generator=gen))
        conv, arc = conv.to(device), arc.to(device)
        x = torch.randn(N * T, C, H, H, generator=gen).relu_().to(device).requires_grad_()
        grad = torch.randn(N * T, C, H, H, generator=gen).to(device)
        steps = {"plain conv": step(conv, x, grad), f"ARC n={n}": step(arc, x, grad)}
        timer = _time_cuda if device.startswith("cuda") else _time_cpu
        times: dict[str, list[float]] = {name: [] for name in steps}
        for i in range(warmup + repeats):
            for name, fn in steps.items():
                ms = timer(fn)
                if i >= warmup:
                    times[name].append(ms)
    plain_ms = statistics.median(times["plain conv"])
    flops = {"plain conv": flops_formula(C, H, H, T, K, 1), f"ARC n={n}": flops_formula(C, H, H, T, K, n)}
    return [
        {"name": name, "median_ms": statistics.median(t), "ratio": statistics.median(t) / plain_ms,
         "flop_ratio": flops[name] / flops["plain conv"]}
        for name, t in times.items()
    ]
