"""ARCConv2d against docs/layer.md: zero-init equivalence, the literal definition, gradients, errors; both
implementations (`impl="lean"`, `"autograd"`); the ops' contracts (`U` is PyTorch's nearest resize)."""

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from definition import literal_arc
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import aru_acts, layer_shapes, pools, seeds
from torch import nn

from arc import ARCConv2d
from arc.nn.ops import nearest_index, pool_space, repeat_counts, resize_nearest

T = 3


pytestmark = pytest.mark.usefixtures("one_thread")


def random_layer(cin, cout, stride, bias, pool="max", aru_act="relu", n=4, with_norm=False, aru_std=0.0, seed=0,
                 impl="lean"):
    """A random conv (+ BN + ReLU), its untouched twin, and an ARC layer built from a copy of it."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias).double()
    norm = act = None
    if with_norm:
        norm = nn.BatchNorm2d(cout).double()
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
            norm.running_mean.uniform_(-0.2, 0.2)
            norm.running_var.uniform_(0.5, 2)
        act = nn.ReLU()
    twin = nn.Sequential(*[m for m in (copy.deepcopy(conv), copy.deepcopy(norm), act) if m is not None])
    layer = ARCConv2d.from_conv(conv, n=n, num_segments=T, norm=norm, act=act, pool=pool, aru_act=aru_act, impl=impl)
    if aru_std:
        with torch.no_grad():
            for p in (layer.embed, layer.fuse, layer.attend):
                p.normal_(0, aru_std)
    return layer, twin


CASES = list(itertools.product([1, 2], [True, False], ["max", "mean"], ["relu", "leaky_relu"]))


@pytest.mark.parametrize("stride,bias,pool,aru_act", CASES)
@pytest.mark.parametrize("with_norm", [False, True])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("impl", ["lean", "autograd"])
def test_zero_init_equals_wrapped_conv_on_nonnegative_input(stride, bias, pool, aru_act, with_norm, train, impl):
    layer, twin = random_layer(8, 12, stride, bias, pool, aru_act, with_norm=with_norm, impl=impl)
    layer.train(train)
    twin.train(train)
    x = torch.rand(2 * T, 8, 7, 7, dtype=torch.float64)
    for _ in range(2):  # twice: the running statistics must follow the twin's step for step
        torch.testing.assert_close(layer(x), twin(x), rtol=1e-12, atol=1e-12)
    if with_norm:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(layer.norm, name), getattr(twin[1], name), rtol=1e-12, atol=1e-12)
        if train:
            assert not torch.allclose(layer.norm.running_mean, torch.zeros(12, dtype=torch.float64))
            assert int(layer.norm.num_batches_tracked) == 2


@pytest.mark.parametrize("aru_act", ["relu", "leaky_relu"])
def test_zero_init_differs_on_signed_input(aru_act):
    layer, twin = random_layer(8, 12, 1, True, aru_act=aru_act)
    x = torch.randn(2 * T, 8, 6, 6, dtype=torch.float64)
    out, ref = layer(x), twin(x)
    c = 3
    torch.testing.assert_close(out[:, :c], ref[:, :c])  # part 1 sees X0 itself
    assert (out[:, c:] - ref[:, c:]).abs().max() > 1e-2  # later parts see σ(σ(X0)), not X0


@pytest.mark.parametrize("stride,pool,aru_act",
    list(itertools.product([1, 2], ["max", "mean"], ["relu", "leaky_relu"]))
)
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("impl", ["lean", "autograd"])
def test_forward_equals_literal_definition(stride, pool, aru_act, n, impl):
    layer, _ = random_layer(5, 6, stride, True, pool, aru_act, n=n, aru_std=0.4, impl=impl)
    x = torch.randn(2 * T, 5, 7, 6, dtype=torch.float64)  # 7×6 → 4×3 at stride 2: not integer multiples
    torch.testing.assert_close(layer(x), literal_arc(layer, x)[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,pool", list(itertools.product([1, 2], ["max", "mean"])))
@pytest.mark.parametrize("with_norm", [False, True])
@pytest.mark.parametrize("impl", ["lean", "autograd"])
def test_gradcheck_with_random_aru(stride, pool, with_norm, impl):
    """Full Jacobians for the definition; random projections (`fast_mode`) for the lean layer, whose full
    Jacobian is checked on the smallest shapes in test_nn_lean.py."""
    layer, _ = random_layer(3, 4, stride, True, pool, n=2, with_norm=with_norm, aru_std=0.5, seed=stride, impl=impl)
    layer.eval()
    x = torch.randn(T, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    params = [p for p in layer.parameters()]
    names = [name for name, _ in layer.named_parameters()]

    def fn(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-7, fast_mode=impl == "lean")


def test_aru_receives_gradient_at_zero_init():
    layer, _ = random_layer(6, 8, 1, False, with_norm=True)
    x = torch.rand(2 * T, 6, 5, 5, dtype=torch.float64)
    layer(x).square().sum().backward()
    for name in ("embed", "fuse", "attend"):
        grad = getattr(layer, name).grad
        assert grad is not None and grad.abs().max() > 1e-6, name


def test_parameters_have_the_canonical_names_and_shapes_and_share_the_conv_tensors():
    conv = nn.Conv2d(16, 12, 3, padding=1)
    layer = ARCConv2d.from_conv(conv, n=4)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {"weight": (12, 16, 3, 3), "bias": (12,), "embed": (16, 16), "fuse": (3, 16, 3),
                      "attend": (3, 16, 3)}
    assert layer.weight is conv.weight and layer.bias is conv.bias
    assert all(float(getattr(layer, n).detach().abs().max()) == 0 for n in ("embed", "fuse", "attend"))
    plain = ARCConv2d(16, 12, 3, n=1, bias=False)
    assert [name for name, _ in plain.named_parameters()] == ["weight"]
    assert "n=4, num_segments=8" in repr(layer)


@given(shape=layer_shapes(max_Cin=5, max_c=3, max_size=12), pool=pools, aru_act=aru_acts, norm=st.booleans(),
       train=st.booleans(), seed=seeds)
def test_trace_records_the_states_and_attention_maps_of_the_definition(shape, pool, aru_act, norm, train, seed):
    """`trace()`'s `Z_i` and `A_i` (what the figures draw) are Eqs. 5–7 computed literally from the parameters,
    strided or not, with or without BatchNorm and ReLU, in train or eval mode, on signed input."""
    # BatchNorm refuses to train on one value per channel (a ValueError, not a wrong trace)
    assume(not (norm and train) or shape.N * shape.T * shape.out_size[0] * shape.out_size[1] > 1)
    torch.manual_seed(seed % 2**31)
    conv = nn.Conv2d(shape.Cin, shape.Cout, shape.K, shape.stride, shape.padding, shape.dilation, bias=shape.bias)
    bn = nn.BatchNorm2d(shape.Cout) if norm else None
    layer = ARCConv2d.from_conv(conv, n=shape.n, num_segments=shape.T, norm=bn, act=nn.ReLU() if norm else None,
                                pool=pool, aru_act=aru_act).double().train(train)
    with torch.no_grad():
        for p in (layer.embed, layer.fuse, layer.attend, *(() if bn is None else (bn.weight, bn.bias))):
            if p is not None:
                p.normal_(0, 0.5)
        if bn is not None:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2)
    x = torch.randn(shape.input_shape, dtype=torch.float64)
    expected, states, attention = literal_arc(layer, x)
    y, record = layer.trace(x)
    assert len(record["state"]) == shape.n and len(record["attention"]) == shape.n - 1
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    for i, (got, want) in enumerate(zip(record["state"], states, strict=True)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m, i=i: f"Z_{i + 1}: {m}")
    for i, (got, want) in enumerate(zip(record["attention"], attention, strict=True)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m, i=i: f"A_{i + 2}: {m}")


def test_bad_conv_counts_options_and_input_shapes_are_refused_by_name():
    with pytest.raises(ValueError, match="groups=1"):
        ARCConv2d.from_conv(nn.Conv2d(8, 8, 3, groups=2))
    with pytest.raises(ValueError, match="not divisible by n=4"):
        ARCConv2d.from_conv(nn.Conv2d(8, 6, 3), n=4)
    with pytest.raises(ValueError, match="pool"):
        ARCConv2d(4, 4, 3, pool="avg")
    with pytest.raises(ValueError, match="aru_act"):
        ARCConv2d(4, 4, 3, aru_act="gelu")
    with pytest.raises(TypeError, match="BatchNorm2d"):
        ARCConv2d(4, 4, 3, norm=nn.GroupNorm(2, 4))
    with pytest.raises(ValueError, match="features"):
        ARCConv2d(4, 4, 3, norm=nn.BatchNorm2d(8))
    layer = ARCConv2d(4, 4, 3, num_segments=8)
    with pytest.raises(ValueError, match="not a multiple of num_segments=8"):
        layer(torch.rand(6, 4, 5, 5))
    with pytest.raises(ValueError, match=r"\[N\*T, 4, H, W\]"):
        layer(torch.rand(8, 3, 5, 5))


def test_nearest_index_and_copy_counts_are_those_of_f_interpolate_for_every_size_pair_up_to_80():
    """`U` is PyTorch's nearest resize (its float32 index rule, not `⌊h·H'/H⌋`: 30 → 58 maps 29 to 14)."""
    for src in range(1, 81):
        line = torch.arange(src, dtype=torch.float64).view(1, 1, src, 1)
        for dst in range(1, 81):
            copied = F.interpolate(line, size=(dst, 1), mode="nearest").view(-1).long()
            assert torch.equal(nearest_index(dst, src), copied), (src, dst)
            assert torch.equal(repeat_counts(dst, src), torch.bincount(copied, minlength=src)), (src, dst)
    assert int(nearest_index(58, 30)[29]) == 14


@pytest.mark.parametrize("size,to", [((7, 5), (14, 10)), ((4, 3), (7, 6)), ((7, 7), (5, 5)), ((30, 29), (58, 58))])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_resize_nearest_is_f_interpolate_and_keeps_the_dtype(size, to, dtype):
    """Integer factors (expand), others (gather), shrinking (a padded 1×1 conv); the dtype stays the input's —
    under CUDA autocast `F.interpolate` would return float32 (it is on autocast's float32 list)."""
    y = torch.randn(2, 3, *size).to(dtype)
    out = resize_nearest(y, to)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), F.interpolate(y.double(), size=to, mode="nearest"), rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert resize_nearest(y, to).dtype == dtype


@pytest.mark.parametrize("part,state", [((4, 3), (7, 6)), ((10, 10), (20, 20)), ((5, 5), (9, 9))])
def test_mean_pool_space_is_the_mean_over_the_resized_part_and_compiles_without_graph_breaks(part, state):
    y = torch.randn(4, 3, *part, dtype=torch.float64)
    expected = F.interpolate(y, size=state, mode="nearest").mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(pool_space(y, "mean", state), expected, rtol=1e-12, atol=1e-12)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(pool_space)(y, "mean", state)
    torch._dynamo.reset()
    assert explanation.graph_break_count == 0, explanation.break_reasons
