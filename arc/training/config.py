"""The configuration of a training run: what the user asks for, resolved once against the dataset's recipe.

    cfg = TrainConfig(dataset="diving48", data_root="/data/Diving48", backbone="r18", n=4)
    resolved, notes = cfg.resolve()    # every None filled from the recipe, every value checked; frozen
    resolved.to_dict()                 # what OUT/config.json and the checkpoints hold

Names are the library's (`num_segments`, `weight_decay`, `pool`, as `build_model` and `ARCConv2d` take them); a
field's command-line flag, where it differs, is in its metadata (`flag(name)`). Fields marked `runtime` say how and
where a run computes, not what it computes: they alone may change when a run is resumed.

Light on purpose (no torch at import): the command line reads it for `--help`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from arc.data.registry import DATASETS
from arc.data.sampling import SAMPLINGS
from arc.nn.choices import (
    ARU_ACTS,
    ARU_NAMES,
    ATTENTIONS,
    BACKBONES,
    DEFAULT_STAGES,
    MOTIONS,
    POOLS,
    parse_aru_terms,
    parse_stages,
)
from arc.runtime import AMP_MODES
from arc.training import recipes
from arc.training.schedule import SCHEDULES


class ConfigError(ValueError):
    """A bad option or a dataset that cannot be opened (the CLI reports it as a usage error)."""


LIMITS = {"num_segments": 256, "input_size": 1024, "test_clips": 64}
"""The largest clips a run may ask for — and a checkpoint, read as input, may make a command load: frames per clip,
crop size in pixels, clips per video. Beyond them one clip takes gigabytes (256 frames at 1024² are 3 GB as float32);
the paper's clips are 8 or 16 frames at 224²."""


def _runtime(default, flag: str | None = None):
    return field(default=default, metadata={"runtime": True, **({"flag": flag} if flag else {})})


def _recipe(flag: str | None = None):
    return field(default=None, metadata={"recipe": True, **({"flag": flag} if flag else {})})


