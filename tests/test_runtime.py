"""The runtime set-up every command shares: device, precision (and why), CPU threads that are restored."""

import pytest
import torch

from arc.runtime.device import Runtime, cpu_threads, default_workers, pick_amp, pick_device


def test_auto_precision_is_bf16_only_where_the_gpu_computes_it_natively(monkeypatch):
    asked = {}

    def bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return including_emulation       # a V100 / T4: bf16 only by emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16_supported)
    mode, why = pick_amp("auto", torch.device("cuda"))
    assert (mode, asked["including_emulation"]) == ("fp16", False) and "no native bf16" in why
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert pick_amp("auto", torch.device("cuda"))[0] == "bf16"
    assert pick_amp("auto", torch.device("cpu")) == ("none", "auto: float32 on the CPU")
    assert pick_amp("fp16", torch.device("cpu")) == ("fp16", "as asked")
    with pytest.raises(ValueError, match="--amp 'fp8': expected one of auto, none, bf16, fp16"):
        pick_amp("fp8", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
@pytest.mark.parametrize("device, says", [("cuda", "CUDA is not available"), ("foo", "expected auto, cpu, cuda"),
                                          ("mps", "expected auto, cpu, cuda")])
def test_a_device_that_is_not_there_is_named(device, says):
    with pytest.raises(ValueError, match=says):
        pick_device(device)


def test_threads_are_restored_after_the_block_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), cpu_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_the_runtime_says_its_device_precision_and_format():
    rt = Runtime.create("cpu", amp="bf16")
    assert (rt.device.type, rt.amp, rt.channels_last) == ("cpu", "bf16", False)
    assert str(rt) == "cpu, amp bf16 (as asked)"
    with rt.autocast():
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
    assert 1 <= default_workers(1) <= 16 and default_workers(10_000) == 1


def test_one_default_worker_count_for_training_and_for_checking_data(monkeypatch):
    import os

    import arc.data.check
    from arc.cli.data import _print_check

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert default_workers() == 7            # training: one CPU stays with the training process
    assert default_workers(2) == 3           # two ranks on this machine share its CPUs
    assert default_workers(busy=0) == 8      # `arc data check` only waits for its workers
    seen = {}
    monkeypatch.setattr(arc.data.check, "check_dataset", lambda *args, **kwargs: seen.update(kwargs) or [])
    _print_check("synthetic", "nowhere", quick=True)
    assert seen["workers"] == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_workers(busy=0) == 16 and default_workers(10_000) == 1
