"""Overhead counting (paper Eqs. 8–10; docs/overhead.md): formulas vs what a real ARCConv2d / ARC-TSM model measures."""

from fractions import Fraction

import pytest
import torch
import torchvision
from clock import WorkClock
from hypothesis import given
from strategies import layer_shapes
from torch import nn

from arc import overhead as oh
from arc.bench.layer import time_layer as bench_layer
from arc.nn.layer import ARCConv2d

# (C, H, W, T, K, n): n = 1 is the plain conv; K = 1 and 5 and non-square frames included.
SHAPES = [(8, 5, 7, 3, 3, 1), (8, 5, 7, 3, 3, 2), (16, 6, 5, 4, 3, 4), (12, 4, 4, 2, 5, 3), (6, 3, 9, 5, 1, 2),
          (32, 7, 7, 8, 3, 8)]


def eq8_literal(C, H, W, T, K, n):
    """Eq. 8 as printed (exact rational arithmetic); for n = 1 the layer is the plain conv."""
    if n == 1:
        return K * K * C * C * H * W * T
    extra = Fraction(C * C * (H * W * T + H * W + T) * (n - 1), n)
    assert extra.denominator == 1
    return K * K * C * C * H * W * T + C * C * H * W * T + int(extra)


@pytest.mark.parametrize("C,H,W,T,K,n", SHAPES)
def test_measured_multiply_adds_equal_eq8_exactly(C, H, W, T, K, n):
    report = oh.layer_report(C, H, W, T, K, n)
    assert report["measured"]["flops"] == eq8_literal(C, H, W, T, K, n)
    assert report["formula"]["flops"] == eq8_literal(C, H, W, T, K, n)
    assert report["plain"]["flops"] == K * K * C * C * H * W * T
    if n == 1:
        assert report["measured"] == {**report["plain"], "memory_elements": C * H * W * T,
                                      "memory_elements_autograd": C * H * W * T}


