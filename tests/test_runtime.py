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
