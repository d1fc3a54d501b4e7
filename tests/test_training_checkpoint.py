"""Checkpoints: atomic writes, weights_only loading that refuses foreign pickles, RNG states that round-trip."""

import errno
import os
import random

import numpy as np
import pytest
import torch

from arc.files import WriteError
from arc.training import checkpoint as ckpt


class Foreign:
    """Not a tensor or plain value: loading it would need to import and run this module's code."""


class ExplodesWhenPickled:
    def __reduce__(self):
        raise RuntimeError("disk full (simulated crash in the middle of torch.save)")


def small_state(value: float) -> dict:
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, value)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "step": 42,
            "config": {"model": {"backbone": "r18", "stages": ["res3"]}, "lr": 0.01, "pretrained": None},
            "classes": ["a", "b"], "best_top1": 0.5, "rng": ckpt.rng_state()}


def test_checkpoint_round_trips_through_weights_only_load(tmp_path):
    state = small_state(0.25)
    ckpt.save(state, tmp_path / "run" / "last.pt")
    back = ckpt.load(tmp_path / "run" / "last.pt")
    assert torch.equal(back["model"]["weight"], state["model"]["weight"])
    momentum = [s["optimizer"]["state"][0]["momentum_buffer"] for s in (back, state)]
    assert torch.equal(*momentum)
    assert (back["epoch"], back["step"], back["classes"], back["config"]) == (3, 42, ["a", "b"], state["config"])
    assert not (tmp_path / "run" / "last.pt.tmp").exists()


def test_crash_mid_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    good = small_state(1.0)
    ckpt.save(good, path)
    broken = small_state(2.0)
    broken["extra"] = ExplodesWhenPickled()
    with pytest.raises(RuntimeError, match="disk full"):
        ckpt.save(broken, path)
    assert os.listdir(tmp_path) == ["last.pt"]       # the partial write went to a temporary, removed
    assert torch.equal(ckpt.load(path)["model"]["weight"], good["model"]["weight"])


class DiskFull:
    """A file on a disk that fills up after `room` bytes."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def test_a_disk_full_mid_save_is_one_write_error_naming_the_file_and_the_free_space(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    good = small_state(1.0)
    ckpt.save(good, path)
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, DiskFull(f, room=300)))
    with pytest.raises(WriteError) as e:      # not torch's "[enforce fail at inline_container.cc…]"
        ckpt.save(small_state(2.0), path)
    assert str(e.value).startswith(f"cannot write {path}: No space left on device (free space there: ")
    assert "\n" not in str(e.value)
    assert os.listdir(tmp_path) == ["last.pt"]
    monkeypatch.undo()
    assert torch.equal(ckpt.load(path)["model"]["weight"], good["model"]["weight"])


def test_checkpoint_with_foreign_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Foreign()}, path)
    with pytest.raises(ckpt.CheckpointError, match=r"refusing to load .*evil\.pt.*Foreign"):
        ckpt.load(path)


def test_unreadable_and_missing_checkpoints_name_the_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ckpt.CheckpointError, match="junk.pt"):
        ckpt.load(junk)
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load(tmp_path / "none.pt")
    torch.save({"weight": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(ckpt.CheckpointError, match="not an arc checkpoint"):
        ckpt.load(tmp_path / "bare.pt")


def test_rng_states_restore_the_same_random_streams(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    ckpt.save({"model": {}, "rng": ckpt.rng_state()}, tmp_path / "rng.pt")
    first = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    ckpt.set_rng_state(ckpt.load(tmp_path / "rng.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]
