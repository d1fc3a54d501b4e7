"""What ARC costs (paper appendix C, Eqs. 8–10; docs/overhead.md): the formulas, as printed and as corrected, and the
same quantities *measured* on a real `ARCConv2d` or a whole model.

Conventions. FLOPs are multiply-adds (one multiply and one add count once) for ONE clip of `T` frames, i.e.
a batch of `N = 1`; the backward pass is not included (Eq. 8 counts the forward). Parameters are scalars.
Memory is in elements (not bytes): the tensors autograd keeps for the backward pass of one training step
on one clip, parameters excluded — of the layer as trained (`impl="lean"`) and of its autograd definition.

Measured counts:
- multiply-adds: `torch.utils.flop_counter.FlopCounterMode` over one forward, divided by 2 (it counts a
  multiply-add as two FLOPs). It counts matrix products and convolutions only; pooling, ReLU, additions,
  BatchNorm and resizing cost no multiply-adds, as in the paper.
- parameters: the sum of `numel()` over `module.parameters()` (shared tensors once).
- memory: every tensor saved for backward during one forward (`torch.autograd.graph.saved_tensors_hooks`, which
  sees what an `autograd.Function` saves too),
  counted once per underlying storage (autograd saves `X0` for both the first conv and the embedding, and
  a ReLU's output for the ReLU and the conv that reads it: one buffer each), the whole storage (what stays
  allocated), excluding storages of the module's parameters. The layer input is counted (Eq. 10 does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from arc.data.registry import DATASETS
from arc.nn.choices import (
    ARU_NAMES,
    ATTENTION_VIEWS,
    ATTENTIONS,
    BACKBONES,
    DEFAULT_STAGES,
    POOLS,
    ablation_label,
    check_choice,
    parse_aru_terms,
    parse_stages,
)
from arc.nn.layer import ARCConv2d
from arc.nn.models import build_model

NUM_CLASSES = DATASETS["ssv1"].num_classes   # a whole model's classifier by default: the paper's main benchmark
MIN_SIZE = 32   # a whole model's smallest frame: ResNet's total stride

# -- formulas --------------------------------------------------------------------------------------------


def _out_size(size: int, K: int, stride: int) -> int:
    """Output length of a conv with padding `K // 2` (size-preserving for odd `K` at stride 1)."""
    return (size + 2 * (K // 2) - K) // stride + 1


def aru_parts(aru_terms=ARU_NAMES, attention: str = "both") -> tuple[bool, bool, bool, bool, bool]:
    """Which of the ARU's costs a layer with these ablation options has: `(embed, fuse, attend, space, time)` —
    the three terms, and the attention's spatial (`PoolS`) and temporal (`PoolT`) views (none without `attend`)."""
    terms = parse_aru_terms(aru_terms)
    views = ATTENTION_VIEWS[check_choice(attention, ATTENTIONS, "attention")] if "attend" in terms else ()
    return "embed" in terms, "fuse" in terms, "attend" in terms, "space" in views, "time" in views


def flops_formula(C: int, H: int, W: int, T: int, K: int, n: int, *, cout: int | None = None, stride: int = 1,
                  aru_terms=ARU_NAMES, attention: str = "both") -> int:
    """Eq. 8, multiply-adds of one ARC conv layer on one clip: `K²C²HWT + C²HWT + C²(HWT + HW + T)(n-1)/n`.

    (conv + embedding `We` + the `n-1` fusion maps at every position + the `n-1` attention maps on the
    temporally (`HW`) and spatially (`T`) pooled parts.) `C` is `Cin`; with `cout` or `stride` it is generalised to
    what the layer executes: conv `K²·Cin·Cout·H'W'T`, embedding `Cin²·HWT`, fusion `(n-1)·Cin·c·H'W'T`, attention
    `(n-1)·Cin·c·(H'W' + T)` with `c = Cout/n` and `H'×W'` the output size (the 1×1 maps run at the output
    resolution, before the nearest resize). `n = 1` is the plain conv, `K²·Cin·Cout·H'W'T`. A term left out by
    `aru_terms`, or a view left out by `attention`, drops out (`aru_parts`).
    """
    cin, cout = C, C if cout is None else cout
    Ho, Wo = _out_size(H, K, stride), _out_size(W, K, stride)
    conv = K * K * cin * cout * Ho * Wo * T
    if n == 1:
        return conv
    c = cout // n
    embed, fuse, _, space, time = aru_parts(aru_terms, attention)
    return conv + embed * cin * cin * H * W * T + (n - 1) * cin * c * (fuse * Ho * Wo * T + time * Ho * Wo + space * T)


