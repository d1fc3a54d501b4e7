"""The paper's ablations (Table 5; docs/layer.md, "Ablations"): `ARCConv2d` with ARU terms left out (`aru_terms`) and
the attention over one pooled view (`attention`), in both implementations — a term that is off has no parameter and
computes as its absence; every combination differentiated by hand as autograd does; the counts of `arc.overhead`."""

from __future__ import annotations

import itertools

import pytest
import torch
from definition import literal_arc
from hypothesis import given
from hypothesis import strategies as st
from strategies import LayerShape
from test_nn_layer import T, random_layer
from test_nn_lean import assert_same_layer, build, lean_cases
from torch import nn

from arc import ARCConv2d
from arc import overhead as oh
from arc.nn.choices import ARU_NAMES, ATTENTIONS, IMPLS

pytestmark = pytest.mark.usefixtures("one_thread")

TERM_SETS = [terms for r in range(len(ARU_NAMES) + 1) for terms in itertools.combinations(ARU_NAMES, r)]
VIEWS = {"both": ("space", "time"), "space": ("space",), "time": ("time",)}   # the pooled views each attention uses


def ablated_twin(full: ARCConv2d, terms, attention: str = "both") -> ARCConv2d:
    """A layer with `full`'s conv, norm and the ARU maps of `terms` (shared tensors), built with the ablation."""
    layer = ARCConv2d.from_conv(nn.Conv2d(full.in_channels, full.out_channels, 3, full.stride, 1,
                                          bias=full.bias is not None).double(),
                                n=full.n, num_segments=full.num_segments, norm=full.norm, act=full.act,
                                pool=full.pool, aru_act=full.aru_act, impl=full.impl, aru_terms=terms,
                                attention=attention)
    layer.load_state_dict({k: v for k, v in full.state_dict().items() if k in layer.state_dict()})
    return layer


def forward_backward(layer: ARCConv2d, x: torch.Tensor):
    """Output, input gradient and parameter gradients (by name) of one forward and backward."""
    x = x.clone().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    y = layer(x)
    y.backward(torch.cos(torch.arange(y.numel(), dtype=y.dtype)).view_as(y))
    return y.detach(), x.grad, {name: p.grad for name, p in layer.named_parameters()}


def test_a_term_that_is_off_has_no_parameter_and_the_canonical_layout_loses_its_entry():
    full = {"embed": (16, 16), "fuse": (3, 16, 3), "attend": (3, 16, 3)}
    for terms in TERM_SETS:
        layer = ARCConv2d(16, 12, 3, padding=1, n=4, aru_terms=",".join(terms) or "none")
        assert layer.aru_terms == terms
        expected = {"weight": (12, 16, 3, 3), "bias": (12,), **{t: full[t] for t in terms}}
        assert {name: tuple(p.shape) for name, p in layer.named_parameters()} == expected
        assert list(layer.state_dict()) == list(expected)
        assert all(getattr(layer, name) is None for name in ARU_NAMES if name not in terms)
        assert ("aru_terms=" in repr(layer)) == (terms != ARU_NAMES)
    assert [name for name, _ in ARCConv2d(16, 12, 3, n=1, aru_terms=("fuse",)).named_parameters()] == \
        ["weight", "bias"]
    for bad, says in ((("fuse", "gate"), "unknown ARU term"), ("embed;fuse", "unknown ARU term")):
        with pytest.raises(ValueError, match=says):
            ARCConv2d(4, 4, 3, aru_terms=bad)
    with pytest.raises(ValueError, match="attention must be one of both, space, time"):
        ARCConv2d(4, 4, 3, attention="spatial")


@pytest.mark.parametrize("terms", [t for t in TERM_SETS if t != ARU_NAMES])
@pytest.mark.parametrize("impl", IMPLS)
def test_a_term_that_is_off_computes_as_the_full_layer_with_its_maps_at_zero(terms, impl):
    """Output, input gradient and every gradient of what the ablation keeps, on signed input through a strided conv
    with BatchNorm and ReLU; and not what the full layer with its random maps computes."""
    full, _ = random_layer(5, 6, 2, True, n=3, with_norm=True, aru_std=0.5, seed=3, impl=impl)
    full.eval()
    x = torch.randn(2 * T, 5, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y_random = full(x)
    layer = ablated_twin(full, terms)
    with torch.no_grad():
        for name in ARU_NAMES:
            if name not in terms:
                getattr(full, name).zero_()
    y, dx, grads = forward_backward(layer, x)
    y_zeroed, dx_zeroed, grads_zeroed = forward_backward(full, x)
    torch.testing.assert_close(y, y_zeroed, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, dx_zeroed, rtol=1e-12, atol=1e-12)
    assert set(grads) == {"weight", "bias", "norm.weight", "norm.bias", *terms}
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_zeroed[name], rtol=1e-12, atol=1e-12, msg=name)
    assert (y - y_random).abs().max() > 1e-3


