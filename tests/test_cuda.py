"""The CUDA paths, on a GPU only (skipped without one; `scripts/gpu_check.sh` runs them with the GPU benchmarks):
the lean layer against its autograd definition on the device, in float32 and under bf16/fp16 autocast (the states
keep the autocast dtype, strided layers included), channels-last, torch.compile, bitwise reproducible gradients
under deterministic algorithms, and a short AMP training run."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from torch import nn

from arc import ARCConv2d, build_model

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

# cuBLAS is deterministic only with a fixed workspace, read once per process: set before the first product runs
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def layer_pair(stride: int = 1, channels_last: bool = False, pool: str = "max"):
    """The same ARC layer (conv → BN → ReLU, n = 4, random ARU maps) as `lean` and `autograd`, on the GPU."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(64, 64, 3, stride, 1, bias=False), nn.BatchNorm2d(64)
    layers = []
    for impl in ("lean", "autograd"):
        torch.manual_seed(1)
        layer = ARCConv2d.from_conv(conv, n=4, num_segments=8, norm=bn, act=nn.ReLU(), pool=pool,
                                    impl=impl).cuda().train()
        with torch.no_grad():
            for p in (layer.embed, layer.fuse, layer.attend):
                p.normal_(0, 0.05)
        layers.append(layer.to(memory_format=torch.channels_last) if channels_last else layer)
    return layers


def step(layer, x, amp=None):
    x = x.clone().requires_grad_(True)
    with torch.autocast("cuda", dtype=amp, enabled=amp is not None):
        y = layer(x)
    y.float().square().mean().backward()
    return y, x.grad, {k: p.grad for k, p in layer.named_parameters()}, layer.norm.running_mean.clone()


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_lean_equals_the_definition_on_the_gpu_in_float32(stride, channels_last):
    lean, ref = layer_pair(stride, channels_last)
    x = torch.rand(16, 64, 28, 28, device="cuda")
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    (y1, dx1, g1, m1), (y2, dx2, g2, m2) = step(lean, x), step(ref, x)
    tol = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(y1, y2, **tol)
    torch.testing.assert_close(dx1, dx2, **tol)
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], rtol=1e-3, atol=1e-4, msg=k)
    torch.testing.assert_close(m1, m2)
    assert y1.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("amp", [torch.bfloat16, torch.float16])
def test_under_autocast_a_strided_layer_keeps_the_autocast_dtype_and_follows_the_definition(amp):
    if amp is torch.bfloat16 and not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("no native bf16 on this GPU")
    lean, ref = layer_pair(stride=2)
    x = torch.rand(16, 64, 28, 28, device="cuda")
    (y1, dx1, _, _), (y2, dx2, _, _) = step(lean, x, amp), step(ref, x, amp)
    assert y1.dtype == y2.dtype == amp
    with torch.autocast("cuda", dtype=amp), torch.no_grad():   # inside a network X0 comes in the autocast dtype
        _, record = lean.trace(x.to(amp))
    assert all(z.dtype == amp for z in record["state"])   # U keeps the dtype: no float32 states
    tol = dict(rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(y1.float(), y2.float(), **tol)
    torch.testing.assert_close(dx1, dx2, **tol)


def test_torch_compile_runs_the_lean_layer_on_the_gpu_and_matches_eager():
    lean, _ = layer_pair()
    x = torch.rand(16, 64, 28, 28, device="cuda")
    compiled = torch.compile(lean)
    y_eager, dx_eager, _, _ = step(lean, x)
    y_comp, dx_comp, _, _ = step(compiled, x)
    torch.testing.assert_close(y_comp, y_eager, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dx_comp, dx_eager, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_lean_gradients_are_bitwise_reproducible_under_deterministic_algorithms(pool):
    """Where the GPU could reorder a sum (cuDNN's conv backward, cuBLAS, reductions, `Uᵀ` at sizes that are not
    integer multiples), two runs under `torch.use_deterministic_algorithms` give the same bits — and none of the
    backward's ops lacks a deterministic kernel (it would raise)."""
    lean, _ = layer_pair(stride=2, pool=pool)
    x = torch.randn(16, 64, 27, 27, device="cuda")  # signed; 27 → 14: U copies rows and columns unevenly
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = [step(copy.deepcopy(lean), x) for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(previous)
    (y0, dx0, g0, m0), (y1, dx1, g1, m1) = runs
    assert torch.equal(y0, y1) and torch.equal(dx0, dx1) and torch.equal(m0, m1)
    assert g0.keys() == g1.keys() and all(torch.equal(g0[k], g1[k]) for k in g0)


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_arc_tsm_trains_a_few_steps_under_amp_with_a_finite_falling_loss(amp):
    if amp == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("no native bf16 on this GPU")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[amp]
    torch.manual_seed(0)
    model = build_model("r18", num_classes=5, num_segments=8, n=4).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    clips, labels = torch.randn(4, 8, 3, 112, 112, device="cuda"), torch.arange(4, device="cuda") % 5
    losses = []
    for _ in range(8):
        with torch.autocast("cuda", dtype=dtype):
            loss = nn.functional.cross_entropy(model(clips).float(), labels)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0], losses
