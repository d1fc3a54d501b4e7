"""Checkpoints: plain dicts of tensors and Python values, written atomically, loaded with `weights_only=True`.

What a training checkpoint holds is `arc.training.run.Run.state_dict()` (`last.pt`) or `Run.weights()`
(`best.pt`): always `model` (the state dict), `model_config` (the `build_model` arguments), `config` (the run's
resolved options) and `classes` (names in label order). Nothing but tensors and plain values — so
`torch.load(..., weights_only=True)` reads it and no code runs while loading.

Saving writes `<name>.tmp`, flushes and fsyncs it, then `os.replace`s it over the target: a crash mid-save leaves the
previous file intact.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or is not one of ours."""


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically: temp file in the same folder, fsync, `os.replace`, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint with `weights_only=True`; refuse, naming the file, anything that needs arbitrary code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        first = f"found {found.group(1)}" if found else str(e).strip().splitlines()[0]
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled Python objects that are not plain tensors or values, and "
            f"loading them could run arbitrary code ({first}). arc checkpoints hold only state dicts and plain "
            f"values; re-save the weights as a state dict if you trust the file.") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an arc checkpoint: expected a dict with a 'model' state dict")
    return state


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model a training checkpoint was made with, its weights loaded, in eval mode on `device`; and the
    checkpoint itself (for `classes`, `config`)."""
    from arc.nn.models import build_model

    state = load(path)
    if not isinstance(state.get("model_config"), dict):
        raise CheckpointError(f"{path} has no 'model_config': it is not a checkpoint written by arc train")
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
