"""Training ARC-TSM / TSM / TSN: one loop, the paper's recipe (docs/training.md) by default.

    summary = train(TrainConfig(dataset="synthetic", backbone="r18", n=4, epochs=3))
    # OUT/last.pt, OUT/best.pt, OUT/metrics.jsonl, OUT/config.json

`train()` sets up (configuration, runtime, data, the `Run`); then, per epoch, `train_one_epoch()` takes the steps and
`end_epoch()` validates, logs and saves. A step: the lr from the schedule, forward under autocast, cross-entropy,
backward (scaled for fp16), clip the global gradient norm, SGD step. A non-finite loss stops the run before the step,
leaving the last checkpoint. Distributed (torchrun): every rank trains its share, sums are reduced, rank 0 writes.

Resuming (`resume=PATH`) takes the run's configuration from the checkpoint; only its runtime options may differ.
It restores everything `Run.state_dict()` holds, so a run killed mid-epoch and resumed ends with the same weights
and metrics as an uninterrupted one (deterministic mode).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from arc.data.clips import collate_clips
from arc.data.home import resolve_data_root
from arc.data.loader import ResumableSampler, make_loader
from arc.data.registry import build_dataset
from arc.files import write_text
from arc.nn.choices import ablation_label
from arc.nn.models import build_model
from arc.runtime import distributed
from arc.runtime.device import Runtime, cpu_threads, default_workers, seed_everything
from arc.scoring import score
from arc.training import checkpoint
from arc.training.board import Board
from arc.training.config import ConfigError, TrainConfig
from arc.training.outdir import OutputDir, OutputError
from arc.training.report import Reporter
from arc.training.run import Run
from arc.training.schedule import Schedule
from arc.training.stop import SIGNALS, Interrupted, StopRequest


class TrainingStopped(RuntimeError):
    """The run stopped on purpose: non-finite loss or too many unreadable samples. The message says why."""


class Saver:
    """When to write `last.pt` inside an epoch: every `steps` steps and/or every `seconds` of wall time
    (`--save-every 500` / `--save-every 10m`)."""

    def __init__(self, config: TrainConfig):
        self.steps, self.seconds = config.save_interval()
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        return bool(self.steps and step % self.steps == 0) or \
            bool(self.seconds and time.monotonic() - self.last >= self.seconds)

    def saved(self) -> None:
        self.last = time.monotonic()


@dataclass
class Data:
    """The two splits of a run and their loaders (this rank's share)."""

    classes: list[str]
    train_size: int
    val_size: int
    train_loader: torch.utils.data.DataLoader
    train_sampler: ResumableSampler
    val_loader: torch.utils.data.DataLoader
    per_rank_batch: int
    workers: int


@dataclass
class Loop:
    """What the loop works with besides the run's state: the model as stepped (DDP / compiled), the data, the
    processes, the runtime, the reporter, the stop request and the ranks' agreement on it, when to save, TensorBoard
    (`board`, rank 0's; others' do nothing) and when its per-step scalars were last written (`window_start`)."""

    step_model: torch.nn.Module
    data: Data
    ctx: distributed.Context
    rt: Runtime
    report: Reporter
    stop: StopRequest
    agreement: distributed.Agreement
    saver: Saver
    board: Board
    window_start: float = dataclasses.field(default_factory=time.perf_counter)


# -- set-up ---------------------------------------------------------------------------------------------------


def train(cfg: TrainConfig) -> dict:
    """Train as `cfg` says; returns `{"out", "best_top1", "epochs", "last", "best", "metrics"}`.

    Raises `ConfigError` for bad options, data or output folders, `TrainingStopped` for a non-finite loss or too
    many unreadable samples, `CheckpointError` for a `resume` file that cannot be loaded, `WriteError` for a file that
    cannot be written (a full disk), and `Interrupted` after saving when SIGINT or SIGTERM asked the run to stop."""
    saved = checkpoint.load(cfg.resume) if cfg.resume else None
    if saved is not None:
        config, notes = TrainConfig.from_dict(saved["config"]).resumed_with(cfg), []
        config.validate()
        if config.epochs != saved["config"]["epochs"]:
            notes.append(f"--epochs {config.epochs}: the run saved for {saved['config']['epochs']} epochs is "
                         f"{'extended' if config.epochs > saved['config']['epochs'] else 'shortened'}; "
                         f"the lr schedule is recomputed over {config.epochs} epochs")
    else:
        config, notes = cfg.resolve()
    with cpu_threads(config.threads):
        try:
            rt = Runtime.create(config.device, amp=config.amp, channels_last=config.channels_last,
                                deterministic=config.deterministic)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        ctx = distributed.setup(rt.device)
        outdir = OutputDir(config.out, resume=config.resume if saved is not None else None,
                           overwrite=config.overwrite)
        try:
            notes += _on_rank0(ctx, outdir.open)
            with StopRequest() as stop:
                return _train(config, notes, saved, dataclasses.replace(rt, device=ctx.device), ctx, stop)
        finally:
            outdir.close()
            distributed.teardown(ctx)


def _on_rank0(ctx, fn) -> list:
    """`fn()` on rank 0; its `ConfigError`/`OutputError` raised on every rank (so no rank waits for a dead one)."""
    result, error = [], None
    if ctx.main:
        try:
            result = fn()
        except (ConfigError, OutputError) as e:
            error = str(e)
    error = distributed.broadcast_object(error, ctx)
    if error is not None:
        raise ConfigError(error)
    return result


def _train(config: TrainConfig, notes: list[str], saved: dict | None, rt: Runtime, ctx, stop: StopRequest) -> dict:
    report = Reporter(ctx, config.progress, config.log_every)
    for note in notes:
        report.info(note)
    seed_everything(config.seed, config.deterministic)
    data = open_data(config, ctx, rt, report)
    if saved is not None and data.classes != list(saved["classes"]):
        raise ConfigError(f"the classes of the data differ from those of the checkpoint {config.resume}")
    run = new_run(config, data, rt, report, saved)
    if run.epoch >= config.epochs:
        raise ConfigError(f"--epochs {config.epochs}: the run in {config.resume} has already trained {run.epoch} "
                          f"epochs; give a larger --epochs to extend it")
    step_model = run.model
    if ctx.distributed:
        step_model = torch.nn.parallel.DistributedDataParallel(
            run.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        torch.manual_seed(config.seed * 1000 + ctx.rank + run.step)
    if config.compile:
        step_model = torch.compile(step_model)
    out = Path(config.out)
    board = open_outputs(run, out, ctx, report, data, rt)
    loop = Loop(step_model, data, ctx, rt, report, stop, distributed.Agreement(ctx), Saver(config), board)
    with board:
        while run.epoch < config.epochs:
            start = time.perf_counter()
            train_one_epoch(run, loop)
            end_epoch(run, loop, seconds=time.perf_counter() - start)
    return {"out": str(out), "best_top1": run.best_top1, "epochs": run.epoch, "last": str(out / "last.pt"),
            "best": str(out / "best.pt"), "metrics": str(out / "metrics.jsonl")}


def open_data(config: TrainConfig, ctx, rt: Runtime, report: Reporter) -> Data:
    """Both splits and their loaders; rank 0 resolves the data root first (it may write the synthetic cache)."""
    if config.batch_size % ctx.world_size:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch: it must be divisible by the "
                          f"{ctx.world_size} processes")
    if ctx.main:
        root = _data_root(config)
    distributed.barrier(ctx)
    if not ctx.main:
        root = _data_root(config)
    train_set, val_set = (_open_split(config, split, root) for split in ("train", "val"))
    for split, ds in (("train", train_set), ("val", val_set)):
        if ds.missing and ctx.main:
            report.info(f"note: {len(ds.missing)} of {len(ds) + len(ds.missing)} {split} videos are not on disk "
                        f"and are left out (e.g. {ds.missing[0]})")
    per_rank = config.batch_size // ctx.world_size
    workers = default_workers(int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size))) if config.workers is None \
        else config.workers
    loader = dict(batch_size=per_rank, seed=config.seed, collate_fn=collate_clips, workers=workers,
                  rank=ctx.rank, world_size=ctx.world_size, pin_memory=rt.device.type == "cuda")
    train_loader, train_sampler = make_loader(train_set, train=True, **loader)
    val_loader, _ = make_loader(val_set, train=False, **loader)
    if len(train_loader) < 1:
        raise ConfigError(f"the training split has {len(train_set)} samples: too few for a global batch of "
                          f"{config.batch_size} (batches are full, the remainder is dropped)")
    return Data(list(train_set.classes), len(train_set), len(val_set), train_loader, train_sampler, val_loader,
                per_rank, workers)


