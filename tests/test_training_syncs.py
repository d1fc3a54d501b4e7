"""The host waits for the device only where it must: a training step never syncs, validation syncs once however
many batches it scores, a save tests the weights' finiteness with one sync (counted on the CPU by patching the
tensor methods that would block on a GPU)."""

import contextlib
from pathlib import Path

import pytest
import torch

from arc import build_model
from arc.runtime.device import Runtime
from arc.runtime.distributed import Context
from arc.scoring import score
from arc.training import loop
from arc.training.config import TrainConfig
from arc.training.run import Run
from arc.training.schedule import Schedule

SYNCING = ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy")


@contextlib.contextmanager
def count_syncs(monkeypatch):
    calls = []
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    yield calls
    monkeypatch.undo()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg, _ = TrainConfig(dataset="synthetic", backbone="r18", n=2, stages="res5", num_segments=2,
                         out=str(tmp_path_factory.mktemp("out"))).resolve()
    model = build_model(**cfg.model_kwargs(5))
    optimizer = torch.optim.SGD(loop.param_groups(model, cfg.weight_decay), lr=0.01, momentum=0.9)
    return Run(cfg, list("abcde"), model, optimizer, Schedule("cosine", 0.01, 1, 10),
               torch.amp.GradScaler("cpu", enabled=False))


def batch(b=2):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 1, 2, 3, 32, 32, generator=g), torch.tensor([0, 3] * (b // 2))


def test_a_training_step_does_not_wait_for_the_device(run, monkeypatch):
    rt = Runtime.create("cpu", amp="none")
    clips, labels = batch()
    with count_syncs(monkeypatch) as calls:
        sums = [loop.train_step(run, run.model, clips, labels, rt) for _ in range(3)]
    assert calls == []
    assert sums[0][1].item() == 2 and sums[0][2].item() == 0


def test_validation_syncs_once_whatever_the_number_of_batches(run, monkeypatch):
    counts = []
    for batches in (1, 4):
        data = [(clips[:, None].expand(-1, 1, -1, -1, -1, -1, -1)[:, 0], labels, torch.arange(2), [])
                for clips, labels in [batch()] * batches]
        with count_syncs(monkeypatch) as calls:
            s = score(run.model, data, 5, Context())
        counts.append(len(calls))
        assert s.videos == 2 * batches
    assert counts[0] == counts[1] <= 2


def test_a_save_checks_all_weights_with_one_sync(run, monkeypatch, tmp_path):
    class Quiet:
        ctx = Context()

        class saver:
            @staticmethod
            def saved():
                pass

    with count_syncs(monkeypatch) as calls:
        loop.save(run, Quiet, "best.pt", metrics={"val_top1": 0.5})
    assert calls.count("__bool__") + calls.count("item") == 1
    state = torch.load(Path(run.config.out) / "best.pt", weights_only=True)
    assert "optimizer" not in state and state["metrics"] == {"val_top1": 0.5} and state["classes"] == list("abcde")
