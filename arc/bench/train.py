"""`arc bench train`: training throughput of TSM-R18 vs ARC-TSM-R18 (n=4; its lean layer, and its autograd definition)
side by side, and whether data loading keeps up.

A training step is forward + cross-entropy + backward + SGD step on a batch of random clips `[B, T, 3, S, S]`
(the data cost is measured separately). The models' steps are interleaved (TSM, ARC, TSM, ARC, …) so that a
busy machine slows both alike, and the median step time is reported. The loader row reads the synthetic dataset
through the real DataLoader (decoding, augmentation, collation) at the demo's resolution and compares its clips/s
with the ARC model's training clips/s at that size: `ratio` > 1 means the loader keeps up.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from arc.nn.choices import IMPLS, check_impls
from arc.nn.models import build_model
from arc.overhead import NUM_CLASSES
from arc.runtime.device import Runtime, autocast, cpu_threads
from arc.training.recipes import RECIPES

ARC = {impl: f"ARC-TSM-R18 (n=4{'' if impl == 'lean' else ', ' + impl})" for impl in IMPLS}  # the row of each impl
MODELS = {"TSM-R18": dict(n=1), **{ARC[impl]: dict(n=4, impl=impl) for impl in IMPLS}}    # name -> build_model's


def forward_gflops(model, clip: torch.Tensor) -> float:
    """Forward multiply-adds of one clip, in G (torch's flop counter counts 2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(clip)
    return counter.get_total_flops() / 2e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(models: dict, *, size: int, frames: int, batch_size: int, steps: int, warmup: int,
                device: torch.device, amp: str, channels_last: bool, compile: bool = False) -> dict[str, list[float]]:
    """Seconds of each timed training step per model, interleaving the models step by step."""
    num_classes = next(iter(models.values())).fc.out_features
    runs = {}
    for name, model in models.items():
        model.to(device).train()
        if channels_last:
            model.to(memory_format=torch.channels_last)
        step_model = torch.compile(model) if compile else model
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        runs[name] = (step_model, opt, scaler)
    g = torch.Generator().manual_seed(0)
    clips = torch.randn(batch_size, frames, 3, size, size, generator=g).to(device)
    labels = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)
    times = {name: [] for name in models}
    for i in range(warmup + steps):
        for name, (model, opt, scaler) in runs.items():
            _sync(device)
            t0 = time.perf_counter()
            with autocast(device, amp):
                loss = F.cross_entropy(model(clips).float(), labels)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            _sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def loader_clips_per_s(*, size: int, frames: int, batch_size: int, batches: int, workers: int,
                       data_root=None) -> float:
    """Clips/s of the training DataLoader on the synthetic dataset (decode, augment, collate), after one warm-up
    batch (which includes starting the workers)."""
    from arc.data.clips import collate_clips
    from arc.data.home import resolve_data_root
    from arc.data.loader import make_loader
    from arc.data.registry import build_dataset

    root = resolve_data_root("synthetic", data_root)
    ds = build_dataset("synthetic", root, "train", num_segments=frames, train=True, input_size=size)
    loader, sampler = make_loader(ds, batch_size=batch_size, train=True, seed=0, collate_fn=collate_clips,
                                  workers=workers)
    sampler.set_epoch(0)
    it = iter(loader)
    next(it)
    t0, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            clips, *_ = next(it)
        except StopIteration:
            break
        n += clips.shape[0]
    return n / (time.perf_counter() - t0)


def time_training(*, sizes=(224, None), frames: int = 8, batch_size: int = 2, steps: int = 5, warmup: int = 1,
                  device: str | None = "cpu", amp: str = "none", channels_last: bool | None = None,
                  threads: int | None = None, loader: bool = True, workers: int = 2, loader_batches: int = 10,
                  data_root=None, compile: bool = False, impls=IMPLS, log=None) -> list[dict]:
    """Rows `{name, frames, size, batch, device, amp, gflops, step_s, clips_per_s, ratio}` per model and size — TSM,
    then ARC-TSM with each of `impls` (named by `ARC`) — with `gflops` the forward multiply-adds per clip and
    `ratio` = step time / TSM's step time; then one loader row per size (`ratio` = loader clips/s / ARC training
    clips/s at that size: > 1 keeps up). `None` in `sizes` is the synthetic demo's input size."""
    models = ("TSM-R18", *(ARC[impl] for impl in check_impls(impls)))
    rt = Runtime.create(device, amp=amp, channels_last=channels_last)
    demo = RECIPES["synthetic"].input_size
    sizes = [demo if s is None else int(s) for s in sizes]
    rows = []
    with cpu_threads(threads):
        for size in sizes:
            rows += _model_rows(size, frames, batch_size, steps, warmup, rt, compile, models, log)
        for size in sizes if loader else ():
            arc_row = next(r for r in rows if r["size"] == size and r["name"].startswith("ARC"))
            lcps = loader_clips_per_s(size=size, frames=frames, batch_size=batch_size, batches=loader_batches,
                                      workers=workers, data_root=data_root)
            rows.append({"name": f"data loader (synthetic, {workers} workers)", "frames": frames, "size": size,
                         "batch": batch_size, "device": "cpu", "amp": "-", "gflops": None,
                         "step_s": batch_size / lcps, "clips_per_s": lcps, "ratio": lcps / arc_row["clips_per_s"]})
            if log:
                log(_fmt(rows[-1]))
    return rows


def _model_rows(size: int, frames: int, batch_size: int, steps: int, warmup: int, rt: Runtime, compile: bool,
                names, log) -> list[dict]:
    torch.manual_seed(0)
    models = {name: build_model("r18", NUM_CLASSES, num_segments=frames, **MODELS[name]) for name in names}
    one = torch.zeros(1, frames, 3, size, size)
    flops = {name: forward_gflops(m.eval(), one) for name, m in models.items()}
    times = train_steps(models, size=size, frames=frames, batch_size=batch_size, steps=steps, warmup=warmup,
                        device=rt.device, amp=rt.amp, channels_last=rt.channels_last, compile=compile)
    base = statistics.median(times["TSM-R18"])
    rows = []
    for name, ts in times.items():
        step_s = statistics.median(ts)
        rows.append({"name": name, "frames": frames, "size": size, "batch": batch_size, "device": str(rt.device),
                     "amp": rt.amp, "gflops": flops[name], "step_s": step_s, "clips_per_s": batch_size / step_s,
                     "ratio": step_s / base})
        if log:
            log(_fmt(rows[-1]))
    return rows


def _fmt(r: dict) -> str:
    return (f"{r['name']:<34} T={r['frames']} {r['size']}px batch {r['batch']} {r['device']}: "
            f"{r['clips_per_s']:.2f} clips/s ({r['step_s'] * 1000:.0f} ms/batch), ratio {r['ratio']:.3f}")
