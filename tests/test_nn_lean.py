"""The lean ARC layer (`impl="lean"`, arc/nn/lean.py) against the autograd definition and the NumPy reference: the
same output, input and parameter gradients, BatchNorm running statistics; gradcheck of the hand-written backward;
what it keeps for the backward; AMP, torch.compile, channels-last (determinism: tests/test_cuda.py)."""

from __future__ import annotations

import copy
from operator import getitem

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import LayerShape, aru_acts, canonical_params, layer_shapes, pools, seeds
from torch import nn

from arc import ARCConv2d, reference
from arc.nn.choices import ARU_NAMES
from arc.overhead import measure_memory

pytestmark = pytest.mark.usefixtures("one_thread")


@st.composite
def lean_cases(draw):
    """A layer shape (stride, padding, dilation, n = 1..4, sizes up to 7) and its forward path: pool, σ, a
    BatchNorm (affine or not, tracking or not), an activation, train or eval mode, and the seed of its numbers."""
    return {
        "shape": draw(layer_shapes(max_Cin=5, max_c=3)),
        "pool": draw(pools),
        "aru_act": draw(aru_acts),
        "norm": draw(st.sampled_from([None, "affine", "plain", "untracked"])),
        "act": draw(st.sampled_from([None, "relu", "leaky"])),
        "train": draw(st.booleans()),
        "seed": draw(seeds),
    }


def build(case: dict, impl: str, n: int | None = None) -> ARCConv2d:
    """The layer of `case` in float64 with random conv, BatchNorm statistics and ARU maps (seeded by the case); the
    ablation options `aru_terms`, `attention` where the case names them."""
    shape = case["shape"]
    torch.manual_seed(case["seed"] % 2**31)
    conv = nn.Conv2d(shape.Cin, shape.Cout, shape.K, shape.stride, shape.padding, shape.dilation, bias=shape.bias)
    norm = None
    if case["norm"]:
        tracked = case["norm"] != "untracked"
        norm = nn.BatchNorm2d(shape.Cout, affine=case["norm"] != "plain", track_running_stats=tracked,
                              momentum=None if case["seed"] % 2 else 0.3)
        with torch.no_grad():
            if norm.affine:
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
            if norm.track_running_stats:
                norm.running_mean.uniform_(-0.2, 0.2)
                norm.running_var.uniform_(0.5, 2)
    act = {None: None, "relu": nn.ReLU(), "leaky": nn.LeakyReLU(0.2)}[case["act"]]
    layer = ARCConv2d.from_conv(conv, n=shape.n if n is None else n, num_segments=shape.T, norm=norm, act=act,
                                pool=case["pool"], aru_act=case["aru_act"], impl=impl,
                                aru_terms=case.get("aru_terms", ARU_NAMES), attention=case.get("attention", "both"))
    layer = layer.double()
    with torch.no_grad():
        for p in (layer.embed, layer.fuse, layer.attend):
            if p is not None:
                p.normal_(0, 0.5)
    return layer.train(case["train"])


def run(layer: ARCConv2d, x: torch.Tensor, dy: torch.Tensor, steps: int = 2):
    """`steps` forward+backward passes (the running statistics move every time); the output of the last,
    the input gradient and the parameter gradients summed over the passes."""
    x = x.clone().requires_grad_(True)
    for _ in range(steps):
        y = layer(x)
        y.backward(dy)
    return y.detach(), x.grad, {name: p.grad for name, p in layer.named_parameters()}


