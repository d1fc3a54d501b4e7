"""Checkpoints: plain dicts of tensors and Python values, written atomically, loaded with `weights_only=True`.

What a training checkpoint holds is `arc.training.run.Run.state_dict()` (`last.pt`) or `Run.weights()`
(`best.pt`): always `model` (the state dict), `model_config` (the `build_model` arguments), `config` (the run's
resolved options) and `classes` (names in label order). Nothing but tensors and plain values — so
`torch.load(..., weights_only=True)` reads it and no code runs while loading.

Saving goes through `arc.files` (a temporary beside the target, fsync, `os.replace`): a crash or a full disk mid-save
leaves the previous file intact, and a failed write is one `WriteError` naming the file and the free space.
"""

from __future__ import annotations

import inspect
import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from arc.files import write_with


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or is not one of ours."""


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically (`arc.files.write_with`); `WriteError` when it cannot be written."""
    return write_with(path, lambda f: torch.save(state, f))


TRAINING_KEYS = ("model", "model_config", "config", "classes")
"""What every checkpoint `arc train` writes holds (`best.pt` and `last.pt`)."""
RUN_KEYS = ("model_config", "config", "classes", "epoch", "step", "optimizer")

EXPECTED = "expected a checkpoint written by arc train (OUT/best.pt or OUT/last.pt)"


def load(path: str | os.PathLike, map_location="cpu", *, require=("model",)) -> dict:
    """Read a checkpoint with `weights_only=True`. Refuse, naming the file and what was expected: a missing file,
    a folder, an empty file, a file that is not a torch file, one that needs arbitrary code to load, and a dict
    without the keys in `require`, or one that holds some of what a run writes (`RUN_KEYS`) but not its `config`
    and `classes` (which every command reads)."""
    path = Path(path)
    _check_file(path)
    from arc.nn.weights import load_plain, refused_global

    try:
        state = load_plain(path, map_location)
    except pickle.UnpicklingError as e:
        found = refused_global(e)
        if found is None:   # a pickle torch cannot read (e.g. protocol 4+ from pickle.dump): not torch.save's
            raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is a pickle that torch.save did not "
                                  f"write; {EXPECTED}") from None
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled Python objects that are not plain tensors or values, and "
            f"loading them could run arbitrary code (found {found}). arc checkpoints hold only state dicts "
            f"and plain values; re-save the weights as a state dict if you trust the file.") from None
    except Exception as e:   # a damaged zip, a truncated pickle, an I/O error: torch's own words, first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: it is damaged or truncated ({first}); "
                              f"{EXPECTED}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an arc checkpoint: expected a dict with a 'model' state dict")
    of_a_run = any(k in state for k in RUN_KEYS)
    need = list(require) + (["config", "classes"] if of_a_run else [])
    missing = [k for k in dict.fromkeys(need) if k not in state]
    if missing:
        raise CheckpointError(f"{path} has no {', '.join(map(repr, missing))}: {EXPECTED}, which holds "
                              f"{', '.join(TRAINING_KEYS[:-1])} and {TRAINING_KEYS[-1]}")
    for key, kind in (("model_config", dict), ("config", dict), ("classes", list)):
        if key in state and not isinstance(state[key], kind):
            raise CheckpointError(f"{path}: its {key!r} is a {type(state[key]).__name__}, expected a "
                                  f"{kind.__name__}; {EXPECTED}")
    return state


def _check_file(path: Path) -> None:
    """CheckpointError unless `path` is a non-empty file that starts like a torch file (a zip or a pickle)."""
    if path.is_dir():
        inside = [p.name for p in (path / "best.pt", path / "last.pt") if p.is_file()]
        hint = f"; it holds {' and '.join(inside)}" if inside else ""
        raise CheckpointError(f"checkpoint {path} is a folder, not a file{hint}; {EXPECTED}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    from arc.nn.weights import not_a_torch_file

    try:
        kind = not_a_torch_file(path)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    if kind is not None and kind.startswith("empty"):
        raise CheckpointError(f"checkpoint {path} is {kind}; {EXPECTED}")
    if kind is not None:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is {kind}, not a file written by torch.save; "
                              f"{EXPECTED}")