@dataclass(frozen=True)
class TrainConfig:
    """Options of `arc train`. `None` means the dataset recipe's value (`arc.training.recipes`) or the default
    that `resolve()` states."""

    # what is trained, on what
    dataset: str = "synthetic"
    train_list: str | None = None         # dataset "list": the list files (default DATA_ROOT/<split>.txt)
    val_list: str | None = None
    backbone: str = "r18"
    n: int = 4                            # ARC recursive steps; 1 = TSM
    stages: str | tuple[str, ...] = ",".join(DEFAULT_STAGES)   # ARC stages, as --stages takes them, or "none" (TSM)
    shift: bool = True                    # False = TSN (no temporal shift)
    pool: str = "max"
    aru_act: str = "relu"
    aru_terms: str | tuple[str, ...] = ",".join(ARU_NAMES)   # the ARU terms ARC keeps, as --aru-terms takes them
    attention: str = "both"               # the attention's pooled views: both (PoolS ⊕ PoolT), space, time
    motion: str = "none"                  # "ms": MotionSqueeze after res3 (MSN; ARC-MSN with n > 1)
    # the recipe (None = the dataset's)
    sampling: str | None = _recipe()      # frames of a clip: "tsm" (TSM's sampler), or "uniform" (every frame)
    num_segments: int | None = _recipe("--frames")
    epochs: int | None = _recipe()
    batch_size: int | None = _recipe()    # global, over all processes
    lr: float | None = _recipe()
    weight_decay: float | None = _recipe("--wd")
    momentum: float | None = _recipe()
    dropout: float | None = _recipe()
    clip_grad: float | None = _recipe()   # 0 = no clipping
    input_size: int | None = _recipe()
    pretrained: str | None = _recipe()    # "imagenet", a path, "none"
    schedule: str | None = _recipe()
    milestones: str | tuple[int, ...] | None = _recipe()   # "30,40"
    gamma: float | None = _recipe()
    warmup_epochs: float | None = _recipe()
    test_clips: int | None = None         # clips per video at test time (validation, and arc eval's default);
                                          # None = the dataset's protocol (Diving48: 2)
    seed: int = 0
    deterministic: bool = False
    # how and where (may change on resume)
    data_root: str | None = _runtime(None)   # folder as distributed (None: its folder in the data home)
    generate: bool = _runtime(False)         # synthetic: write the set into a --data-root that does not exist
    workers: int | None = _runtime(None)     # None = sized to the machine (arc.runtime.device.default_workers)
    threads: int | None = _runtime(None)     # torch CPU threads per process; None = torch's default
    out: str | None = _runtime(None)         # None = runs/<dataset>-<backbone>-<arch>
    resume: str | None = _runtime(None)
    save_every: str | int = _runtime(0)      # also write last.pt every N steps, or "10m" / "30s" / "1h" (0 = off)
    overwrite: bool = _runtime(False)        # replace the run found in OUT (its files only)
    device: str | None = _runtime(None)      # None/"auto" = cuda if available
    amp: str = _runtime("auto")              # one of AMP_MODES
    channels_last: bool | None = _runtime(None)   # None = on CUDA
    compile: bool = _runtime(False)
    max_bad_fraction: float = _runtime(0.01)
    log_every: int = _runtime(0)             # plain-log lines every this many steps (0 = about 5 per epoch)
    progress: bool | None = _runtime(None)   # rich progress bar; None = when stdout is a terminal

    # -- resolving -------------------------------------------------------------------------------------------

    def resolve(self) -> tuple[TrainConfig, list[str]]:
        """Every `None` filled from the recipe and the defaults, every value checked (`ConfigError` naming the
        option); returns the resolved config and the notes to print."""
        check(self.dataset in DATASETS, "dataset", f"expected one of {', '.join(DATASETS)}")
        try:
            milestones = _ints(self.milestones)
        except ValueError:
            raise ConfigError(f"--milestones {self.milestones!r}: expected comma-separated epochs, e.g. 30,40") \
                from None
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("recipe")}
        given["milestones"] = milestones
        try:
            recipe, notes = recipes.resolve(self.dataset, **given)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        pretrained = recipe.pretrained if self.pretrained is None else self.pretrained
        if isinstance(pretrained, str) and pretrained.lower() == "none":
            pretrained = None
        try:
            stages = parse_stages(self.stages)
        except ValueError as e:
            raise ConfigError(f"--stages {self.stages!r}: {e}") from None
        try:
            aru_terms = parse_aru_terms(self.aru_terms)
        except ValueError as e:
            raise ConfigError(f"--aru-terms {self.aru_terms!r}: {e}") from None
        values = dataclasses.asdict(recipe) | dict(pretrained=pretrained, stages=stages, aru_terms=aru_terms)
        resolved = dataclasses.replace(
            self, **values,
            test_clips=DATASETS[self.dataset].test_clips if self.test_clips is None else self.test_clips)
        resolved = dataclasses.replace(resolved, out=self.out or str(Path("runs") / resolved.run_name()))
        resolved, schedule_notes = resolved._fit_schedule(given_milestones=bool(milestones),
                                                          given_warmup=self.warmup_epochs is not None)
        resolved.validate()
        return resolved, list(notes) + schedule_notes

    def _fit_schedule(self, given_milestones: bool, given_warmup: bool) -> tuple[TrainConfig, list[str]]:
        """Milestones and warm-up that fit `epochs`: the user's are checked, the recipe's scaled with a note when
        `--epochs` is too short for them (the Diving48 recipe's 10 warm-up epochs with `--epochs 1` would never
        reach the peak lr)."""
        recipe_epochs = recipes.RECIPES[self.dataset].epochs
        notes, changes = [], {}
        if self.schedule == "cosine" and given_milestones:
            raise ConfigError("--milestones: apply to --schedule multistep; this run's schedule is cosine")
        if self.schedule == "multistep" and self.milestones:
            ms = list(self.milestones)
            fits = all(0 < m < self.epochs for m in ms) and all(a < b for a, b in zip(ms, ms[1:], strict=False))
            if not fits and given_milestones:
                raise ConfigError(f"--milestones {','.join(map(str, ms))}: expected increasing epochs between 1 and "
                                  f"--epochs {self.epochs} - 1")
            if not fits:
                scaled = sorted({min(max(1, round(m * self.epochs / recipe_epochs)), self.epochs - 1) for m in ms})
                scaled = tuple(m for m in scaled if 0 < m < self.epochs)
                changes["milestones"] = scaled
                notes.append(f"milestones {','.join(map(str, ms))} of the {recipe_epochs}-epoch recipe scaled to "
                             f"{','.join(map(str, scaled)) or 'none'} for --epochs {self.epochs}")
        if self.schedule == "cosine" and self.warmup_epochs >= self.epochs:
            if given_warmup:
                raise ConfigError(f"--warmup-epochs {self.warmup_epochs:g}: must be below --epochs {self.epochs}")
            w = self.warmup_epochs * self.epochs / recipe_epochs
            changes["warmup_epochs"] = w
            notes.append(f"warm-up of {self.warmup_epochs:g} epochs of the {recipe_epochs}-epoch recipe scaled to "
                         f"{w:g} for --epochs {self.epochs}")
        return dataclasses.replace(self, **changes), notes

    def save_interval(self) -> tuple[int, float]:
        """`--save-every` as (steps, seconds); 0 = off. "500" is steps; "10m", "30s", "2h" a time."""
        value = str(self.save_every).strip().lower()
        units = {"s": 1, "m": 60, "h": 3600}
        try:
            if value[-1:] in units:
                return 0, float(value[:-1]) * units[value[-1]]
            return int(value), 0.0
        except ValueError:
            raise ConfigError(f"--save-every {self.save_every!r}: expected a number of steps (500) or a time "
                              f"(10m, 30s, 1h)") from None

    def arch_tag(self, stages=None) -> str:
        """`tsn`, `tsm`, `arcN`, `msn` or `arcN-msn`: what this configuration trains."""
        stages = parse_stages(self.stages) if stages is None else stages
        tag = "tsn" if not self.shift else ("tsm" if self.n == 1 or not stages else f"arc{self.n}")
        return tag if self.motion == "none" else ("msn" if tag == "tsm" else f"{tag}-msn")

    def run_name(self) -> str:
        """`<dataset>-<backbone>-<arch_tag>`, the default `--out` under `runs/`; with ARC, each ARC option that is
        not its default follows as `-<option>-<value>` (`ssv1-r18-arc4-stages-res3-res4`,
        `ssv1-r18-arc4-aru-terms-fuse-attend`, `ssv1-r18-arc4-attention-space-pool-mean`), so the runs of an
        ablation do not share a folder."""
        tag = self.arch_tag()
        if tag.startswith("arc"):
            default = TrainConfig()
            for name in ("stages", "aru_terms", "attention", "pool", "aru_act"):
                value = _canonical(name, getattr(self, name))
                if value != _canonical(name, getattr(default, name)):
                    value = ("-".join(value) or "none") if isinstance(value, tuple) else value
                    tag += f"-{flag(name)[2:]}-{value}"
        return f"{self.dataset}-{self.backbone}-{tag}"

    def validate(self) -> None:
        """Check every value of a resolved config; `ConfigError` naming the option and what was expected (a value
        of the wrong type, as a damaged checkpoint may hold, included)."""
        for f in dataclasses.fields(self):
            check(_of_type(getattr(self, f.name), f.type), f.name, f"expected {f.type}, got {getattr(self, f.name)!r}")
        try:
            self._validate()
        except TypeError as e:    # a None where the recipe's value belongs
            raise ConfigError(f"the configuration is incomplete or holds a value of the wrong type ({e})") from None

    def _validate(self) -> None:
        check(self.backbone in BACKBONES, "backbone", f"expected one of {', '.join(BACKBONES)}")
        check(isinstance(self.n, int) and self.n >= 1, "n", "expected an integer >= 1 (1 = TSM)")
        check(self.pool in POOLS, "pool", f"expected one of {', '.join(POOLS)}")
        check(self.aru_act in ARU_ACTS, "aru_act", f"expected one of {', '.join(ARU_ACTS)}")
        check(self.attention in ATTENTIONS, "attention", f"expected one of {', '.join(ATTENTIONS)}")
        try:
            parse_aru_terms(self.aru_terms)
        except ValueError as e:
            raise ConfigError(f"{flag('aru_terms')}: {e}") from None
        check(self.sampling in SAMPLINGS, "sampling", f"expected one of {', '.join(SAMPLINGS)}")
        check(self.motion in MOTIONS, "motion", f"expected one of {', '.join(MOTIONS)}")
        check(1 <= self.num_segments <= LIMITS["num_segments"], "num_segments",
              f"must be between 1 and {LIMITS['num_segments']}")
        check(16 <= self.input_size <= LIMITS["input_size"], "input_size",
              f"must be between 16 and {LIMITS['input_size']}")
        check(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        check(self.lr > 0, "lr", "must be > 0")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(self.clip_grad >= 0, "clip_grad", "must be >= 0 (0: off)")
        check(self.schedule in SCHEDULES, "schedule", f"expected one of {', '.join(SCHEDULES)}")
        check(1 <= self.test_clips <= LIMITS["test_clips"], "test_clips",
              f"must be between 1 and {LIMITS['test_clips']}")
        check(isinstance(self.seed, int) and 0 <= self.seed < 2**32, "seed", "must be an integer in [0, 2**32)")
        check(0 <= self.max_bad_fraction <= 1, "max_bad_fraction", "must be in [0, 1]")
        check(min(self.save_interval()) >= 0, "save_every", "must be >= 0")
        check(self.workers is None or self.workers >= 0, "workers", "must be >= 0")
        check(self.threads is None or self.threads >= 1, "threads", "must be >= 1")
        check(self.amp in AMP_MODES, "amp", f"expected one of {', '.join(AMP_MODES)}")
        spec = DATASETS[self.dataset]
        if not spec.uses_list_file:
            check(not (self.train_list or self.val_list), "train_list",
                  f"list files are read with --dataset list, not {self.dataset}")

    # -- the model, files -----------------------------------------------------------------------------------

    def model_kwargs(self, num_classes: int) -> dict:
        """The `build_model` arguments of this (resolved) configuration."""
        return dict(backbone=self.backbone, num_classes=num_classes, num_segments=self.num_segments, n=self.n,
                    stages=self.stages, dropout=self.dropout, pool=self.pool, aru_act=self.aru_act, shift=self.shift,
                    motion=self.motion, aru_terms=self.aru_terms, attention=self.attention)

    def to_dict(self) -> dict:
        """Plain values (tuples as lists): OUT/config.json and the checkpoints' `config`."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config saved by `to_dict` (unknown keys are refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"the saved configuration has options this version does not know: {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def resumed_with(self, given: TrainConfig) -> TrainConfig:
        """This saved (resolved) config with the runtime options `given` sets, and its `epochs` (a run may be
        extended); `ConfigError` if `given` changes anything else."""
        default = TrainConfig()
        changed, runtime = [], {}
        for f in dataclasses.fields(self):
            value = getattr(given, f.name)
            if f.name == "epochs" and value is not None:
                runtime["epochs"] = value    # a resumed run may be extended: the schedule is recomputed
            elif f.metadata.get("runtime"):
                if value != getattr(default, f.name) or f.name == "resume":
                    runtime[f.name] = value
            elif value is not None and value != getattr(default, f.name) and \
                    _canonical(f.name, value) != _canonical(f.name, getattr(self, f.name)):
                changed.append(flag(f.name))
        if changed:
            raise ConfigError(f"--resume continues the saved run; these options differ from its checkpoint: "
                              f"{', '.join(changed)}")
        if given.out is None and given.resume:
            runtime["out"] = str(Path(given.resume).parent)
        return dataclasses.replace(self, **runtime)


def flag(name: str) -> str:
    """The command-line flag of the config field `name`."""
    f = {f.name: f for f in dataclasses.fields(TrainConfig)}[name]
    return f.metadata.get("flag", "--" + name.replace("_", "-"))


def check(ok: bool, name: str, expected: str) -> None:
    """`ConfigError("--flag …: expected")` unless `ok`."""
    if not ok:
        raise ConfigError(f"{flag(name)}: {expected}")


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "None": type(None)}


def _of_type(value, annotation: str) -> bool:
    """Whether `value` is of a type the field's annotation (`"int | None"`, `"str | tuple[str, ...]"`) names."""
    for kind in (k.strip() for k in annotation.split("|")):
        if kind.startswith("tuple") and isinstance(value, tuple) or isinstance(value, _TYPES.get(kind, ())):
            return True
    return False


def _ints(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(int(m) for m in value.split(",") if m.strip())
    return tuple(int(m) for m in value)


def _canonical(name: str, value):
    """A value as the resolved config holds it, to compare a given option with a saved one."""
    if name == "stages":
        return parse_stages(value)
    if name == "aru_terms":
        return parse_aru_terms(value)
    if name == "milestones":
        return _ints(value)
    return tuple(value) if isinstance(value, list) else value
