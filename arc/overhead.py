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

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from arc.nn.choices import BACKBONES, POOLS, parse_stages
from arc.nn.layer import ARCConv2d
from arc.nn.models import build_model

# -- formulas --------------------------------------------------------------------------------------------


def _out_size(size: int, K: int, stride: int) -> int:
    """Output length of a conv with padding `K // 2` (size-preserving for odd `K` at stride 1)."""
    return (size + 2 * (K // 2) - K) // stride + 1


def flops_formula(C: int, H: int, W: int, T: int, K: int, n: int, *, cout: int | None = None, stride: int = 1) -> int:
    """Eq. 8, multiply-adds of one ARC conv layer on one clip: `K²C²HWT + C²HWT + C²(HWT + HW + T)(n-1)/n`.

    (conv + embedding `We` + the `n-1` fusion maps at every position + the `n-1` attention maps on the
    spatially and temporally pooled parts.) `C` is `Cin`; with `cout` or `stride` it is generalised to what the
    layer executes: conv `K²·Cin·Cout·H'W'T`, embedding `Cin²·HWT`, fusion `(n-1)·Cin·c·H'W'T`, attention
    `(n-1)·Cin·c·(H'W' + T)` with `c = Cout/n` and `H'×W'` the output size (the 1×1 maps run at the output
    resolution, before the nearest resize). `n = 1` is the plain conv, `K²·Cin·Cout·H'W'T`.
    """
    cin, cout = C, C if cout is None else cout
    Ho, Wo = _out_size(H, K, stride), _out_size(W, K, stride)
    conv = K * K * cin * cout * Ho * Wo * T
    if n == 1:
        return conv
    c = cout // n
    return conv + cin * cin * H * W * T + (n - 1) * cin * c * (Ho * Wo * T + Ho * Wo + T)


def params_formula(C: int, K: int, n: int, *, cout: int | None = None, bias: bool = False) -> int:
    """Eq. 9 corrected: `K²C² + C² + 2C²(n-1)/n` — conv, embedding `We [C, C]`, and `n-1` fusion AND `n-1`
    attention maps of `C × C/n` each. Generalised: `K²·Cin·Cout + Cin² + 2(n-1)·Cin·Cout/n` (+ `Cout` bias).
    `n = 1`: the plain conv."""
    cin, cout = C, C if cout is None else cout
    conv = K * K * cin * cout + (cout if bias else 0)
    return conv if n == 1 else conv + cin * cin + 2 * (n - 1) * cin * (cout // n)


def params_printed(C: int, K: int, n: int, *, cout: int | None = None, bias: bool = False) -> int:
    """Eq. 9 as printed: `K²C² + C² + C²(n-1)/n` — counts only one set of `n-1` maps of `C × C/n`."""
    cin, cout = C, C if cout is None else cout
    conv = K * K * cin * cout + (cout if bias else 0)
    return conv if n == 1 else conv + cin * cin + (n - 1) * cin * (cout // n)


def memory_formula(C: int, H: int, W: int, T: int, n: int) -> int:
    """Eq. 10 read with `C` for the printed `C²`: `2·CHWT + (n-1)·CHWT + CHW + CT` elements in training —
    input and embedded map, the `n-1` evolving states, the temporal (`C×H×W`) and spatial (`C×T`) attention maps.
    `n = 1`: the plain conv keeps its input, `CHWT`."""
    if n == 1:
        return C * H * W * T
    return 2 * C * H * W * T + (n - 1) * C * H * W * T + C * H * W + C * T


def memory_saved(C: int, H: int, W: int, T: int, K: int, n: int, *, cout: int | None = None, stride: int = 1,
                 impl: str = "lean") -> int:
    """What the bare layer really keeps for one clip, in elements (`measure_memory`; max or mean pool, ReLU σ).

    `impl="lean"` (the default layer): `Cin·HWT + Cout·H'W'T` — the input `X0` and the output `Y`, whose parts
    are the inputs of the maps; everything else is rebuilt in the backward (`n = 1`: `X0` only, a plain conv).
    `impl="autograd"` (the definition): `Cin·HWT + (n-1)·(2·Cin·HWT + c·(H'W'T + H'W' + T))` — `X0`, and for
    each of the `n-1` steps the part `Y_i` and its two pooled maps (inputs of `Wf_i`, `Wa_i`) and the two ReLU
    outputs `σ(E + A)` and `Z` (the state also feeds the next part's conv); `E` is only added, never kept."""
    cin, cout = C, C if cout is None else cout
    if n == 1:
        return cin * H * W * T
    Ho, Wo = _out_size(H, K, stride), _out_size(W, K, stride)
    if impl == "lean":
        return cin * H * W * T + cout * Ho * Wo * T
    per_step = 2 * cin * H * W * T + (cout // n) * (Ho * Wo * T + Ho * Wo + T)
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


def measure_memory(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Elements autograd saves for backward in one forward of `module(*inputs)` (training memory).

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
        module(*inputs)
    return sum(storages.values())


# -- reports ---------------------------------------------------------------------------------------------


def check_layer_args(
    C: int | None = None, H: int = 14, W: int | None = None, T: int = 8, K: int = 3, n: int = 4, stride: int = 1,
    *, cin: int | None = None, cout: int | None = None, pool: str = "max",
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
    return cin, cout, H, W


def _layers(cin: int, cout: int, K: int, n: int, stride: int, T: int, pool: str,
            impl: str = "lean") -> tuple[nn.Conv2d, ARCConv2d]:
    conv = nn.Conv2d(cin, cout, K, stride, padding=K // 2, bias=False)
    return conv, ARCConv2d.from_conv(conv, n=n, num_segments=T, pool=pool, impl=impl)


def layer_report(
    C: int | None = None, H: int = 14, W: int | None = None, T: int = 8, K: int = 3, n: int = 4, stride: int = 1,
    *, cin: int | None = None, cout: int | None = None, pool: str = "max",
) -> dict:
    """Formulas vs measured counts of one bias-free ARC conv (padding `K//2`) on one clip `[T, Cin, H, W]`.

    Returns `{"formula": {"flops", "params", "params_printed", "memory_elements"},
    "measured": {"flops", "params", "memory_elements", "memory_elements_autograd"}, "plain": {"flops", "params"}}`;
    flops are multiply-adds for one clip (N = 1), `plain` is the wrapped conv alone; `memory_elements` is what the
    layer as trained keeps (`impl="lean"`), `memory_elements_autograd` what its autograd definition keeps. With
    `cin = cout` and stride 1 the formulas are Eqs. 8–10 exactly; otherwise their generalisation to what the layer
    executes.
    """
    cin, cout, H, W = check_layer_args(C, H, W, T, K, n, stride, cin=cin, cout=cout, pool=pool)
    conv, layer = _layers(cin, cout, K, n, stride, T, pool)
    x = torch.rand(T, cin, H, W, requires_grad=True)
    return {
        "formula": {
            "flops": flops_formula(cin, H, W, T, K, n, cout=cout, stride=stride),
            "params": params_formula(cin, K, n, cout=cout),
            "params_printed": params_printed(cin, K, n, cout=cout),
            "memory_elements": memory_formula(cin, H, W, T, n),
        },
        "measured": {
            "flops": measure_multiply_adds(layer, x),
            "params": measure_params(layer),
            "memory_elements": measure_memory(layer, x),
            "memory_elements_autograd": measure_memory(_layers(cin, cout, K, n, stride, T, pool, "autograd")[1], x),
        },
        "plain": {"flops": measure_multiply_adds(conv, x), "params": measure_params(conv)},
    }


def plain_memory(
    C: int | None = None, H: int = 14, W: int | None = None, T: int = 8, K: int = 3, stride: int = 1,
    *, cin: int | None = None, cout: int | None = None,
) -> int:
    """Measured training memory (elements) of the plain conv that `layer_report` wraps, for the same clip."""
    cin, cout, H, W = check_layer_args(C, H, W, T, K, 1, stride, cin=cin, cout=cout)
    conv = nn.Conv2d(cin, cout, K, stride, padding=K // 2, bias=False)
    return measure_memory(conv, torch.rand(T, cin, H, W, requires_grad=True))


def check_model_args(backbone: str, frames: int, num_classes: int, stages, n: int) -> tuple[str, ...]:
    """Validate the model arguments; returns the stages as a sorted tuple (`stages` may be `"res3,res4"`).
    Raises ValueError naming the bad option."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")
    for name, value in (("frames", frames), ("num_classes", num_classes), ("n", n)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return parse_stages(stages)


def model_report(
    backbone: str, frames: int = 8, num_classes: int = 174, stages=("res3", "res4", "res5"),
    n: int = 4, size: int = 224, device: str | torch.device = "meta", memory: bool = True,
) -> dict:
    """Whole-model multiply-adds (one clip `[1, frames, 3, size, size]`, forward), parameters and training memory
    of TSM and of ARC-TSM with ARC in `stages`: `{"tsm": {"flops", "params", "memory_elements"}, "arc": {…}}`.

    Multiply-adds and parameters run on the meta device by default: the same operators are dispatched with shapes
    only, which is all FlopCounterMode reads, so ResNet-101 at 16 frames costs no real compute. Memory
    (`memory=True`) is `measure_memory` of one training-mode forward of the clip on the CPU, a real forward:
    storages are told apart by address."""
    stages = check_model_args(backbone, frames, num_classes, stages, n)
    out = {}
    for name, steps in (("tsm", 1), ("arc", n)):
        with torch.device(device):
            model = build_model(backbone, num_classes, num_segments=frames, n=steps, stages=stages).eval()
            clip = torch.empty(1, frames, 3, size, size)
        out[name] = {"flops": measure_multiply_adds(model, clip), "params": measure_params(model)}
        if memory:
            out[name]["memory_elements"] = model_memory(backbone, frames, num_classes, stages, steps, size)
    return out


def model_memory(backbone: str, frames: int = 8, num_classes: int = 174, stages=("res3", "res4", "res5"),
                 n: int = 4, size: int = 224, impl: str = "lean") -> int:
    """Elements one training-mode forward of a clip `[1, frames, 3, size, size]` keeps for the backward (the
    activation memory of one clip; `n = 1` or no stages: TSM). `impl="autograd"` trains ARC's autograd definition."""
    stages = check_model_args(backbone, frames, num_classes, stages, n)
    torch.manual_seed(0)
    model = build_model(backbone, num_classes, num_segments=frames, n=n, stages=stages).train()
    for m in model.modules():
        if isinstance(m, ARCConv2d):
            m.impl = impl
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
    backbone: str, frames: int = 8, num_classes: int = 174, stages=("res3", "res4", "res5"),
    n: int = 4, size: int = 224, device: str | torch.device = "meta",
) -> dict:
    """Multiply-adds (one clip, forward) and parameters of TSM, MSN (TSM + MotionSqueeze after res3) and ARC-MSN,
    of the MS module alone, and the paper's Table 7 row (None for a backbone it does not report):
    `{"tsm", "msn", "arc_msn": {"flops", "params"}, "module": {"flops", "params", "correlation_flops"}, "paper"}`.

    The correlation is counted as its 15×15 window (`correlation_multiply_adds`), not as what the all-pairs
    path executes (`(HW)²·C` per pair, more at 28×28): FlopCounterMode does not see the loop over shifts, which
    is what is measured here, so the window's count is added."""
    stages = check_model_args(backbone, frames, num_classes, stages, n)
    if frames < 2:
        raise ValueError(f"frames must be >= 2 with the MotionSqueeze module (it pairs frame t with t+1), got {frames}")
    out = {}
    for name, steps, motion in (("tsm", 1, "none"), ("msn", 1, "ms"), ("arc_msn", n, "ms")):
        cost = model_cost(dict(backbone=backbone, num_classes=num_classes, num_segments=frames, n=steps,
                               stages=stages, motion=motion), size, device)
        out[name] = {"flops": cost["macs"], "params": cost["params"]}
    out["module"] = {"flops": out["msn"]["flops"] - out["tsm"]["flops"],
                     "params": out["msn"]["params"] - out["tsm"]["params"],
                     "correlation_flops": correlation_multiply_adds(frames, size)}
    out["paper"] = PAPER_TABLE7.get(backbone)
    return out
