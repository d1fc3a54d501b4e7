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


TRAINING_KEYS = ("model", "model_config", "config", "classes")
"""What every checkpoint `arc train` writes holds (`best.pt` and `last.pt`)."""
RUN_KEYS = ("model_config", "config", "classes", "epoch", "step", "optimizer")

ZIP_MAGIC, PICKLE_PROTO = b"PK\x03\x04", 0x80   # torch.save's zip format; a pickle (torch's legacy format)
EXPECTED = "expected a checkpoint written by arc train (OUT/best.pt or OUT/last.pt)"


def load(path: str | os.PathLike, map_location="cpu", *, require=("model",)) -> dict:
    """Read a checkpoint with `weights_only=True`. Refuse, naming the file and what was expected: a missing file,
    a folder, an empty file, a file that is not a torch file, one that needs arbitrary code to load, and a dict
    without the keys in `require`, or one that holds some of what a run writes (`RUN_KEYS`) but not its `config`
    and `classes` (which every command reads)."""
    path = Path(path)
    _check_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found is None:   # a pickle torch cannot read (e.g. protocol 4+ from pickle.dump): not torch.save's
            raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is a pickle that torch.save did not "
                                  f"write; {EXPECTED}") from None
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled Python objects that are not plain tensors or values, and "
            f"loading them could run arbitrary code (found {found.group(1)}). arc checkpoints hold only state dicts "
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
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); {EXPECTED}")
    if not head.startswith(ZIP_MAGIC) and head[0] != PICKLE_PROTO:
        kind = "a text file" if _is_text(head) else f"a file that starts with {head!r}"
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is {kind}, not a file written by torch.save; "
                              f"{EXPECTED}")


def _is_text(head: bytes) -> bool:
    try:
        return all(c.isprintable() or c in "\t\r\n" for c in head.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model a training checkpoint was made with, its weights loaded, in eval mode on `device`; and the
    checkpoint itself (for `classes`, `config`)."""
    from arc.nn.models import build_model

    state = load(path, require=TRAINING_KEYS)
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