def _data_root(config: TrainConfig) -> Path:
    try:
        return resolve_data_root(config.dataset, config.data_root, config.train_list, generate=config.generate)
    except (OSError, ValueError) as e:
        raise ConfigError(str(e)) from None


def _open_split(config: TrainConfig, split: str, root: Path):
    train = split == "train"
    try:
        return build_dataset(config.dataset, root, split, num_segments=config.num_segments, train=train,
                             clips=1 if train else config.test_clips, input_size=config.input_size,
                             seed=config.seed, list_file=config.train_list if train else config.val_list,
                             sampling=config.sampling)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot open the {split} split of {config.dataset} at {root}: {e}") from None


def new_run(config: TrainConfig, data: Data, rt: Runtime, report: Reporter, saved: dict | None) -> Run:
    """The model (pretrained as the recipe says, or the checkpoint's), optimiser, schedule and scaler."""
    try:
        model = build_model(**config.model_kwargs(len(data.classes)),
                            pretrained=None if saved is not None else config.pretrained)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if model.load_report is not None:
        report.info(str(model.load_report))
    rt.prepare(model)
    optimizer = torch.optim.SGD(param_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum)
    schedule = Schedule(config.schedule, config.lr, config.epochs, len(data.train_loader),
                        milestones=config.milestones, gamma=config.gamma, warmup_epochs=config.warmup_epochs)
    run = Run(config, data.classes, model, optimizer, schedule, torch.amp.GradScaler(rt.device.type,
                                                                                     enabled=rt.amp == "fp16"))
    if saved is not None:
        try:
            run.load_state_dict(saved)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise checkpoint.CheckpointError(f"{config.resume}: its state does not fit the run its config describes "
                                             f"({first})") from None
        report.info(f"resumed {config.resume}: epoch {run.epoch}, step {run.step}, batch {run.batch_in_epoch} of "
                    f"the epoch")
    return run


