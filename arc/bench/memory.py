"""`arc bench memory`: peak memory of a few training steps of TSM and ARC-TSM (R18, R50), and the largest batch that
fits a memory budget.

Each model trains `steps` SGD steps on random clips `[B, T, 3, S, S]`. On the CPU every model runs in a fresh
process and reports its resident memory before the first step (model, optimizer, data, the Python runtime) and
its peak resident memory during the steps (Linux: `VmHWM`, reset before the first step through
`/proc/self/clear_refs`; elsewhere `ru_maxrss`, the peak since the process started); on CUDA
`torch.cuda.max_memory_allocated` against `memory_allocated` before the first step, in this process.
Training memory grows with the batch: `peak ≈ before + B · per_clip`, so the largest batch under a budget is
`⌊(budget − before) / per_clip⌋`.
"""

from __future__ import annotations

import multiprocessing
import re
import resource

import torch
import torch.nn.functional as F

from arc.nn.layer import ARCConv2d
from arc.nn.models import build_model

MODELS = {"TSM": dict(n=1), "ARC-TSM (n=4)": dict(n=4), "ARC-TSM (n=4, autograd)": dict(n=4, impl="autograd")}
UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 10**3, "KIB": 2**10, "M": 2**20, "MB": 10**6, "MIB": 2**20,
         "G": 2**30, "GB": 10**9, "GIB": 2**30, "T": 2**40, "TB": 10**12, "TIB": 2**40}


def parse_bytes(text: str) -> int:
    """`"16GiB"`, `"16G"` (binary), `"500MB"` (decimal), `"1048576"` → bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in UNITS or float(m.group(1)) <= 0:
        raise ValueError(f"budget {text!r}: expected a size such as 16GiB, 500MB or 1048576")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def _resident(field: str) -> int | None:
    """`VmRSS` / `VmHWM` of this process in bytes (Linux), None where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def _reset_peak() -> bool:
    """Reset this process's peak resident set to its current one (Linux ≥ 4.0); whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _train(backbone: str, model: str, size: int, frames: int, batch: int, steps: int, device: str,
           threads: int | None) -> tuple[int, int]:
    """Bytes in use before the first step and at the peak of `steps` training steps (see the module)."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    kw = dict(MODELS[model])
    impl = kw.pop("impl", "lean")
    torch.manual_seed(0)
    net = build_model(backbone, 174, num_segments=frames, **kw).to(dev).train()
    for m in net.modules():
        if isinstance(m, ARCConv2d):
            m.impl = impl
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    clips = torch.randn(batch, frames, 3, size, size, device=dev)
    labels = torch.randint(0, 174, (batch,), device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    else:
        hwm = _reset_peak() and _resident("VmRSS") is not None
        before = _resident("VmRSS") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(clips), labels).backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        return before, torch.cuda.max_memory_allocated(dev)
    return before, _resident("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(args: tuple) -> tuple[int, int]:
    """`_train` in a fresh process on the CPU (its own peak resident set), in this one on CUDA."""
    if torch.device(args[6]).type == "cuda":
        return _train(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_train, args)


def peak_memory(backbones=("r18", "r50"), models=tuple(MODELS), size: int = 224, frames: int = 8, batch: int = 2,
                steps: int = 2, device: str = "cpu", budget: int | None = None, threads: int | None = 1,
                log=None) -> list[dict]:
    """Rows `{backbone, name, size, frames, batch, device, before_bytes, peak_bytes, per_clip_bytes, ratio,
    max_batch}` per backbone and model: `per_clip_bytes = (peak − before) / batch`, `ratio` = per-clip memory /
    TSM's (the first model), `max_batch` = the largest batch whose predicted peak fits `budget` bytes (None without
    a budget, or when the steps did not raise the peak: too small a size to measure)."""
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models or models[0] != "TSM":
        raise ValueError(f"models must start with TSM and be among {', '.join(MODELS)}, got {list(models)}")
    for name, value in (("size", size), ("frames", frames), ("batch", batch), ("steps", steps)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels (ResNet's stride), got {size}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    rows = []
    for backbone in backbones:
        base = None
        for model in models:
            before, peak = _measure((backbone, model, size, frames, batch, steps, str(dev), threads))
            per_clip = max(peak - before, 0) / batch
            base = per_clip if base is None else base
            fits = None if budget is None or per_clip <= 0 else max(0, int((budget - before) // per_clip))
            rows.append({"backbone": backbone, "name": model, "size": size, "frames": frames, "batch": batch,
                         "device": str(dev), "before_bytes": before, "peak_bytes": peak, "per_clip_bytes": per_clip,
                         "ratio": per_clip / base if base else None, "max_batch": fits})
            if log:
                log(_fmt(rows[-1]))
    return rows


def _fmt(r: dict) -> str:
    fits = "" if r["max_batch"] is None else f", {r['max_batch']} clips fit the budget"
    return (f"{r['backbone']} {r['name']:<24} {r['size']}px T={r['frames']} batch {r['batch']} {r['device']}: peak "
            f"{r['peak_bytes'] / 2**30:.2f} GiB, {r['per_clip_bytes'] / 2**20:.0f} MiB per clip, ratio "
            f"{r['ratio']:.3f}{fits}")
