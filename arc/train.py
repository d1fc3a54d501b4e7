"""Training ARC-TSM / TSM / TSN: one loop, the paper's recipe (SPEC §4) by default.

    cfg = TrainConfig(dataset="synthetic", backbone="r18", n=4, epochs=3)
    summary = train(cfg)          # OUT/last.pt, OUT/best.pt, OUT/metrics.jsonl, OUT/config.json

Per step: the lr from the schedule, forward under autocast, cross-entropy, backward (scaled for fp16), clip the
global gradient norm, SGD step. A non-finite loss stops the run before the step, leaving the last checkpoint. Per
epoch: validation, one line appended to `metrics.jsonl`, `last.pt` (also every `save_every` steps), `best.pt`
when top-1 improves. Distributed (torchrun): every rank trains its share, sums are reduced, rank 0 writes.

Resuming (`resume=PATH`) takes the run's configuration from the checkpoint; only the runtime options in
`RUNTIME` may differ. It restores model, optimiser, schedule, scaler, RNG states and the sampler position, so a run
killed mid-epoch and resumed ends with the same weights and metrics as an uninterrupted one (deterministic mode).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from arc import checkpoint as ckpt
from arc import distributed, recipes
from arc.evaluate import autocast, resolve_data_root, score
from arc.loader import make_loader
from arc.schedule import Schedule


class ConfigError(ValueError):
    """A bad option or a dataset that cannot be opened (the CLI reports it as a usage error)."""


class TrainingStopped(RuntimeError):
    """The run stopped on purpose: non-finite loss or too many unreadable samples. The message says why."""


@dataclass
class TrainConfig:
    """Options of `arc train`. `None` means the dataset recipe's value (`arc.recipes`) or the default below."""

    dataset: str = "synthetic"
    data_root: str | None = None          # folder as distributed; synthetic: cache folder (generated if missing)
    train_list: str | None = None         # dataset "list": the list files
    val_list: str | None = None
    backbone: str = "r18"
    n: int = 4                            # ARC parts; 1 = TSM
    stages: str = "res3,res4,res5"        # ARC stages, or "none" (= TSM)
    shift: bool = True                    # False = TSN (no temporal shift)
    aru_pool: str = "max"
    aru_act: str = "relu"
    frames: int | None = None
    epochs: int | None = None
    batch_size: int | None = None         # global, over all processes
    lr: float | None = None
    wd: float | None = None
    dropout: float | None = None
    clip_grad: float | None = None        # 0 = no clipping
    input_size: int | None = None
    pretrained: str | None = None         # "imagenet", a path, "none"; None = recipe
    milestones: str | None = None         # "30,40"
    schedule: str | None = None
    warmup_epochs: float | None = None
    workers: int | None = None            # None = min(4, CPUs)
    threads: int | None = None            # torch CPU threads per process; None = torch's default
    out: str | None = None                # None = runs/<dataset>-<backbone>-<arch>
    resume: str | None = None
    save_every: int = 0                   # also write last.pt every this many steps (0 = once per epoch)
    seed: int = 0
    deterministic: bool = False
    device: str | None = None             # None/"auto" = cuda if available
    amp: str = "auto"                     # none | bf16 | fp16 | auto (bf16 on CUDA, none on CPU)
    channels_last: bool | None = None     # None = on CUDA
    compile: bool = False
    max_bad_fraction: float = 0.01
    log_every: int = 0                    # plain-log lines every this many steps (0 = about 5 per epoch)
    progress: bool | None = None          # rich progress bar; None = when stdout is a terminal


# may differ between a checkpoint and the run that resumes it
RUNTIME = ("data_root", "workers", "threads", "out", "resume", "save_every", "device", "amp", "channels_last",
           "compile", "max_bad_fraction", "log_every", "progress")


# -- set-up ---------------------------------------------------------------------------------------------------