def param_groups(model, weight_decay: float) -> list[dict]:
    """Weight decay on weights (conv, linear, ARU maps); none on BatchNorm parameters and biases (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def open_outputs(run: Run, out: Path, ctx, report: Reporter, data: Data, rt: Runtime):
    """Rank 0: the output folder, `config.json`, `metrics.jsonl` cut to the resumed epoch, TensorBoard, the
    header line. Returns the run's `Board` (TensorBoard in OUT/tb; a resumed run hides the events written after
    its checkpoint; other ranks get one that does nothing)."""
    if not ctx.main:
        return Board(out / "tb", enabled=False)
    write_text(out / "config.json", json.dumps({**run.config.to_dict(), "classes": run.classes}, indent=2) + "\n")
    for warning in keep_metrics_until(out / "metrics.jsonl", run.epoch):
        report.warn(warning)
    c = run.config
    report.info(f"{c.dataset}: {data.train_size} train / {data.val_size} val clips, {len(run.classes)} classes; "
                f"{model_name(c)}; {c.epochs} epochs × {len(data.train_loader)} steps, global batch "
                f"{c.batch_size} on {ctx.world_size} × {rt}; {data.workers} loader worker(s) per process; "
                f"{c.test_clips} clip(s) per validation video; {run.schedule}; out {out}")
    return Board(out / "tb", purge_step=run.step)


# -- the loop ------------------------------------------------------------------------------------------------


def train_one_epoch(run: Run, loop: Loop) -> None:
    """The steps of one epoch, from `run.batch_in_epoch` on (a resumed epoch continues where it stopped).

    The loss, the sample count and a non-finite flag are summed on the device and read back only at the epoch's
    logging points (`flush`), so a step never waits for the device; the checks that can stop the run happen there,
    before any save."""
    c, data, steps = run.config, loop.data, len(loop.data.train_loader)
    loop.step_model.train()
    data.train_sampler.set_epoch(run.epoch, start=run.batch_in_epoch * data.per_rank_batch)
    loop.report.start(run.epoch + 1, c.epochs, steps, run.batch_in_epoch)
    pending = torch.zeros(PENDING, dtype=torch.float64, device=loop.rt.device)
    flushed = None      # the batch last read back: the epoch's last batch is a logging point, read back once
    try:
        for clips, labels, _, bad in data.train_loader:
            for b in bad:
                loop.report.warn(f"unreadable sample {b.path} ({b.reason}), replaced by the next readable one")
            run.sums.bad += [f"{b.path} ({b.reason})" for b in bad]
            lr = run.schedule.apply(run.optimizer, run.step)
            if labels.numel():
                pending += train_step(run, loop.step_model, clips, labels, loop.rt)
            elif loop.ctx.distributed:
                raise TrainingStopped(f"a whole batch of rank {loop.ctx.rank} was unreadable (e.g. {bad[0].path}): "
                                      f"the data is broken; stopping, {last_note(Path(c.out))}")
            run.step += 1
            run.batch_in_epoch += 1
            loop.report.advance(run.batch_in_epoch)
            stop_now, save_now = loop.agreement.exchange([loop.stop.requested, loop.saver.due(run.step)])
            if loop.report.log_point(run.batch_in_epoch) or stop_now or save_now:
                flush(run, loop, pending, lr)
                flushed = run.batch_in_epoch
            if (stop_now or save_now) and run.batch_in_epoch < steps:
                save(run, loop, "last.pt")
            if stop_now:
                raise interrupted(run, loop)
    finally:
        loop.report.stop()
    if flushed != run.batch_in_epoch:
        flush(run, loop, pending, run.schedule.lr_at_step(max(run.step - 1, 0)))


PENDING = 5  # what a step adds to the device sums: loss · samples, samples, non-finite, gradient norm, steps


def train_step(run: Run, step_model, clips, labels, rt: Runtime) -> torch.Tensor:
    """One optimiser step on a batch; returns `[loss · samples, samples, non-finite, gradient norm, 1]` on the device
    (no sync; the norm is the one clipped, 0 without `clip_grad`)."""
    clips, labels = clips[:, 0].to(rt.device, non_blocking=True), labels.to(rt.device, non_blocking=True)
    with rt.autocast():
        logits = step_model(clips)
    loss = F.cross_entropy(logits.float(), labels)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    norm = loss.new_zeros(())
    if run.config.clip_grad > 0:
        run.scaler.unscale_(run.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.clip_grad)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    n = labels.new_tensor(labels.numel(), dtype=torch.float64)
    loss = loss.detach().double()
    return torch.stack([loss * n, n, (~torch.isfinite(loss)).double(), norm.detach().double(), n.new_ones(())])


def flush(run: Run, loop: Loop, pending: torch.Tensor, lr: float) -> None:
    """Read the device sums back (one collective over the ranks), stop on a non-finite loss or too many unreadable
    samples, and show the running loss. The only place a training step waits for the device."""
    c = run.config
    local_bad = torch.tensor([float(len(run.sums.bad))], dtype=torch.float64, device=pending.device)
    totals = distributed.all_reduce_tensor(torch.cat([pending, local_bad]), loop.ctx).tolist()
    pending.zero_()
    loss_sum, samples, nonfinite, norm_sum, steps, bad = totals
    if nonfinite:
        raise TrainingStopped(f"the training loss is not finite at epoch {run.epoch + 1}, between steps "
                              f"{run.step - run.batch_in_epoch + 1} and {run.step} (lr {lr:.4g}): stopping, "
                              f"{last_note(Path(c.out))}")
    run.sums.loss_sum += loss_sum
    run.sums.samples += int(samples)
    run.sums.bad_total = int(bad)
    loop.report.log(run.batch_in_epoch, run.sums.loss, lr)
    now, seconds = time.perf_counter(), time.perf_counter() - loop.window_start
    if steps:
        loop.board.step(run.step, loss=loss_sum / max(samples, 1), lr=lr, clips_per_s=samples / max(seconds, 1e-9),
                        grad_norm=norm_sum / steps if c.clip_grad > 0 else None)
    loop.window_start = now
    if bad > c.max_bad_fraction * loop.data.train_size:
        every = sorted({b for r in distributed.all_gather_objects(run.sums.bad, loop.ctx) for b in r})
        raise TrainingStopped(f"{int(bad)} unreadable training sample(s), more than --max-bad-fraction "
                              f"{c.max_bad_fraction:g} of {loop.data.train_size}: stopping, {last_note(Path(c.out))}. "
                              f"Unreadable:\n  " + "\n  ".join(every))


def end_epoch(run: Run, loop: Loop, seconds: float) -> None:
    """After the steps of an epoch: save `last.pt` first (nothing after this costs the epoch's training), then
    validate with rank 0's BatchNorm statistics on every rank, log the metrics row, save `last.pt` and, when
    validation top-1 improved, `best.pt`. Unreadable validation videos are left out of the metrics, reported,
    and bounded by their own fraction. A stop asked for during validation ends it at the next batch (the `last.pt`
    written before validation holds the run at this point); one asked for after it, before the next epoch."""
    c, ctx, report, out = run.config, loop.ctx, loop.report, Path(run.config.out)
    distributed.broadcast_buffers(run.model, ctx)
    save(run, loop, "last.pt")
    if loop.agreement.settle([loop.stop.requested, False])[0]:
        raise interrupted(run, loop)
    most = math.ceil(math.ceil(loop.data.val_size / ctx.world_size) / loop.data.per_rank_batch)
    try:
        val = score(run.model, until_stopped(loop.data.val_loader, loop, most), len(run.classes), ctx,
                    amp=loop.rt.amp)
    except ValidationStopped:
        raise interrupted(run, loop, validating=True) from None
    val_bad = [f"{b.path} ({b.reason})" for b in val.bad]
    train_bad = sorted({b for r in distributed.all_gather_objects(run.sums.bad, ctx) for b in r}) \
        if run.sums.bad_total else []
    row = {"epoch": run.epoch + 1, "train_loss": run.sums.loss, "val_loss": val.loss, "val_top1": val.top1,
           "val_top5": val.top5, "lr": run.schedule.lr_at_step(run.step - 1), "seconds": seconds,
           "bad_samples": len(train_bad), "val_bad_samples": len(val_bad), "val_videos": val.videos}
    for what, listed in (("training", train_bad), ("validation", val_bad)):
        if listed:
            report.info(f"epoch {run.epoch + 1}: {len(listed)} unreadable {what} sample(s): " + "; ".join(listed))
    run.start_epoch()
    improved = val.top1 > run.best_top1
    run.best_top1 = max(run.best_top1, val.top1)
    if ctx.main:
        log_metrics(row, out)
        loop.board.epoch(row["epoch"], row, confusion=val.confusion)
        report.info(f"epoch {row['epoch']}/{c.epochs}: train loss {row['train_loss']:.4f}, val loss "
                    f"{row['val_loss']:.4f}, top-1 {100 * row['val_top1']:.2f}%, top-5 "
                    f"{100 * row['val_top5']:.2f}%, lr {row['lr']:.4g}, {seconds:.1f} s")
    save(run, loop, "last.pt")
    if improved:
        save(run, loop, "best.pt", metrics=row)
    distributed.barrier(ctx)
    if len(val_bad) > c.max_bad_fraction * loop.data.val_size:
        raise TrainingStopped(f"{len(val_bad)} of {loop.data.val_size} validation videos are unreadable, more than "
                              f"--max-bad-fraction {c.max_bad_fraction:g}: stopping after epoch {row['epoch']}, whose "
                              f"checkpoints and metrics are saved in {out}. Fix or remove them, then --resume "
                              f"{out / 'last.pt'}. Unreadable:\n  " + "\n  ".join(val_bad))
    if loop.agreement.settle([loop.stop.requested, False])[0] and run.epoch < c.epochs:
        raise interrupted(run, loop)


class ValidationStopped(Exception):
    """The ranks agreed to stop during validation (raised out of the validation loop by `until_stopped`)."""


def until_stopped(batches, loop: Loop, count: int):
    """The validation `batches`, ended by `ValidationStopped` at the next batch once the ranks agree to stop. Every
    rank takes part in `count` agreements (the most batches any rank has: ranks may hold one video fewer), so the
    ranks stay in step and all stop at the same agreement."""
    batches = iter(batches)
    for _ in range(count):
        if loop.agreement.exchange([loop.stop.requested, False])[0]:
            raise ValidationStopped
        batch = next(batches, None)
        if batch is not None:
            yield batch


def save(run: Run, loop: Loop, name: str, metrics: dict | None = None) -> None:
    """Rank 0 writes `run` to OUT/`name` (the full state, or the weights and `metrics` for best.pt); a model whose
    weights are no longer finite stops the run instead (one test over all parameters, one sync)."""
    loop.saver.saved()
    if not loop.ctx.main:
        return
    out = Path(run.config.out)
    params = [p.detach() for p in run.model.parameters()]
    if not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise TrainingStopped(f"the weights are no longer finite at step {run.step}: stopping, {last_note(out)}")
    checkpoint.save(run.state_dict() if metrics is None else run.weights(metrics), out / name)


def interrupted(run: Run, loop: Loop, validating: bool = False) -> Interrupted:
    """The `Interrupted` to raise once `last.pt` holds the run at this exact batch (`validating`: the run as it was
    before the validation under way, which the resumed run does again)."""
    signum = loop.stop.signum or signal.SIGTERM
    last = Path(run.config.out) / "last.pt"
    where = f"during the validation of epoch {run.epoch + 1} (step {run.step}); {last} holds the epoch's training " \
            f"and the resumed run validates it again" if validating else \
        f"at epoch {run.epoch + 1}, batch {run.batch_in_epoch} of {len(loop.data.train_loader)} (step {run.step}); " \
        f"saved {last}"
    return Interrupted(signum, f"stopped by {SIGNALS.get(signum, signum)} {where}. Resume with: arc train --resume "
                               f"{last}")


# -- helpers of the loop ---------------------------------------------------------------------------------------


def model_name(c: TrainConfig) -> str:
    """TSN / TSM / ARC-TSM, or MSN / ARC-MSN with the MotionSqueeze module, with the backbone (and ARC's steps,
    stages and the ablation options not at their defaults)."""
    b = c.backbone.upper()
    arc = c.n > 1 and bool(c.stages)
    if not c.shift:
        return f"TSN-{b}"
    what = ", ".join(filter(None, (f"n={c.n}", ",".join(c.stages), ablation_label(c.aru_terms, c.attention))))
    if c.motion == "ms":
        return f"ARC-MSN-{b} ({what})" if arc else f"MSN-{b}"
    return f"ARC-TSM-{b} ({what})" if arc else f"TSM-{b}"


def last_note(out: Path) -> str:
    last = out / "last.pt"
    if not last.is_file():
        return "no checkpoint had been written yet"
    try:
        s = checkpoint.load(last)
        return f"the last good checkpoint {last} (epoch {s['epoch']}, step {s['step']}) is kept"
    except checkpoint.CheckpointError:
        return f"the last checkpoint is {last}"


def log_metrics(row: dict, out: Path) -> None:
    """Add `row` to OUT/metrics.jsonl: the file is written anew, whole (`arc.files`), so no line is ever cut short."""
    path = out / "metrics.jsonl"
    before = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, before + json.dumps(row) + "\n")


def keep_metrics_until(path: Path, epoch: int) -> list[str]:
    """Drop rows of epochs after `epoch` (a resumed run rewrites them), and lines that are not a whole row (the torn
    last line of a write cut short by a crash); returns the warnings that say which lines went."""
    if not path.is_file():
        return []
    lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if line.strip()]
    kept, torn = [], []
    for number, line in lines:
        try:
            row = json.loads(line)
            later = row["epoch"] > epoch
        except (ValueError, TypeError, KeyError):
            torn.append(str(number))
            continue
        if not later:
            kept.append(line)
    if len(kept) < len(lines):
        write_text(path, "".join(line + "\n" for line in kept))
    return [f"{path}: dropped line {', '.join(torn)}, not a whole metrics row (a write cut short?)"] if torn else []