@pytest.mark.parametrize("attention", [a for a in ATTENTIONS if a != "both"])
@pytest.mark.parametrize("stride,pool", list(itertools.product([1, 2], ["max", "mean"])))
@pytest.mark.parametrize("impl", IMPLS)
def test_one_attention_view_follows_its_literal_definition_and_is_not_both(attention, stride, pool, impl):
    """The two views share `Wa_j`, so no zeroed map makes one view of the other: the layer against the literal
    definition (`A_i = Σ Wa_j ⋆ PoolS(U(Y_j))`, or `PoolT`), and away from `PoolS ⊕ PoolT` with the same maps."""
    both, _ = random_layer(5, 6, stride, True, pool, n=3, aru_std=0.5, seed=1, impl=impl)
    layer = ablated_twin(both, ARU_NAMES, attention)
    x = torch.randn(2 * T, 5, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = layer(x)
    torch.testing.assert_close(y, literal_arc(layer, x)[0], rtol=1e-10, atol=1e-10)
    assert (y - both(x)).abs().max() > 1e-3
    assert f"attention={attention!r}" in repr(layer)


@pytest.mark.parametrize("terms", TERM_SETS)
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pool,aru_act", [("max", "relu"), ("mean", "leaky_relu")])
def test_lean_equals_the_definition_for_every_ablation(terms, attention, pool, aru_act):
    """Every combination once, on a strided conv whose parts `U` copies unevenly, with BatchNorm (training mode)
    and ReLU: output, input gradient, every parameter gradient, the running statistics. Both σ: a σ missing from
    Eq. 5 changes nothing under ReLU where its input is already a ReLU's output."""
    shape = LayerShape(N=2, T=2, Cin=4, n=3, c=2, H=7, W=5, K=3, stride=2, padding=1, dilation=1, bias=True)
    case = {"shape": shape, "pool": pool, "aru_act": aru_act, "norm": "affine", "act": "relu", "train": True,
            "seed": 11, "aru_terms": terms, "attention": attention}
    lean, oracle = build(case, "lean"), build(case, "autograd")
    assert lean.uses_lean and lean.aru_terms == terms and lean.attention == attention
    x = torch.randn(shape.input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert_same_layer(lean, oracle, x)


@given(case=lean_cases(), terms=st.sets(st.sampled_from(ARU_NAMES)), attention=st.sampled_from(ATTENTIONS))
def test_lean_equals_the_definition_for_every_ablation_over_shapes_norms_and_activations(case, terms, attention):
    case = {**case, "aru_terms": tuple(terms), "attention": attention}
    lean, oracle = build(case, "lean"), build(case, "autograd")
    x = torch.randn(case["shape"].input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert_same_layer(lean, oracle, x)


def test_trace_records_the_attention_of_the_views_kept_and_zero_without_it():
    both, _ = random_layer(4, 6, 1, True, n=3, aru_std=0.5, seed=5)
    x = torch.rand(T, 4, 5, 5, dtype=torch.float64)
    _, record = both.trace(x)
    views = {}
    for attention in ("space", "time"):
        _, views[attention] = ablated_twin(both, ARU_NAMES, attention).trace(x)
    _, none = ablated_twin(both, ("embed", "fuse")).trace(x)
    step2 = [r["attention"][0] for r in (record, views["space"], views["time"], none)]
    torch.testing.assert_close(step2[0], step2[1] + step2[2], rtol=1e-12, atol=1e-12)  # step 2: only Y_1 attended
    assert torch.equal(step2[1], step2[1].amax(dim=(2, 3), keepdim=True).expand_as(step2[1]))  # constant over space
    assert torch.equal(step2[2], step2[2][:1].expand_as(step2[2]))  # the same at every frame of the clip
    assert len(none["attention"]) == 2 and all(float(a.abs().max()) == 0 for a in none["attention"])


# -- what it costs: arc.overhead ----------------------------------------------------------------------------

# Cin 8, Cout 12, K 3, n 4 (c = 3), one clip of T = 2 frames of 6×6, stride 2 (output 3×3), no bias; by hand:
PARAMS = {"conv": 12 * 8 * 9, "embed": 8 * 8, "fuse": 3 * 8 * 3, "attend": 3 * 8 * 3}   # 864, 64, 72, 72
MACS = {"conv": 864 * 9 * 2, "embed": 64 * 36 * 2, "fuse": 72 * 9 * 2,   # conv and fusion at 3×3, E at 6×6
        "space": 72 * 2, "time": 72 * 9}   # Wa_j on PoolS (one value per frame) and on PoolT (one per position)


@pytest.mark.parametrize("terms", TERM_SETS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_parameters_and_multiply_adds_of_every_ablation_are_the_hand_derived_counts(terms, attention):
    params = PARAMS["conv"] + sum(PARAMS[t] for t in terms)
    views = VIEWS[attention] if "attend" in terms else ()
    macs = MACS["conv"] + sum(MACS[t] for t in terms if t != "attend") + sum(MACS[v] for v in views)
    aru = dict(aru_terms=terms, attention=attention)
    assert oh.params_formula(8, 3, 4, cout=12, aru_terms=terms) == params
    assert oh.flops_formula(8, 6, 6, 2, 3, 4, cout=12, stride=2, **aru) == macs
    x = torch.rand(2, 8, 6, 6)
    for impl in IMPLS:
        layer = ARCConv2d(8, 12, 3, 2, 1, bias=False, n=4, num_segments=2, impl=impl, **aru)
        assert (oh.measure_params(layer), oh.measure_multiply_adds(layer, x)) == (params, macs), impl
    report = oh.layer_report(cin=8, cout=12, H=6, T=2, n=4, stride=2, **aru)
    assert (report["formula"]["params"], report["formula"]["flops"]) == (params, macs)
    assert (report["measured"]["params"], report["measured"]["flops"]) == (params, macs)
    assert report["layer"]["aru_terms"] == list(terms) and report["layer"]["attention"] == attention
    assert (report["formula"]["params_printed"] is None) == (terms != ARU_NAMES)


@pytest.mark.parametrize("terms", TERM_SETS)
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("pool,stride", [("max", 1), ("mean", 2)])
def test_memory_of_every_ablation_is_what_the_formulas_say(terms, attention, pool, stride):
    """Eq. 10 less the terms left out, by hand (C 8, 6×6, T 2, n 4: CHWT 576, CHW 288, CT 16); what the layer keeps
    (lean: X0 and Y, whatever the ablation) and its autograd definition keeps, measured."""
    aru = dict(aru_terms=terms, attention=attention)
    views = VIEWS[attention] if "attend" in terms else ()
    eq10 = 576 * (1 + ("embed" in terms)) + 3 * 576 + 288 * ("time" in views) + 16 * ("space" in views)
    assert oh.memory_formula(8, 6, 6, 2, 4, **aru) == eq10
    x = torch.rand(2, 8, 6, 6, requires_grad=True)
    layer = ARCConv2d(8, 8, 3, stride, 1, bias=False, n=4, num_segments=2, pool=pool, **aru)
    kwargs = dict(stride=stride, pool=pool, **aru)
    assert oh.measure_memory(layer, x) == oh.memory_saved(8, 6, 6, 2, 3, 4, **kwargs) == 576 + 8 * 36 // stride**2 * 2
    assert oh.measure_memory(layer, x, run=layer.definition) == \
        oh.memory_saved(8, 6, 6, 2, 3, 4, impl="autograd", **kwargs)


def test_a_whole_model_with_an_ablation_costs_the_sum_of_its_layers():
    """ARC − TSM of ARC-TSM-R18 in res5 is the ARU cost of its four 3×3 convs (512 channels at 7×7 but the first,
    which reads 256 at 14×14 and, strided, writes 7×7), by `flops_formula` / `params_formula`."""
    aru = dict(aru_terms=("fuse", "attend"), attention="time")
    report = oh.model_report("r18", frames=2, num_classes=5, stages="res5", n=4, size=224, memory=False, **aru)
    layers = [(256, 512, 14, 2), (512, 512, 7, 1), (512, 512, 7, 1), (512, 512, 7, 1)]
    flops = sum(oh.flops_formula(cin, H, H, 2, 3, 4, cout=cout, stride=s, **aru)
                - oh.flops_formula(cin, H, H, 2, 3, 1, cout=cout, stride=s) for cin, cout, H, s in layers)
    params = sum(oh.params_formula(cin, 3, 4, cout=cout, aru_terms=aru["aru_terms"]) - 9 * cin * cout
                 for cin, cout, _, _ in layers)
    assert report["arc"]["flops"] - report["tsm"]["flops"] == flops
    assert report["arc"]["params"] - report["tsm"]["params"] == params == 3 * 2 * (256 + 512 * 3) * 128
    assert report["model"]["aru_terms"] == ["fuse", "attend"] and report["model"]["attention"] == "time"