def resolve_config(cfg: TrainConfig) -> tuple[dict, list[str]]:
    """Fill every `None` from the recipe; returns the resolved options as a plain dict and the notes to print."""
    if cfg.dataset not in recipes.DATASETS:
        raise ConfigError(f"--dataset {cfg.dataset!r}: expected one of {', '.join(recipes.DATASETS)}")
    milestones = None
    if cfg.milestones is not None:
        try:
            milestones = tuple(int(m) for m in str(cfg.milestones).split(",") if m.strip())
        except ValueError:
            raise ConfigError(f"--milestones {cfg.milestones!r}: expected comma-separated epochs, e.g. 30,40") from None
    pretrained = cfg.pretrained
    try:
        r = recipes.resolve(cfg.dataset, frames=cfg.frames, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                            weight_decay=cfg.wd, dropout=cfg.dropout, clip_grad=cfg.clip_grad,
                            input_size=cfg.input_size, milestones=milestones, schedule=cfg.schedule,
                            warmup_epochs=cfg.warmup_epochs)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if pretrained is None:
        pretrained = r.pretrained
    elif pretrained.lower() == "none":
        pretrained = None
    out = dataclasses.asdict(cfg)
    out.update(frames=r.frames, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr, wd=r.weight_decay,
               dropout=r.dropout, clip_grad=r.clip_grad, input_size=r.input_size, milestones=list(r.milestones),
               schedule=r.schedule, warmup_epochs=r.warmup_epochs, pretrained=pretrained, gamma=r.gamma,
               momentum=r.momentum, test_clips=r.test_clips)
    if out["workers"] is None:
        out["workers"] = min(4, os.cpu_count() or 1)
    checks = [(out["frames"] >= 1, "--frames must be >= 1"), (out["n"] >= 1, "--n must be >= 1"),
              (out["input_size"] >= 16, "--input-size must be >= 16"),
              (0 <= out["dropout"] < 1, "--dropout must be in [0, 1)"), (out["lr"] > 0, "--lr must be > 0"),
              (out["wd"] >= 0, "--wd must be >= 0"), (out["clip_grad"] >= 0, "--clip-grad must be >= 0 (0: off)"),
              (0 <= out["max_bad_fraction"] <= 1, "--max-bad-fraction must be in [0, 1]"),
              (out["save_every"] >= 0, "--save-every must be >= 0"), (out["workers"] >= 0, "--workers must be >= 0"),
              (out["threads"] is None or out["threads"] >= 1, "--threads must be >= 1"),
              (out["amp"] in ("auto", "none", "bf16", "fp16"), "--amp must be one of auto, none, bf16, fp16")]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    from arc.models import BACKBONES, parse_stages

    try:
        parse_stages(cfg.stages)
    except ValueError as e:
        raise ConfigError(f"--stages {cfg.stages!r}: {e}") from None
    if cfg.backbone not in BACKBONES:
        raise ConfigError(f"--backbone {cfg.backbone!r}: expected one of {', '.join(BACKBONES)}")
    if cfg.dataset == "list" and not (cfg.train_list and cfg.val_list):
        raise ConfigError("--dataset list needs --train-list and --val-list (lines 'path num_frames label' or "
                          "'path label')")
    if out["out"] is None:
        arch = "tsn" if not cfg.shift else ("tsm" if cfg.n == 1 or cfg.stages.lower() == "none" else f"arc{cfg.n}")
        out["out"] = str(Path("runs") / f"{cfg.dataset}-{cfg.backbone}-{arch}")
    return out, list(r.notes)


def merge_resumed(saved: dict, cfg: TrainConfig) -> dict:
    """The saved configuration with this run's runtime options; refuse any other option that was changed."""
    given = dataclasses.asdict(cfg)
    defaults = dataclasses.asdict(TrainConfig())
    changed = [k for k, v in given.items()
               if k not in RUNTIME and k in saved and v != defaults[k] and v is not None and v != saved[k]]
    if changed:
        raise ConfigError(f"--resume continues the saved run; these options differ from its checkpoint: "
                          f"{', '.join('--' + k.replace('_', '-') for k in changed)}")
    merged = dict(saved)
    for k in RUNTIME:
        if given[k] != defaults[k] or k == "resume":
            merged[k] = given[k]
    if cfg.out is None:
        merged["out"] = str(Path(cfg.resume).parent)
    return merged


def pick_amp(amp: str, device: torch.device) -> str:
    if amp != "auto":
        return amp
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "none"


