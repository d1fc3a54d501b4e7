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
import os
import re
import resource

import torch
import torch.nn.functional as F

from arc.nn.choices import IMPLS, check_impls
from arc.nn.models import build_model
from arc.overhead import NUM_CLASSES, check_model_args
from arc.runtime.device import pick_device

ARC = {impl: f"ARC-TSM (n=4{'' if impl == 'lean' else ', ' + impl})" for impl in IMPLS}  # the row of each impl
MODELS = {"TSM": dict(n=1), **{ARC[impl]: dict(n=4, impl=impl) for impl in IMPLS}}    # name -> build_model's
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072"}   # bytes: blocks over 128 KiB are mapped, and unmapped when freed
UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 10**3, "KIB": 2**10, "M": 2**20, "MB": 10**6, "MIB": 2**20,
         "G": 2**30, "GB": 10**9, "GIB": 2**30, "T": 2**40, "TB": 10**12, "TIB": 2**40}


def parse_bytes(text: str) -> int:
    """`"16GiB"`, `"16G"` (binary), `"500MB"` (decimal), `"1048576"` → bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in UNITS or float(m.group(1)) <= 0:
        raise ValueError(f"budget {text!r}: expected a size such as 16GiB, 500MB or 1048576")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def _resident() -> dict[str, int] | None:
    """This process's resident set now (`VmRSS`) and at its peak (`VmHWM`) in bytes, from one reading of
    /proc/self/status (Linux); None where it is not there."""
    try:
        with open("/proc/self/status") as f:
            sizes = {k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in f)
                     if k in ("VmRSS", "VmHWM")}
    except OSError:
        return None
    return sizes if len(sizes) == 2 else None


def _peak_rss() -> int:
    """The peak resident set since the process started, in bytes, where /proc is not there."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    torch.manual_seed(0)
    net = build_model(backbone, NUM_CLASSES, num_segments=frames, **MODELS[model]).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    clips = torch.randn(batch, frames, 3, size, size, device=dev)
    labels = torch.randint(0, NUM_CLASSES, (batch,), device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    else:
        now = _resident() if _reset_peak() else None
        before = _peak_rss() if now is None else now["VmRSS"]
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(clips), labels).backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        return before, torch.cuda.max_memory_allocated(dev)
    after = _resident() if now is not None else None
    return before, _peak_rss() if after is None else after["VmHWM"]


def _measure(args: tuple) -> tuple[int, int]:
    """`_train` in a fresh process on the CPU (its own peak resident set), in this one on CUDA. The fresh process
    runs with glibc's mmap threshold fixed (`FIXED_MALLOC`): under its default, adaptive threshold whether a freed
    activation goes back to the system depends on what was freed before, and the same run's per-clip peak varied
    by ±10 %; fixed, it repeats to within a MiB."""
    if torch.device(args[6]).type == "cuda":
        return _train(*args)
    saved = {k: os.environ.get(k) for k in FIXED_MALLOC}
    os.environ.update(FIXED_MALLOC)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(_train, args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def peak_memory(backbones=("r18", "r50"), impls=IMPLS, size: int = 224, frames: int = 8, batch: int = 2,
                steps: int = 2, device: str = "cpu", budget: int | None = None, threads: int | None = 1,
                log=None) -> list[dict]:
    """Rows `{backbone, name, size, frames, batch, device, before_bytes, peak_bytes, per_clip_bytes, ratio,
    max_batch}` per backbone and model — TSM, then ARC-TSM with each of `impls` (`ARC`): `per_clip_bytes = (peak −
    before) / batch`, `ratio` = per-clip memory / TSM's, `max_batch` = the largest batch whose predicted peak fits
    `budget` bytes (None without a budget, or when the steps did not raise the peak: too small a size to measure)."""
    models = ("TSM", *(ARC[impl] for impl in check_impls(impls)))
    for backbone in backbones:
        check_model_args(backbone, frames, size=size)
    for name, value in (("batch", batch), ("steps", steps)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    dev = pick_device(device)
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