@pytest.mark.parametrize("C,H,W,T,K,n", SHAPES)
def test_measured_params_equal_corrected_eq9_and_exceed_printed_by_one_map_set(C, H, W, T, K, n):
    report = oh.layer_report(C, H, W, T, K, n)
    corrected = K * K * C * C + (0 if n == 1 else C * C + 2 * C * C * (n - 1) // n)
    assert report["measured"]["params"] == corrected == report["formula"]["params"]
    assert report["formula"]["params"] - report["formula"]["params_printed"] == C * C * (n - 1) // n
    assert report["plain"]["params"] == K * K * C * C


@pytest.mark.parametrize("C,H,W,T,K,n", SHAPES)
def test_measured_memory_is_input_and_output_lean_and_five_buffers_per_step_autograd(C, H, W, T, K, n):
    """The layer keeps X0 and Y (X0 only when n = 1); its autograd definition keeps X0 and, per step, Y_i, its two
    pooled maps, σ(E + A_i) and Z_i (see memory_saved). Eq. 10 lies between the two."""
    report = oh.layer_report(C, H, W, T, K, n)
    c, full = C // n, C * H * W * T
    lean = full if n == 1 else 2 * full
    autograd = full + (n - 1) * (2 * full + c * (H * W * T + H * W + T))
    assert report["measured"]["memory_elements"] == lean == oh.memory_saved(C, H, W, T, K, n)
    assert report["measured"]["memory_elements_autograd"] == autograd == oh.memory_saved(C, H, W, T, K, n,
                                                                                          impl="autograd")
    eq10 = full if n == 1 else 2 * full + (n - 1) * full + C * H * W + C * T
    assert report["formula"]["memory_elements"] == eq10
    assert (lean < eq10 < autograd) == (n > 1)


def test_report_has_exactly_the_documented_json_shape():
    report = oh.layer_report(16, 6, n=4)
    assert {k: set(v) for k, v in report.items()} == {
        "layer": {"cin", "cout", "H", "W", "T", "K", "n", "stride", "pool", "aru_terms", "attention"},
        "formula": {"flops", "params", "params_printed", "memory_elements"},
        "measured": {"flops", "params", "memory_elements", "memory_elements_autograd"},
        "plain": {"flops", "params", "memory_elements"},
    }
    assert report["layer"] == dict(cin=16, cout=16, H=6, W=6, T=8, K=3, n=4, stride=1, pool="max",
                                   aru_terms=["embed", "fuse", "attend"], attention="both")
    assert all(type(v) is int for part in ("formula", "measured", "plain") for v in report[part].values())
    assert report["plain"]["memory_elements"] == 16 * 6 * 6 * 8   # the plain conv keeps its input


@pytest.mark.parametrize("cin,cout,H,W,T,K,n,stride", [(12, 8, 7, 9, 3, 5, 2, 2), (8, 16, 8, 8, 2, 3, 4, 2),
                                                       (16, 8, 6, 5, 4, 3, 4, 1), (8, 8, 9, 9, 2, 3, 2, 3)])
def test_strided_and_rectangular_layers_measure_the_generalised_formulas(cin, cout, H, W, T, K, n, stride):
    """The generalised Eqs. 8–10 written out: conv at the output size `H'×W'`, embedding at the input size, the
    `n − 1` fusion and attention maps at the output size; lean memory `X0` and `Y`, the autograd definition `X0` and
    per step two input-sized tensors and the part with its two pooled maps."""
    report = oh.layer_report(None, H, W, T, K, n, stride, cin=cin, cout=cout)
    f, m = report["formula"], report["measured"]
    Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
    c = cout // n
    flops = K * K * cin * cout * Ho * Wo * T + cin * cin * H * W * T + (n - 1) * cin * c * (Ho * Wo * T + Ho * Wo + T)
    assert m["flops"] == f["flops"] == flops
    assert m["params"] == f["params"] == K * K * cin * cout + cin * cin + 2 * (n - 1) * cin * c
    assert m["memory_elements"] == cin * H * W * T + cout * Ho * Wo * T
    assert m["memory_elements_autograd"] == cin * H * W * T + (n - 1) * (2 * cin * H * W * T
                                                                         + c * (Ho * Wo * T + Ho * Wo + T))
    assert report["plain"]["flops"] == K * K * cin * cout * Ho * Wo * T


@given(layer_shapes(same_padding=True, max_Cin=6, max_c=3))
def test_measured_counts_equal_formulas_for_any_same_padded_layer(shape):
    """N clips cost N times one clip's Eq. 8 (generalised to Cin ≠ Cout), whatever the dilation or bias."""
    conv = nn.Conv2d(shape.Cin, shape.Cout, shape.K, 1, shape.padding, shape.dilation, bias=shape.bias)
    layer = ARCConv2d.from_conv(conv, n=shape.n, num_segments=shape.T)
    x = torch.rand(*shape.input_shape, requires_grad=True)
    args = (shape.Cin, shape.H, shape.W, shape.T, shape.K, shape.n)
    assert oh.measure_multiply_adds(layer, x) == shape.N * oh.flops_formula(*args, cout=shape.Cout)
    assert oh.measure_params(layer) == oh.params_formula(shape.Cin, shape.K, shape.n, cout=shape.Cout,
                                                         bias=shape.bias)
    assert oh.measure_memory(layer, x) == shape.N * oh.memory_saved(*args, cout=shape.Cout)


def _replaced_convs(backbone: str, stages) -> list[tuple[nn.Conv2d, tuple]]:
    """K > 1 convs of a torchvision ResNet in the given paper stages, with the input shape each one sees."""
    resnet = getattr(torchvision.models, {"r18": "resnet18", "r50": "resnet50"}[backbone])(weights=None)
    names = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}
    convs = [m for s in stages for m in getattr(resnet, names[s]).modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    shapes = {}

    def record(module, inputs, output):
        shapes[module] = tuple(inputs[0].shape)

    hooks = [m.register_forward_hook(record) for m in convs]
    with torch.device("meta"):
        resnet.to("meta")(torch.empty(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    return [(m, shapes[m]) for m in convs]


@pytest.mark.parametrize("backbone,stages,n", [("r18", ("res3", "res4", "res5"), 4), ("r50", ("res2", "res5"), 2)])
def test_model_overhead_is_the_sum_of_the_replaced_layers_arus(backbone, stages, n):
    T = 8
    report = oh.model_report(backbone, T, 174, stages, n, memory=False)
    aru_params = aru_flops = 0
    for conv, (_, cin, H, W) in _replaced_convs(backbone, stages):
        c = conv.out_channels // n
        Ho, Wo = (H - 1) // conv.stride[0] + 1, (W - 1) // conv.stride[1] + 1
        aru_params += cin * cin + 2 * (n - 1) * cin * c
        aru_flops += cin * cin * H * W * T + (n - 1) * cin * c * (Ho * Wo * T + Ho * Wo + T)
    assert report["arc"]["params"] - report["tsm"]["params"] == aru_params
    assert report["arc"]["flops"] - report["tsm"]["flops"] == aru_flops


def test_model_report_of_tsm_r18_counts_resnet18_per_frame():
    """TSM adds no parameters and no multiply-adds to ResNet-18 (1.82 G multiply-adds per 224² frame)."""
    report = oh.model_report("r18", 8, 1000, (), 4, memory=False)
    assert report["tsm"] == report["arc"]
    resnet = torchvision.models.resnet18(weights=None)
    assert report["tsm"]["params"] == sum(p.numel() for p in resnet.parameters())
    assert report["tsm"]["flops"] == 8 * oh.measure_multiply_adds(resnet, torch.rand(1, 3, 224, 224))


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(C=256, n=3), "n=3 must divide"), (dict(C=16, H=-2), "H must be a positive"), (dict(C=16, K=2), "odd"),
     (dict(C=16, T=0), "T must be"), (dict(cin=8, n=4), "give C"), (dict(C=16, pool="avg"), "pool must be")],
)
def test_bad_layer_arguments_raise_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        oh.layer_report(**kwargs)