def params_formula(C: int, K: int, n: int, *, cout: int | None = None, bias: bool = False,
                   aru_terms=ARU_NAMES) -> int:
    """Eq. 9 corrected: `K²C² + C² + 2C²(n-1)/n` — conv, embedding `We [C, C]`, and `n-1` fusion AND `n-1`
    attention maps of `C × C/n` each. Generalised: `K²·Cin·Cout + Cin² + 2(n-1)·Cin·Cout/n` (+ `Cout` bias).
    `n = 1`: the plain conv. A term left out by `aru_terms` has no parameters (`attention` changes none)."""
    cin, cout = C, C if cout is None else cout
    conv = K * K * cin * cout + (cout if bias else 0)
    embed, fuse, attend, _, _ = aru_parts(aru_terms)
    return conv if n == 1 else conv + embed * cin * cin + (fuse + attend) * (n - 1) * cin * (cout // n)


def params_printed(C: int, K: int, n: int, *, cout: int | None = None, bias: bool = False) -> int:
    """Eq. 9 as printed: `K²C² + C² + C²(n-1)/n` — counts only one set of `n-1` maps of `C × C/n`."""
    cin, cout = C, C if cout is None else cout
    conv = K * K * cin * cout + (cout if bias else 0)
    return conv if n == 1 else conv + cin * cin + (n - 1) * cin * (cout // n)


def memory_formula(C: int, H: int, W: int, T: int, n: int, *, aru_terms=ARU_NAMES, attention: str = "both") -> int:
    """Eq. 10 read with `C` for the printed `C²`: `2·CHWT + (n-1)·CHWT + CHW + CT` elements in training —
    input and embedded map, the `n-1` evolving states, the temporal (`C×H×W`) and spatial (`C×T`) attention maps.
    `n = 1`: the plain conv keeps its input, `CHWT`. A term or view left out drops out: no embedding, no embedded
    map; no attention (or one view), no (or one) attention map."""
    if n == 1:
        return C * H * W * T
    embed, _, _, space, time = aru_parts(aru_terms, attention)
    return (1 + embed) * C * H * W * T + (n - 1) * C * H * W * T + time * C * H * W + space * C * T


def memory_saved(C: int, H: int, W: int, T: int, K: int, n: int, *, cout: int | None = None, stride: int = 1,
                 impl: str = "lean", pool: str = "max", aru_terms=ARU_NAMES, attention: str = "both") -> int:
    """What the bare layer really keeps for one clip, in elements (`measure_memory`; ReLU σ; with mean pooling,
    sizes whose `U` copies evenly).

    `impl="lean"` (the default layer): `Cin·HWT + Cout·H'W'T` — the input `X0` and the output `Y`, whose parts
    are the inputs of the maps; everything else is rebuilt in the backward (`n = 1`: `X0` only, a plain conv).
    `impl="autograd"` (the definition): `Cin·HWT + (n-1)·(2·Cin·HWT + c·(H'W'T + H'W' + T))` — `X0`, and for
    each of the `n-1` steps the part `Y_i` and its two pooled maps (inputs of `Wf_i`, `Wa_i`) and the two ReLU
    outputs `σ(E + A)` and `Z` (the state also feeds the next part's conv); `E` is only added, never kept. Under
    ablation the part is kept only for the fusion or a max pool (a mean keeps nothing), a pooled map only for its
    view of the attention."""
    cin, cout = C, C if cout is None else cout
    if n == 1:
        return cin * H * W * T
    Ho, Wo = _out_size(H, K, stride), _out_size(W, K, stride)
    if impl == "lean":
        return cin * H * W * T + cout * Ho * Wo * T
    _, fuse, attend, space, time = aru_parts(aru_terms, attention)
    part = fuse or attend and pool == "max"
    per_step = 2 * cin * H * W * T + (cout // n) * (part * Ho * Wo * T + time * Ho * Wo + space * T)
    return cin * H * W * T + (n - 1) * per_step


def model_cost(model_kwargs: dict, size: int = 224, device: str | torch.device = "meta") -> dict:
    """`{"macs", "params"}` of `build_model(**model_kwargs)`: forward multiply-adds of one clip
    `[1, num_segments, 3, size, size]` and parameters; a MotionSqueeze correlation counted as its window (see
    `motion_report`)."""
    from arc.nn.motion import MotionSqueeze

    frames = model_kwargs["num_segments"]
    with torch.device(device):
        model = build_model(**model_kwargs)
        clip = torch.empty(1, frames, 3, size, size)
    extra = 0
    for m in model.modules():
        if isinstance(m, MotionSqueeze):
            m.method = "shifts"
            extra = correlation_multiply_adds(frames, size, m.reduced)
    return {"macs": measure_multiply_adds(model.eval(), clip) + extra, "params": measure_params(model)}


# -- measurements ----------------------------------------------------------------------------------------


def measure_multiply_adds(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward of `module(*inputs)`: FlopCounterMode's FLOPs / 2 (no grad recorded)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops() // 2


def measure_params(module: nn.Module) -> int:
    """Number of parameter scalars (shared tensors counted once)."""
    return sum(p.numel() for p in module.parameters())


def measure_memory(module: nn.Module, *inputs: torch.Tensor, run=None) -> int:
    """Elements autograd saves for backward in one forward of `module(*inputs)` (training memory), or of
    `run(*inputs)` (e.g. `layer.definition`: the same layer by its autograd definition).

    Each storage is counted once and whole; storages of the module's parameters are left out. Pass inputs
    with `requires_grad=True` to count what a layer inside a network keeps (meta tensors cannot be used:
    storages are told apart by address)."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}
    kept = []  # hold every saved tensor so no storage is freed and its address reused during the count

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept.append(t)
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in params and storage.nbytes():
            storages[key] = max(storages.get(key, 0), storage.nbytes() // t.element_size())
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        (module if run is None else run)(*inputs)
    return sum(storages.values())


# -- reports ---------------------------------------------------------------------------------------------


def check_layer_args(
    C: int | None = None, H: int = 14, W: int | None = None, T: int = 8, K: int = 3, n: int = 4, stride: int = 1,
    *, cin: int | None = None, cout: int | None = None, pool: str = "max", aru_terms=ARU_NAMES,
    attention: str = "both",
) -> tuple[int, int, int, int]:
    """Validate the layer arguments; returns `(cin, cout, H, W)`. Raises ValueError naming the bad option."""
    cin = C if cin is None else cin
    cout = C if cout is None else cout
    W = H if W is None else W
    if cin is None or cout is None:
        raise ValueError("give C, or both cin and cout")
    for name, value in (("C/cin", cin), ("C/cout", cout), ("H", H), ("W", W), ("T", T), ("K", K), ("n", n),
                        ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if K % 2 == 0:
        raise ValueError(f"K must be odd (padding K//2 keeps the size), got {K}")
    if cout % n:
        raise ValueError(f"n={n} must divide the output channels C/cout={cout}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    aru_parts(aru_terms, attention)
    return cin, cout, H, W


def layer_report(
    C: int | None = None, H: int = 14, W: int | None = None, T: int = 8, K: int = 3, n: int = 4, stride: int = 1,
    *, cin: int | None = None, cout: int | None = None, pool: str = "max", aru_terms=ARU_NAMES,
    attention: str = "both",
) -> dict:
    """Formulas vs measured counts of one bias-free ARC conv (padding `K//2`) on one clip `[T, Cin, H, W]`.

    Returns `{"layer": {"cin", "cout", "H", "W", "T", "K", "n", "stride", "pool", "aru_terms", "attention"},
    "formula": {"flops", "params",
    "params_printed", "memory_elements"}, "measured": {"flops", "params", "memory_elements",
    "memory_elements_autograd"}, "plain": {"flops", "params", "memory_elements"}}`; flops are multiply-adds for one
    clip (N = 1), `plain` is the wrapped conv alone; `memory_elements` is what the layer as trained keeps
    (`impl="lean"`), `memory_elements_autograd` what the same layer keeps run by its autograd definition. With
    `cin = cout` and stride 1 the formulas are Eqs. 8–10 exactly; otherwise their generalisation to what the layer
    executes. The ablation options (`aru_terms`, `attention`) drop their terms from the layer and from the
    formulas; Eq. 9 as printed (`params_printed`) counts the three terms, and is None when one is left out.
    """
    cin, cout, H, W = check_layer_args(C, H, W, T, K, n, stride, cin=cin, cout=cout, pool=pool, aru_terms=aru_terms,
                                       attention=attention)
    aru = dict(aru_terms=parse_aru_terms(aru_terms), attention=attention)
    conv = nn.Conv2d(cin, cout, K, stride, padding=K // 2, bias=False)
    layer = ARCConv2d.from_conv(conv, n=n, num_segments=T, pool=pool, **aru)
    x = torch.rand(T, cin, H, W, requires_grad=True)
    full = aru["aru_terms"] == ARU_NAMES
    return {
        "layer": dict(cin=cin, cout=cout, H=H, W=W, T=T, K=K, n=n, stride=stride, pool=pool,
                      aru_terms=list(aru["aru_terms"]), attention=attention),
        "formula": {
            "flops": flops_formula(cin, H, W, T, K, n, cout=cout, stride=stride, **aru),
            "params": params_formula(cin, K, n, cout=cout, aru_terms=aru_terms),
            "params_printed": params_printed(cin, K, n, cout=cout) if full else None,
            "memory_elements": memory_formula(cin, H, W, T, n, **aru),
        },
        "measured": {
            "flops": measure_multiply_adds(layer, x),
            "params": measure_params(layer),
            "memory_elements": measure_memory(layer, x),
            "memory_elements_autograd": measure_memory(layer, x, run=layer.definition),
        },
        "plain": {"flops": measure_multiply_adds(conv, x), "params": measure_params(conv),
                  "memory_elements": measure_memory(conv, x)},
    }


def check_model_args(backbone: str, frames: int = 8, num_classes: int = NUM_CLASSES, stages=DEFAULT_STAGES,
                     n: int = 4, size: int = 224, aru_terms=ARU_NAMES, attention: str = "both") -> tuple[str, ...]:
    """Validate the arguments of a whole model on one clip of `size`×`size` frames; returns the stages as a sorted
    tuple (`stages` may be `"res3,res4"`). Raises ValueError naming the bad option."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")
    for name, value in (("frames", frames), ("num_classes", num_classes), ("n", n), ("size", size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels (ResNet's stride), got {size}")
    aru_parts(aru_terms, attention)
    return parse_stages(stages)


def model_report(
    backbone: str, frames: int = 8, num_classes: int = NUM_CLASSES, stages=DEFAULT_STAGES,
    n: int = 4, size: int = 224, device: str | torch.device = "meta", memory: bool = True, aru_terms=ARU_NAMES,
    attention: str = "both",
) -> dict:
    """Whole-model multiply-adds (one clip `[1, frames, 3, size, size]`, forward), parameters and training memory
    of TSM and of ARC-TSM with ARC in `stages` (its layers with the ablation options `aru_terms`, `attention`):
    `{"model": {"backbone", "frames", "num_classes", "stages", "n", "size", "aru_terms", "attention"}, "tsm":
    {"flops", "params", "memory_elements"}, "arc": {…}}`.

    Multiply-adds and parameters run on the meta device by default: the same operators are dispatched with shapes
    only, which is all FlopCounterMode reads, so ResNet-101 at 16 frames costs no real compute. Memory
    (`memory=True`) is `measure_memory` of one training-mode forward of the clip on the CPU, a real forward:
    storages are told apart by address."""
    stages = check_model_args(backbone, frames, num_classes, stages, n, size, aru_terms, attention)
    aru = dict(aru_terms=parse_aru_terms(aru_terms), attention=attention)
    out = {"model": _model_args(backbone, frames, num_classes, stages, n, size, **aru)}
    for name, steps in (("tsm", 1), ("arc", n)):
        cost = model_cost(dict(backbone=backbone, num_classes=num_classes, num_segments=frames, n=steps,
                               stages=stages, **aru), size, device)
        out[name] = {"flops": cost["macs"], "params": cost["params"]}
        if memory:
            out[name]["memory_elements"] = model_memory(backbone, frames, num_classes, stages, steps, size, **aru)
    return out


def _model_args(backbone: str, frames: int, num_classes: int, stages, n: int, size: int, aru_terms,
                attention: str) -> dict:
    return dict(backbone=backbone, frames=frames, num_classes=num_classes, stages=list(stages), n=n, size=size,
                aru_terms=list(aru_terms), attention=attention)


def model_memory(backbone: str, frames: int = 8, num_classes: int = NUM_CLASSES, stages=DEFAULT_STAGES,
                 n: int = 4, size: int = 224, impl: str = "lean", aru_terms=ARU_NAMES, attention: str = "both") -> int:
    """Elements one training-mode forward of a clip `[1, frames, 3, size, size]` keeps for the backward (the
    activation memory of one clip; `n = 1` or no stages: TSM). `impl="autograd"` trains ARC's autograd definition."""
    stages = check_model_args(backbone, frames, num_classes, stages, n, size, aru_terms, attention)
    torch.manual_seed(0)
    model = build_model(backbone, num_classes, num_segments=frames, n=n, stages=stages, impl=impl,
                        aru_terms=aru_terms, attention=attention).train()
    return measure_memory(model, torch.rand(1, frames, 3, size, size))


# -- another host: MotionSqueeze (MSN, ARC-MSN; paper appendix B, Table 7) ------------------------------------

# SSv1, 8 frames, one clip at 224×224: top-1 %, GFLOPs (multiply-adds), parameters (M), as printed in Table 7.
PAPER_TABLE7 = {
    "r18": {"msn": {"top1": 46.2, "gflops": 15, "mparams": 11.6},
            "arc_msn": {"top1": 49.5, "gflops": 18, "mparams": 14.5}},
    "r50": {"msn": {"top1": 51.5, "gflops": 34, "mparams": 24.6},
            "arc_msn": {"top1": 53.0, "gflops": 38, "mparams": 27.3}},
}


def correlation_multiply_adds(frames: int, size: int = 224, channels: int = 64, window: int = 15) -> int:
    """Multiply-adds of the MS module's correlation on one clip: `window²·channels·H·W·(T−1)` at res3 (`size/8`)."""
    side = -(-size // 8)  # res3 of a torchvision ResNet: stride 8 (ceil for odd sizes)
    return window * window * channels * side * side * (frames - 1)


def motion_report(
    backbone: str, frames: int = 8, num_classes: int = NUM_CLASSES, stages=DEFAULT_STAGES,
    n: int = 4, size: int = 224, device: str | torch.device = "meta", aru_terms=ARU_NAMES, attention: str = "both",
) -> dict:
    """Multiply-adds (one clip, forward) and parameters of TSM, MSN (TSM + MotionSqueeze after res3) and ARC-MSN,
    of the MS module alone, and the paper's Table 7 row (None for a backbone it does not report):
    `{"model": {…}, "tsm", "msn", "arc_msn": {"flops", "params"}, "module": {"flops", "params",
    "correlation_flops"}, "paper"}`.

    The correlation is counted as its 15×15 window (`correlation_multiply_adds`), not as what the all-pairs
    path executes (`(HW)²·C` per pair, more at 28×28): FlopCounterMode does not see the loop over shifts, which
    is what is measured here, so the window's count is added."""
    stages = check_model_args(backbone, frames, num_classes, stages, n, size, aru_terms, attention)
    if frames < 2:
        raise ValueError(f"frames must be >= 2 with the MotionSqueeze module (it pairs frame t with t+1), got {frames}")
    aru = dict(aru_terms=parse_aru_terms(aru_terms), attention=attention)
    out = {"model": _model_args(backbone, frames, num_classes, stages, n, size, **aru)}
    for name, steps, motion in (("tsm", 1, "none"), ("msn", 1, "ms"), ("arc_msn", n, "ms")):
        cost = model_cost(dict(backbone=backbone, num_classes=num_classes, num_segments=frames, n=steps,
                               stages=stages, motion=motion, **aru), size, device)
        out[name] = {"flops": cost["macs"], "params": cost["params"]}
    out["module"] = {"flops": out["msn"]["flops"] - out["tsm"]["flops"],
                     "params": out["msn"]["params"] - out["tsm"]["params"],
                     "correlation_flops": correlation_multiply_adds(frames, size)}
    out["paper"] = PAPER_TABLE7.get(backbone)
    return out


# -- what `arc overhead` prints ------------------------------------------------------------------------------


@dataclass
class Table:
    """A report as `arc overhead` prints it: a titled table (cells are numbers, text or None) and notes under it."""

    title: str
    header: list[str]
    rows: list[list]
    notes: list[str] = field(default_factory=list)


def layer_table(report: dict) -> Table:
    """`layer_report`'s formulas and counts beside the plain conv's, and what Eqs. 9–10 as printed leave out."""
    a, f, m, p = report["layer"], report["formula"], report["measured"], report["plain"]
    cin, cout, n = a["cin"], a["cout"], a["n"]
    square = cin == cout and a["stride"] == 1
    plain_memory = p["memory_elements"]
    printed = f["params_printed"]
    table = Table(
        f"ARC conv layer: Cin={cin}, Cout={cout}, {a['H']}×{a['W']}, T={a['T']}, K={a['K']}, n={n}, "
        f"stride {a['stride']}{_ablation(a)}; one clip (N=1), multiply-adds of the forward",
        ["", "formula" if square else "formula (generalised)", "measured", "plain conv", "ARC / plain"],
        [
            ["multiply-adds, Eq. 8", f["flops"], m["flops"], p["flops"], m["flops"] / p["flops"]],
            ["parameters, Eq. 9 corrected", f["params"], m["params"], p["params"], m["params"] / p["params"]],
            *([["parameters, Eq. 9 as printed", printed, None, p["params"], printed / p["params"]]]
              if printed is not None else []),
            ["training memory (elements), Eq. 10", f["memory_elements"], m["memory_elements"], plain_memory,
             m["memory_elements"] / plain_memory],
            ["  the same, autograd definition", None, m["memory_elements_autograd"], plain_memory,
             m["memory_elements_autograd"] / plain_memory],
        ],
    )
    if m["flops"] != f["flops"] or m["params"] != f["params"]:
        table.notes.append("Warning: the measured counts differ from the formulas: the layer does not execute what "
                           "Eqs. 8–9 describe (please report it).")
    if n == 1:
        table.notes.append("n = 1: ARC is the plain conv (no ARU parameters).")
        return table
    if printed is not None:
        table.notes.append(
            f"Eq. 9 as printed, K²C² + C² + C²(n-1)/n = {printed:,}, counts one set of maps. The layer holds "
            f"n-1 = {n - 1} fusion AND {n - 1} attention maps of {cin}×{cout // n} each, i.e. "
            f"{f['params'] - printed:,} parameters more: {f['params']:,}, which is what the layer has.")
    else:
        table.notes.append("Ablation: the formulas leave out the terms the layer leaves out; Eq. 9 as printed counts "
                           "all three terms, so it is not shown.")
    table.notes.append(
        f"Memory: Eq. 10 counts the input, the embedded map, n-1 states and the attention maps. The layer keeps "
        f"its input and output and rebuilds the rest in the backward: {m['memory_elements'] / f['memory_elements']:.2f}"
        f"× Eq. 10. Its autograd definition keeps the input and, per step, the part Y_i, its pooled maps, "
        f"σ(E + A_i) and the state Z_i: {m['memory_elements_autograd'] / f['memory_elements']:.2f}× Eq. 10.")
    if not square:
        table.notes.append("Cin ≠ Cout or stride > 1: the formulas are Eqs. 8–10 generalised to what the layer "
                           "executes (1×1 maps at the output resolution).")
    return table


def _ablation(a: dict) -> str:
    """`, ARU terms fuse,attend, attention space` for a report's ablation options that are not the defaults."""
    label = ablation_label(a.get("aru_terms", ARU_NAMES), a.get("attention", "both"))
    return f", {label}" if label else ""


def _model_title(a: dict, what: str) -> str:
    return (f"{a['backbone']}, {a['frames']} frames at {a['size']}×{a['size']}, {a['num_classes']} classes, ARC in "
            f"{','.join(a['stages']) or 'no stage'}{_ablation(a)}{what}")


def model_table(report: dict) -> Table:
    """`model_report`: TSM and ARC-TSM, their difference and their ratio, in G, M and M elements."""
    tsm, arc = report["tsm"], report["arc"]
    keys, scales = ("flops", "params", "memory_elements"), (1e9, 1e6, 1e6)
    return Table(
        _model_title(report["model"], f" with n={report['model']['n']}; one clip: forward multiply-adds, elements "
                                      "kept for the backward in training"),
        ["", "multiply-adds (G)", "parameters (M)", "training memory (M elements)"],
        [
            ["TSM", *(tsm[k] / s for k, s in zip(keys, scales, strict=True))],
            ["ARC-TSM", *(arc[k] / s for k, s in zip(keys, scales, strict=True))],
            ["ARC − TSM", *((arc[k] - tsm[k]) / s for k, s in zip(keys, scales, strict=True))],
            ["ARC / TSM", *(arc[k] / tsm[k] for k in keys)],
        ],
    )


def motion_table(report: dict) -> Table:
    """`motion_report` beside the paper's Table 7, and where the paper's parameter counts do not add up."""
    paper, module, a = report["paper"] or {}, report["module"], report["model"]
    rows = [["TSM", report["tsm"]["flops"] / 1e9, report["tsm"]["params"] / 1e6, None, None, None]]
    for label, key in (("MSN", "msn"), (f"ARC-MSN (n={a['n']})", "arc_msn")):
        printed = [str(paper[key][k]) for k in ("top1", "gflops", "mparams")] if key in paper else [None] * 3
        rows.append([label, report[key]["flops"] / 1e9, report[key]["params"] / 1e6, *printed])
    rows.append(["MS module alone", module["flops"] / 1e9, module["params"] / 1e6, None, None, None])
    table = Table(
        _model_title(a, "; one clip, forward; beside the paper's Table 7 (SSv1, 8 frames)"),
        ["", "multiply-adds (G)", "parameters (M)", "paper: SSv1 top-1 %", "paper: GFLOPs", "paper: params (M)"],
        rows,
        [f"The MS module: {module['params']:,} parameters, {module['flops'] / 1e9:.3f} G multiply-adds, of which "
         f"{module['correlation_flops'] / 1e9:.3f} G the 15×15 correlation (counted as its window)."],
    )
    if "msn" not in paper:
        table.notes.append(f"The paper's Table 7 has no {a['backbone']} row (it reports {' and '.join(PAPER_TABLE7)}).")
        return table
    tsm, msn = report["tsm"]["params"] / 1e6, report["msn"]["params"] / 1e6
    arc_added = (report["arc_msn"]["params"] - report["msn"]["params"]) / 1e6
    table.notes.append(
        f"Parameters: MSN = TSM {tsm:.2f} M + the MS module {module['params'] / 1e6:.3f} M = {msn:.2f} M. The paper's "
        f"{paper['msn']['mparams']} M does not follow from the module ({paper['msn']['mparams'] - msn:+.2f} M "
        f"unaccounted for); ARC adds {arc_added:.2f} M here, "
        f"{paper['arc_msn']['mparams'] - paper['msn']['mparams']:.1f} M in the paper."
    )
    return table
