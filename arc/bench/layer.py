"""`arc bench layer`: forward + backward of `ARCConv2d` — its lean layer and its autograd definition — against the
plain conv it wraps, in time and in the memory kept for the backward.

Default shape: `C = 256`, `14×14`, `T = 8` frames, `N = 2` clips, `n = 4` — a ResNet `res4` 3×3 conv.
All run one training step's worth of autograd (input and parameters require grad, gradients set to None
before each run); they are timed alternately, and the median of `repeats` runs is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn

from arc.nn.choices import ARU_NAMES, IMPLS, check_impls
from arc.nn.layer import ARCConv2d
from arc.overhead import check_layer_args, flops_formula, measure_memory
from arc.runtime.device import cpu_threads, pick_device


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
    """Milliseconds between CUDA events on the current device (the caller makes the bench's device current)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def time_layer(
    repeats: int = 50, warmup: int = 5, threads: int | None = None, device: str = "cpu",
    C: int = 256, H: int = 14, T: int = 8, N: int = 2, n: int = 4, K: int = 3, pool: str = "max", seed: int = 0,
    impls=IMPLS, channels_last: bool = False,
) -> list[dict]:
    """Median forward+backward time (ms) of the plain conv and of ARC around it, one row per `impl`: `ratio` =
    time / plain time, `flop_ratio` = multiply-adds / plain (Eq. 8), `memory` = elements kept for the backward
    (`arc.overhead.measure_memory`, the input included) and `memory_ratio` = memory / plain's. `threads` sets
    torch's intra-op threads for the run (CPU); on CUDA (`cuda` or `cuda:N`) the runs are timed with CUDA events
    on that device."""
    check_layer_args(C, H, H, T, K, n, pool=pool)
    if repeats < 1 or warmup < 0 or N < 1:
        raise ValueError(f"repeats must be >= 1, warmup >= 0 and N >= 1; got {repeats}, {warmup}, {N}")
    impls = check_impls(impls)
    dev = pick_device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with cpu_threads(threads), (torch.cuda.device(dev) if dev.type == "cuda" else nullcontext()):
        gen = torch.Generator().manual_seed(seed)
        conv = nn.Conv2d(C, C, K, padding=K // 2, bias=False)
        layers = {"plain conv": conv}
        aru = {}
        for impl in impls:
            arc = ARCConv2d.from_conv(nn.Conv2d(C, C, K, padding=K // 2, bias=False), n=n, num_segments=T, pool=pool,
                                      impl=impl)
            with torch.no_grad():
                arc.weight.copy_(conv.weight)
                for name in ARU_NAMES:
                    p = getattr(arc, name)
                    if p is not None:
                        p.copy_(aru.setdefault(name, 0.01 * torch.randn(p.shape, generator=gen)))
            layers[f"ARC n={n} {impl}"] = arc
        layers = {name: m.to(dev, memory_format=fmt) for name, m in layers.items()}
        x = torch.randn(N * T, C, H, H, generator=gen).relu_().to(dev, memory_format=fmt).requires_grad_()
        grad = torch.randn(N * T, C, H, H, generator=gen).to(dev, memory_format=fmt)
        memory = {name: measure_memory(m, x) for name, m in layers.items()}
        steps = {name: step(m, x, grad) for name, m in layers.items()}
        timer = _time_cuda if dev.type == "cuda" else _time_cpu
        times: dict[str, list[float]] = {name: [] for name in steps}
        for i in range(warmup + repeats):
            for name, fn in steps.items():
                ms = timer(fn)
                if i >= warmup:
                    times[name].append(ms)
    plain_ms = statistics.median(times["plain conv"])
    plain_flops = flops_formula(C, H, H, T, K, 1)
    return [
        {"name": name, "median_ms": statistics.median(t), "ratio": statistics.median(t) / plain_ms,
         "flop_ratio": (plain_flops if name == "plain conv" else flops_formula(C, H, H, T, K, n)) / plain_flops,
         "memory": memory[name], "memory_ratio": memory[name] / memory["plain conv"]}
        for name, t in times.items()
    ]