@pytest.mark.parametrize("args,match", [(("r19", 8, 174, ("res3",), 4), "unknown backbone"),
                                        (("r18", 8, 174, ("res6",), 4), "unknown stage"),
                                        (("r18", 0, 174, ("res3",), 4), "frames")])
def test_bad_model_arguments_raise_value_errors_naming_them(args, match):
    with pytest.raises(ValueError, match=match):
        oh.model_report(*args)


def test_layer_benchmark_rows_are_the_medians_of_the_timed_runs_and_counts_derived_by_hand(monkeypatch):
    """C = 32, 6×6, T = 4, one clip, n = 4; each layer runs once to count its memory, then twice timed (plain 4 and
    6 ms, lean 6 and 8, autograd 10 and 12: medians 5, 7, 11 ms). Memory: the input CHWT = 4,608; lean twice that;
    the autograd definition 4,608 + 3 · (2 · 4,608 + 8 · (144 + 36 + 4)) = 36,672."""
    clock = WorkClock({"plain": [0, 0.004, 0.006], "lean": [0, 0.006, 0.008], "autograd": [0, 0.010, 0.012]})
    monkeypatch.setattr("arc.bench.layer.time", clock.time)
    with clock.charging_forwards(lambda m: m.impl if isinstance(m, ARCConv2d) else
                                 "plain" if type(m) is nn.Conv2d else None):
        rows = bench_layer(repeats=2, warmup=0, C=32, H=6, T=4, N=1, n=4)
    assert clock.used_up
    assert [r["name"] for r in rows] == ["plain conv", "ARC n=4 lean", "ARC n=4 autograd"]
    assert [r["median_ms"] for r in rows] == pytest.approx([5, 7, 11])
    assert [r["ratio"] for r in rows] == pytest.approx([1, 7 / 5, 11 / 5])
    assert [r["memory"] for r in rows] == [4_608, 9_216, 36_672]
    assert [r["memory_ratio"] for r in rows] == pytest.approx([1, 2, 36_672 / 4_608])
    flop_ratio = eq8_literal(32, 6, 6, 4, 3, 4) / eq8_literal(32, 6, 6, 4, 3, 1)
    assert [r["flop_ratio"] for r in rows] == pytest.approx([1, flop_ratio, flop_ratio])