def assert_same_layer(lean: ARCConv2d, oracle: ARCConv2d, x: torch.Tensor, tol: float = 1e-10):
    dy = torch.randn(oracle(x).shape, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    oracle.load_state_dict(lean.state_dict())  # the probe forward above moved the oracle's statistics
    out_l, dx_l, grads_l = run(lean, x, dy)
    out_o, dx_o, grads_o = run(oracle, x, dy)
    torch.testing.assert_close(out_l, out_o, rtol=tol, atol=tol)
    torch.testing.assert_close(dx_l, dx_o, rtol=tol, atol=tol)
    assert grads_l.keys() == grads_o.keys()
    for name in grads_o:
        torch.testing.assert_close(grads_l[name], grads_o[name], rtol=tol, atol=tol, msg=lambda m, k=name: f"{k}: {m}")
    for name, buffer in oracle.named_buffers():
        assert torch.equal(dict(lean.named_buffers())[name], buffer) or torch.allclose(
            dict(lean.named_buffers())[name], buffer, rtol=tol, atol=tol), name


@given(case=lean_cases())
def test_lean_equals_the_autograd_definition_in_every_gradient_and_running_statistic(case):
    lean, oracle = build(case, "lean"), build(case, "autograd")
    assert lean.uses_lean and not oracle.uses_lean
    x = torch.randn(case["shape"].input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert_same_layer(lean, oracle, x)


@pytest.mark.parametrize("n", [5, 8])
@pytest.mark.parametrize("stride,size", [(1, (6, 5)), (2, (9, 7))])
def test_lean_equals_the_autograd_definition_up_to_eight_steps(n, stride, size):
    shape = LayerShape(N=2, T=2, Cin=4, n=n, c=1, H=size[0], W=size[1], K=3, stride=stride, padding=1, dilation=1,
                       bias=False)
    case = {"shape": shape, "pool": "max", "aru_act": "relu", "norm": "affine", "act": "relu", "train": True,
            "seed": 5}
    x = torch.rand(shape.input_shape, dtype=torch.float64)
    assert_same_layer(build(case, "lean"), build(case, "autograd"), x)


@given(shape=layer_shapes(), seed=seeds, pool=pools, aru_act=aru_acts)
def test_lean_equals_the_numpy_reference_in_float64(shape, seed, pool, aru_act):
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    x, dy = rng.standard_normal(shape.input_shape), rng.standard_normal(shape.output_shape)
    previous = reference.get_backend()
    reference.set_backend("numpy")  # the readable backend: nothing to compile
    try:
        y_ref, cache = reference.arc_forward(x, params, shape.n, shape.T, shape.stride, shape.padding,
                                             shape.dilation, pool=pool, aru_act=aru_act)
        dx_ref, grads_ref = reference.arc_backward(dy, cache)
    finally:
        reference.set_backend(previous)
    layer = ARCConv2d(shape.Cin, shape.Cout, shape.K, shape.stride, shape.padding, shape.dilation, shape.bias,
                      n=shape.n, num_segments=shape.T, pool=pool, aru_act=aru_act, impl="lean").double()
    with torch.no_grad():
        for name, value in layer.named_parameters():
            value.copy_(torch.from_numpy(params[name]))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = layer(xt)
    yt.backward(torch.from_numpy(dy))
    for what, ours, theirs in [("y", yt.detach(), y_ref), ("dx", xt.grad, dx_ref),
                               *((f"d{k}", p.grad, grads_ref[k]) for k, p in layer.named_parameters())]:
        scale = max(np.abs(theirs).max(initial=0.0), 1e-12)
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-8, atol=1e-8 * scale, err_msg=what)


GRADCHECK_CASES = [
    # (Cin, Cout, K, stride, padding, n, H, W, pool, aru_act, norm, act, train, fast); fast: random projections
    (2, 2, 3, 2, 1, 2, 3, 3, "max", "relu", "affine", "relu", True, False),
    (3, 4, 3, 1, 1, 2, 4, 4, "max", "relu", None, None, True, True),
    (3, 4, 3, 2, 1, 2, 5, 4, "mean", "leaky_relu", "affine", "relu", False, True),
    (2, 6, 3, 2, 1, 3, 5, 5, "max", "leaky_relu", "affine", "leaky", True, True),
    (3, 4, 1, 1, 1, 2, 3, 3, "mean", "relu", "affine", None, True, True),  # padded 1×1: a part larger than the state
]


@pytest.mark.parametrize("Cin,Cout,K,stride,padding,n,H,W,pool,aru_act,norm,act,train,fast", GRADCHECK_CASES)
def test_gradcheck_of_the_hand_written_backward(Cin, Cout, K, stride, padding, n, H, W, pool, aru_act, norm, act,
                                                train, fast):
    shape = LayerShape(N=1, T=2, Cin=Cin, n=n, c=Cout // n, H=H, W=W, K=K, stride=stride, padding=padding,
                       dilation=1, bias=True)
    layer = build({"shape": shape, "pool": pool, "aru_act": aru_act, "norm": norm, "act": act, "train": train,
                   "seed": 2}, "lean")
    names = [name for name, _ in layer.named_parameters()]
    x = torch.randn(shape.input_shape, dtype=torch.float64, requires_grad=True)

    def fn(x, *params):
        state = copy.deepcopy(dict(layer.named_buffers()))
        out = torch.func.functional_call(layer, {**dict(zip(names, params, strict=True)), **state}, (x,))
        return out

    assert torch.autograd.gradcheck(fn, (x, *layer.parameters()), eps=1e-6, atol=1e-6, fast_mode=fast)


def test_lean_keeps_the_input_and_the_output_of_a_bare_layer_and_the_conv_outputs_inside_a_network():
    """Bare conv: `X0` and `Y`, 2·CHWT at stride 1 (the autograd definition keeps `X0` and five buffers per step).
    With BatchNorm and ReLU: `X0`, the parts' conv outputs (what BatchNorm needs) and the batch statistics — no
    more than conv → BatchNorm keeps (which also holds the running statistics)."""
    C, H, T, n = 8, 6, 4, 4
    x = torch.rand(T, C, H, H, requires_grad=True)
    bare = ARCConv2d(C, C, 3, padding=1, bias=False, n=n, num_segments=T)
    assert measure_memory(bare, x) == 2 * C * H * H * T
    net = ARCConv2d(C, C, 3, padding=1, bias=False, n=n, num_segments=T, norm=nn.BatchNorm2d(C), act=nn.ReLU())
    twin = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    assert measure_memory(net, x) == 2 * C * H * H * T + 2 * C == measure_memory(twin, x) - 2 * C


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_bf16_autocast_runs_the_products_in_bf16_and_matches_the_definition(pool):
    case = {"shape": LayerShape(N=2, T=3, Cin=8, n=4, c=2, H=7, W=7, K=3, stride=2, padding=1, dilation=1, bias=False),
            "pool": pool, "aru_act": "relu", "norm": "affine", "act": "relu", "train": True, "seed": 4}
    lean, oracle = build(case, "lean").float(), build(case, "autograd").float()
    x = torch.rand(case["shape"].input_shape)
    results = []
    for layer in (lean, oracle):
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(xi)
        y.float().square().sum().backward()
        results.append((y, xi.grad, [p.grad for p in layer.parameters()]))
    (y_l, dx_l, g_l), (y_o, dx_o, g_o) = results
    assert y_l.dtype == y_o.dtype == torch.bfloat16
    assert dx_l.dtype == torch.float32 and all(g.dtype == torch.float32 for g in g_l)
    torch.testing.assert_close(y_l.float(), y_o.float(), rtol=0.05, atol=0.05)
    for a, b in zip([dx_l, *g_l], [dx_o, *g_o], strict=True):
        assert torch.isfinite(a).all()
        assert (a - b).norm() <= 0.1 * b.norm() + 1e-3


def test_channels_last_input_gives_the_same_numbers_and_keeps_its_layout():
    case = {"shape": LayerShape(N=1, T=4, Cin=6, n=3, c=2, H=6, W=5, K=3, stride=1, padding=1, dilation=1, bias=True),
            "pool": "mean", "aru_act": "relu", "norm": "affine", "act": "relu", "train": True, "seed": 7}
    x = torch.rand(case["shape"].input_shape, dtype=torch.float64)
    lean = build(case, "lean").to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert lean(x_cl).is_contiguous(memory_format=torch.channels_last)
    assert_same_layer(lean, build(case, "autograd"), x_cl)


def test_trace_runs_the_definition_and_agrees_with_the_lean_forward():
    case = {"shape": LayerShape(N=1, T=3, Cin=4, n=4, c=2, H=6, W=6, K=3, stride=2, padding=1, dilation=1, bias=True),
            "pool": "max", "aru_act": "relu", "norm": "affine", "act": "relu", "train": False, "seed": 8}
    layer = build(case, "lean")
    x = torch.rand(case["shape"].input_shape, dtype=torch.float64)
    y, record = layer.trace(x)
    torch.testing.assert_close(y, layer(x), rtol=1e-12, atol=1e-12)
    assert len(record["state"]) == 4 and len(record["attention"]) == 3 and record["state"][1].shape == x.shape


@pytest.mark.slow
def test_torch_compile_traces_the_lean_layer_with_its_backward_in_one_graph_that_follows_the_definition():
    """dynamo captures the Function whole — one graph, no break, the hand-written backward traced into it — and the
    compiled layer gives the autograd definition's output, input and parameter gradients and running statistics
    (random ARU maps, signed input, and a size whose mean-pool copy counts are not uniform)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    layer = ARCConv2d(4, 8, 3, 2, 1, n=4, num_segments=2, pool="mean", norm=nn.BatchNorm2d(8), act=nn.ReLU())
    with torch.no_grad():
        for p in (layer.embed, layer.fuse, layer.attend):
            p.normal_(0, 0.5)
    explanation = torch._dynamo.explain(layer)(torch.randn(4, 4, 10, 10))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons
    graph = explanation.graphs[0].graph
    assert [node.target for node in graph.nodes if node.op == "call_function" and node.target is not getitem] == [
        torch.ops.higher_order.autograd_function_apply]
    assert {node.target for node in graph.nodes if node.op == "get_attr"} == {"fwd_body_0", "bwd_body_0"}

    definition = copy.deepcopy(layer)
    definition.impl = "autograd"
    compiled = torch.compile(layer, backend="aot_eager")
    x = torch.randn(4, 4, 9, 7)  # 9×7 → 5×4: U copies rows and columns unevenly
    dy = torch.randn(4, 8, 5, 4)
    results = []
    for module, named in ((compiled, layer), (definition, definition)):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.backward(dy)
        results.append({"y": y.detach(), "dx": xi.grad, **{f"d{k}": p.grad for k, p in named.named_parameters()},
                        **dict(named.named_buffers())})
    compiled_results, expected = results
    assert compiled_results.keys() == expected.keys() and len(expected) == 12
    for name, value in expected.items():
        torch.testing.assert_close(compiled_results[name], value, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=name: f"{k}: {m}")
    torch._dynamo.reset()


def test_an_activation_without_a_hand_written_derivative_runs_the_definition():
    layer = ARCConv2d(4, 4, 3, padding=1, n=2, num_segments=2, act=nn.GELU())
    assert not layer.uses_lean and "impl='lean'" in repr(layer)
    assert layer(torch.rand(2, 4, 5, 5)).shape == (2, 4, 5, 5)
    with pytest.raises(ValueError, match="impl"):
        ARCConv2d(4, 4, 3, impl="fused")


def test_relu_output_is_what_the_part_writes():
    """The activation writes straight into the output's channels: `Y` is the conv → BN → ReLU of each part."""
    layer = ARCConv2d(3, 6, 3, padding=1, n=1, num_segments=1, norm=nn.BatchNorm2d(6), act=nn.ReLU()).eval()
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(layer(x), F.relu(layer.norm(F.conv2d(x, layer.weight, layer.bias, padding=1))))