MAX_PARAMETERS = 200_000_000
"""The most parameters the model of a checkpoint read as input may have, checked before the model is built: 800 MB
of float32 weights, twice ARC-TSM-R101 with ImageNet-21k's 21,841 classes (~90 M). A checkpoint that asks for more
(`num_classes` 10**7: a 20 GB classifier) is refused, not built."""


def check_model(state: dict, path) -> None:
    """`CheckpointError`, naming the file, unless what `load_model` builds from `state` is sound, checked before any
    weight is allocated: `model_config` holds only `build_model` arguments (so no `pretrained`: nothing read from
    a checkpoint makes a command fetch anything), of their types, in their ranges (`build_model`'s own checks, run
    on the meta device), with at most `MAX_PARAMETERS` parameters; `classes` are that many names; and the clip
    sizes in `config` that commands read lie within `arc.training.config.LIMITS`."""
    from typing import get_type_hints

    from arc.data.registry import DATASETS
    from arc.data.sampling import SAMPLINGS
    from arc.nn.models import build_model
    from arc.training.config import LIMITS

    where = f"{path}: its model_config"
    mc = state["model_config"]
    hints = {k: v for k, v in get_type_hints(build_model).items() if k not in ("pretrained", "return")}
    known = [k for k in inspect.signature(build_model).parameters if k != "pretrained"]
    unknown = [k for k in mc if k not in known]
    if unknown:
        raise CheckpointError(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; build_model takes "
                              f"{', '.join(known)}")
    for key, kind in hints.items():
        value = mc.get(key)
        if key in mc and (not isinstance(value, (int, float) if kind is float else kind) or
                          kind is not bool and isinstance(value, bool)):
            raise CheckpointError(f"{where}: {key} is {value!r}, expected {kind.__name__}")
    if mc.get("num_segments", 1) > LIMITS["num_segments"]:
        raise CheckpointError(f"{where}: num_segments {mc['num_segments']} is above {LIMITS['num_segments']}")
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in build_model(**mc).parameters())
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where} does not describe a model: {str(e).splitlines()[0]}") from None
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{where} describes a model of {count:,} parameters, more than the "
                              f"{MAX_PARAMETERS:,} of arc.training.checkpoint.MAX_PARAMETERS")
    classes = state["classes"]
    if len(classes) != mc["num_classes"] or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{path}: its classes are not {mc['num_classes']} names (num_classes of its "
                              f"model_config)")
    cfg = state["config"]
    if cfg.get("dataset") not in DATASETS:
        raise CheckpointError(f"{path}: its config's dataset {cfg.get('dataset')!r} is not one of "
                              f"{', '.join(DATASETS)}")
    if cfg.get("sampling") not in (None, *SAMPLINGS):
        raise CheckpointError(f"{path}: its config's sampling {cfg['sampling']!r} is not one of {', '.join(SAMPLINGS)}")
    for key, low in (("num_segments", 1), ("input_size", 16), ("test_clips", 1)):
        value = cfg.get(key, 1 if key == "test_clips" else None)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= LIMITS[key]:
            raise CheckpointError(f"{path}: its config's {key} is {value!r}, expected an integer from {low} to "
                                  f"{LIMITS[key]}")


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model a training checkpoint was made with, its weights loaded, in eval mode on `device`; and the
    checkpoint itself (for `classes`, `config`). What it holds is checked (`check_model`) before the model is
    built."""
    from arc.nn.models import build_model

    state = load(path, require=TRAINING_KEYS)
    check_model(state, path)
    model = build_model(**state["model_config"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: its weights do not fit the model it describes ({first})") from None
    return model.to(device).eval(), state


def rng_state() -> dict:
    """Every generator a training step may draw from, as tensors and plain values."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