@pytest.mark.slow
@pytest.mark.parametrize("backbone,size,autograd", [("r18", 64, 1.5), ("r50", 32, 1.25)])
def test_arc_tsm_trains_in_the_activation_memory_of_tsm_and_its_autograd_definition_does_not(backbone, size,
                                                                                            autograd):
    """Whole model, train mode, one clip: ARC-TSM (n = 4, res3–5) keeps at most 1.02 × what TSM keeps (×0.996 and
    ×0.997 here; one more input-sized tensor per ARC layer makes R50 ×1.04); with the autograd definition of its ARC
    layers it keeps more than `autograd` × (R18 ×1.99, R50 ×1.32 at 112 px, docs/benchmarks.md; ×1.98 and ×1.31 at
    the sizes here)."""
    args = (backbone, 4, 10, ("res3", "res4", "res5"))
    tsm = oh.model_memory(*args, n=1, size=size)
    assert oh.model_memory(*args, n=4, size=size) <= 1.02 * tsm
    assert oh.model_memory(*args, n=4, size=size, impl="autograd") > autograd * tsm


def test_the_layer_report_measures_one_layer_both_ways(monkeypatch):
    """The autograd definition's memory is measured on the very layer the report counts, not on a second one."""
    built = []
    from_conv = ARCConv2d.from_conv
    monkeypatch.setattr(ARCConv2d, "from_conv", classmethod(lambda cls, *a, **k: built.append(1) or from_conv(*a, **k)))
    report = oh.layer_report(8, 5, T=2, n=2)
    assert len(built) == 1
    assert report["measured"]["memory_elements_autograd"] == 8 * 50 + 2 * 8 * 50 + 4 * (50 + 25 + 2)   # C=8, 5×5, T=2


@pytest.mark.parametrize("report", [oh.model_report, oh.motion_report, oh.model_memory])
def test_a_whole_model_below_resnets_stride_is_refused_by_the_library(report):
    with pytest.raises(ValueError, match="size must be at least 32 pixels"):
        report("r18", frames=2, size=16)


def test_the_tables_the_command_prints_come_with_their_notes():
    layer = oh.layer_table(oh.layer_report(64, 14, n=4))
    assert layer.rows[1][1:4] == [9 * 64 * 64 + 64 * 64 + 2 * 3 * 64 * 16] * 2 + [9 * 64 * 64]   # Eq. 9 corrected
    assert any(f"{3 * 64 * 16:,} parameters more" in note for note in layer.notes)   # the second set of n-1 maps
    assert oh.layer_table(oh.layer_report(8, 5, n=1)).notes == ["n = 1: ARC is the plain conv (no ARU parameters)."]
    model = oh.model_table(oh.model_report("r18", 2, 5, ("res5",), 2, size=32, memory=False) |
                           {"tsm": {"flops": 10, "params": 20, "memory_elements": 30},
                            "arc": {"flops": 15, "params": 22, "memory_elements": 33}})
    assert [row[0] for row in model.rows] == ["TSM", "ARC-TSM", "ARC − TSM", "ARC / TSM"]
    assert model.rows[2][1:] == [5 / 1e9, 2 / 1e6, 3 / 1e6] and model.rows[3][1:] == [1.5, 1.1, 1.1]
    assert model.title.startswith("r18, 2 frames at 32×32, 5 classes, ARC in res5 with n=2")
    motion = oh.motion_table(oh.motion_report("r34", frames=2, size=32))
    assert motion.notes[-1] == "The paper's Table 7 has no r34 row (it reports r18 and r50)."