def seed_everything(seed: int, deterministic: bool) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def param_groups(model, weight_decay: float) -> list[dict]:
    """Weight decay on weights (conv, linear, ARU maps); none on BatchNorm parameters and biases (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def data_root(c: dict) -> Path:
    try:
        return resolve_data_root(c["dataset"], c["data_root"], c["train_list"])
    except (OSError, ValueError) as e:
        raise ConfigError(str(e)) from None


def open_dataset(c: dict, split: str, root: Path, train: bool):
    from arc.data import build_dataset

    try:
        return build_dataset(c["dataset"], root, split, num_segments=c["frames"], train=train,
                             input_size=c["input_size"], list_file=c["train_list"] if train else c["val_list"])
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot open the {split} split of {c['dataset']} at {root}: {e}") from None


# -- output ------------------------------------------------------------------------------------------------


class Reporter:
    """rich progress on a terminal, plain log lines otherwise; silent on ranks other than 0 (except warnings)."""

    def __init__(self, ctx: distributed.Context, progress: bool | None, log_every: int):
        self.ctx, self.log_every = ctx, log_every
        self.rich = ctx.main and (sys.stdout.isatty() if progress is None else progress)
        self.bar = None

    def info(self, text: str) -> None:
        if self.ctx.main and self.bar is not None:
            self.bar.console.print(text)
        elif self.ctx.main:
            print(text, flush=True)

    def warn(self, text: str) -> None:
        prefix = f"[rank {self.ctx.rank}] " if self.ctx.distributed else ""
        print(f"{prefix}warning: {text}", file=sys.stderr, flush=True)

    def start(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.every = self.log_every or max(1, total // 5)
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=done, epoch=f"{epoch}/{epochs}",
                                          status="")

    def step(self, batch: int, loss: float, lr: float) -> None:
        if not self.ctx.main:
            return
        if self.bar:
            self.bar.update(self.task, completed=batch, status=f"loss {loss:.4f} lr {lr:.3g}")
        elif batch % self.every == 0 or batch == self.total:
            print(f"epoch {self.epoch}/{self.epochs} step {batch}/{self.total} loss {loss:.4f} lr {lr:.4g}",
                  flush=True)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()
            self.bar = None


# -- the loop ------------------------------------------------------------------------------------------------


def train(cfg: TrainConfig) -> dict:
    """Train as `cfg` says; returns `{"out", "best_top1", "epochs", "last", "best", "metrics"}`.

    Raises `ConfigError` for bad options or data, `TrainingStopped` for a non-finite loss or too many bad
    samples, `CheckpointError` for a `resume` file that cannot be loaded."""
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx = distributed.setup(cfg.device)
    try:
        return _train(cfg, ctx)
    finally:
        distributed.teardown(ctx)
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, ctx: distributed.Context) -> dict:
    resumed = ckpt.load(cfg.resume) if cfg.resume else None
    if resumed is not None:
        c, notes = merge_resumed(resumed["config"], cfg), []
    else:
        c, notes = resolve_config(cfg)
    from arc.data import collate_clips
    from arc.models import build_model

    out = Path(c["out"])
    report = Reporter(ctx, c["progress"], c["log_every"])
    for note in notes:
        report.info(note)
    if c["batch_size"] % ctx.world_size:
        raise ConfigError(f"--batch-size {c['batch_size']} is the global batch: it must be divisible by the "
                          f"{ctx.world_size} processes")
    per_rank_batch = c["batch_size"] // ctx.world_size
    amp = pick_amp(c["amp"], ctx.device)
    channels_last = ctx.device.type == "cuda" if c["channels_last"] is None else c["channels_last"]
    seed_everything(c["seed"], c["deterministic"])

    # data — rank 0 writes the synthetic cache first, the others then find it
    if ctx.main:
        root = data_root(c)
    distributed.barrier(ctx)
    if not ctx.main:
        root = data_root(c)
    train_set, val_set = open_dataset(c, "train", root, True), open_dataset(c, "val", root, False)
    classes = list(train_set.classes)
    if resumed is not None and classes != list(resumed["classes"]):
        raise ConfigError(f"the classes at {root} differ from those of the checkpoint {cfg.resume}")
    pin = ctx.device.type == "cuda"
    train_loader, train_sampler = make_loader(train_set, batch_size=per_rank_batch, train=True, seed=c["seed"],
                                              collate_fn=collate_clips, workers=c["workers"], rank=ctx.rank,
                                              world_size=ctx.world_size, pin_memory=pin)
    val_loader, _ = make_loader(val_set, batch_size=per_rank_batch, train=False, seed=c["seed"],
                                collate_fn=collate_clips, workers=c["workers"], rank=ctx.rank,
                                world_size=ctx.world_size, pin_memory=pin)
    steps_per_epoch = len(train_loader)
    if steps_per_epoch < 1:
        raise ConfigError(f"the training split has {len(train_set)} samples: too few for a global batch of "
                          f"{c['batch_size']} (batches are full, the remainder is dropped)")

    # model, optimiser, schedule
    try:
        model = build_model(c["backbone"], num_classes=len(classes), num_segments=c["frames"], n=c["n"],
                            stages=c["stages"], pretrained=None if resumed else c["pretrained"],
                            dropout=c["dropout"], pool=c["aru_pool"], aru_act=c["aru_act"], shift=c["shift"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if model.load_report is not None:
        report.info(str(model.load_report))
    c["model"] = dict(model.config)
    model.to(ctx.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(param_groups(model, c["wd"]), lr=c["lr"], momentum=c["momentum"])
    schedule = Schedule(c["schedule"], c["lr"], c["epochs"], steps_per_epoch, milestones=c["milestones"],
                        gamma=c["gamma"], warmup_epochs=c["warmup_epochs"])
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=amp == "fp16")
    epoch, step, batch_in_epoch, best_top1 = 0, 0, 0, -1.0
    epoch_stats = {"loss_sum": 0.0, "samples": 0, "bad": []}
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        schedule.load_state_dict(resumed["scheduler"])
        scaler.load_state_dict(resumed["scaler"])
        epoch, step, batch_in_epoch = resumed["epoch"], resumed["step"], resumed["batch_in_epoch"]
        best_top1, epoch_stats = resumed["best_top1"], dict(resumed["epoch_stats"])
        ckpt.set_rng_state(resumed["rng"])
        report.info(f"resumed {cfg.resume}: epoch {epoch}, step {step}, batch {batch_in_epoch} of the epoch")
    if ctx.distributed:
        torch.manual_seed(c["seed"] * 1000 + ctx.rank + (0 if resumed is None else step))
    raw_model = model
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if c["compile"]:
        model = torch.compile(model)

    # outputs (rank 0)
    metrics_path = out / "metrics.jsonl"
    tb = None
    if ctx.main:
        if resumed is None and (out / "last.pt").is_file():
            report.info(f"note: {out} holds an earlier run; it is replaced (--resume {out / 'last.pt'} continues it)")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**c, "classes": classes}, indent=2) + "\n")
        keep_metrics_until(metrics_path, epoch if resumed is not None else 0)
        tb = tensorboard(out)
        report.info(f"{c['dataset']}: {len(train_set)} train / {len(val_set)} val clips, {len(classes)} classes; "
                    f"{model_name(c)}; {c['epochs']} epochs × {steps_per_epoch} steps, global batch "
                    f"{c['batch_size']} on {ctx.world_size} × {ctx.device}; {schedule}; amp {amp}; out {out}")

    def state(epoch_now: int, batch_now: int) -> dict:
        return {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": schedule.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch_now,
                "step": step, "batch_in_epoch": batch_now, "epoch_stats": dict(epoch_stats),
                "rng": ckpt.rng_state(), "config": c, "classes": classes, "best_top1": best_top1}

    def save(name: str, epoch_now: int, batch_now: int) -> None:
        if ctx.main:
            if not all(torch.isfinite(p).all() for p in raw_model.parameters()):
                raise TrainingStopped(f"the weights are no longer finite at step {step}: stopping, "
                                      f"{last_note(out)}")
            ckpt.save(state(epoch_now, batch_now), out / name)

    bad_bound = c["max_bad_fraction"] * len(train_set)
    while epoch < c["epochs"]:
        t0 = time.perf_counter()
        model.train()
        train_sampler.set_epoch(epoch, start=batch_in_epoch * per_rank_batch)
        report.start(epoch + 1, c["epochs"], steps_per_epoch, batch_in_epoch)
        try:
            for clips, labels, _, bad in train_loader:
                for b in bad:
                    report.warn(f"skipped unreadable sample {b.path} ({b.reason})")
                epoch_stats["bad"] = epoch_stats["bad"] + [f"{b.path} ({b.reason})" for b in bad]
                n_bad, n_empty = distributed.all_reduce_sum([len(epoch_stats["bad"]), labels.numel() == 0], ctx)
                if n_bad > bad_bound:
                    stop_for_bad_samples(epoch_stats["bad"], ctx, c["max_bad_fraction"], len(train_set), out)
                lr = schedule.apply(optimizer, step)
                if not n_empty:
                    clips, labels = clips[:, 0].to(ctx.device, non_blocking=True), labels.to(ctx.device)
                    with autocast(ctx.device, amp):
                        logits = model(clips)
                    loss = F.cross_entropy(logits.float(), labels)
                    loss_sum, samples, nonfinite = distributed.all_reduce_sum(
                        [loss.item() * len(labels), len(labels), not math.isfinite(loss.item())], ctx)
                    if nonfinite:
                        raise TrainingStopped(f"the training loss is not finite ({loss.item()}) at epoch {epoch + 1}, "
                                              f"step {step + 1} (lr {lr:.4g}): stopping, {last_note(out)}")
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if c["clip_grad"] > 0:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(raw_model.parameters(), c["clip_grad"])
                    scaler.step(optimizer)
                    scaler.update()
                    epoch_stats["loss_sum"] += loss_sum
                    epoch_stats["samples"] += int(samples)
                step += 1
                batch_in_epoch += 1
                report.step(batch_in_epoch, epoch_stats["loss_sum"] / max(epoch_stats["samples"], 1), lr)
                if c["save_every"] and step % c["save_every"] == 0 and batch_in_epoch < steps_per_epoch:
                    save("last.pt", epoch, batch_in_epoch)
        finally:
            report.stop()

        val = score(raw_model, val_loader, len(classes), ctx, amp=amp,
                    on_bad=lambda b: report.warn(f"skipped unreadable sample {b.path} ({b.reason})"))
        bad = epoch_stats["bad"] + [f"{b.path} ({b.reason})" for b in val.bad]
        all_bad = sorted({b for per_rank in distributed.all_gather_objects(bad, ctx) for b in per_rank})
        row = {"epoch": epoch + 1, "train_loss": epoch_stats["loss_sum"] / max(epoch_stats["samples"], 1),
               "val_loss": val.loss, "val_top1": val.top1, "val_top5": val.top5,
               "lr": schedule.lr_at_step(step - 1), "seconds": time.perf_counter() - t0, "bad_samples": len(all_bad)}
        if all_bad:
            report.info(f"epoch {epoch + 1}: skipped {len(all_bad)} unreadable sample(s): " + "; ".join(all_bad))
        if len(all_bad) > c["max_bad_fraction"] * (len(train_set) + len(val_set)):
            stop_for_bad_samples(all_bad, ctx, c["max_bad_fraction"], len(train_set) + len(val_set), out,
                                 gathered=True)
        epoch, batch_in_epoch = epoch + 1, 0
        epoch_stats = {"loss_sum": 0.0, "samples": 0, "bad": []}
        improved = val.top1 > best_top1
        best_top1 = max(best_top1, val.top1)
        if ctx.main:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if tb is not None:
                for k, v in row.items():
                    if k != "epoch":
                        tb.add_scalar(k, v, row["epoch"])
                tb.flush()
            report.info(f"epoch {row['epoch']}/{c['epochs']}: train loss {row['train_loss']:.4f}, val loss "
                        f"{row['val_loss']:.4f}, top-1 {100 * row['val_top1']:.2f}%, top-5 "
                        f"{100 * row['val_top5']:.2f}%, lr {row['lr']:.4g}, {row['seconds']:.1f} s")
        save("last.pt", epoch, 0)
        if improved:
            save("best.pt", epoch, 0)
        distributed.barrier(ctx)
    if tb is not None:
        tb.close()
    return {"out": str(out), "best_top1": best_top1, "epochs": epoch, "last": str(out / "last.pt"),
            "best": str(out / "best.pt"), "metrics": str(metrics_path)}


# -- helpers of the loop ---------------------------------------------------------------------------------------


def model_name(c: dict) -> str:
    if not c["shift"]:
        return f"TSN-{c['backbone'].upper()}"
    if c["n"] == 1 or c["model"]["stages"] == []:
        return f"TSM-{c['backbone'].upper()}"
    return f"ARC-TSM-{c['backbone'].upper()} (n={c['n']}, {','.join(c['model']['stages'])})"


def last_note(out: Path) -> str:
    last = out / "last.pt"
    if not last.is_file():
        return "no checkpoint had been written yet"
    try:
        s = ckpt.load(last)
        return f"the last good checkpoint {last} (epoch {s['epoch']}, step {s['step']}) is kept"
    except ckpt.CheckpointError:
        return f"the last checkpoint is {last}"


def stop_for_bad_samples(bad: list, ctx, fraction: float, total: int, out: Path, gathered: bool = False):
    every = bad if gathered else sorted({b for r in distributed.all_gather_objects(bad, ctx) for b in r})
    raise TrainingStopped(f"{len(every)} unreadable sample(s), more than --max-bad-fraction {fraction:g} of "
                          f"{total}: stopping, {last_note(out)}. Unreadable:\n  " + "\n  ".join(every))


def keep_metrics_until(path: Path, epoch: int) -> None:
    """Drop rows of epochs after `epoch` (a resumed run rewrites them)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["epoch"] <= epoch]
    path.write_text("".join(line + "\n" for line in kept))


def tensorboard(out: Path):
    """A SummaryWriter in OUT/tb when TensorBoard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(out / "tb"))
