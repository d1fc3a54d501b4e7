"""ARC on any model: find each `conv (groups=1, K>1) → BatchNorm (→ activation)` chain by tracing the model with
torch.fx, and put an `ARCConv2d` absorbing the BN and activation in the conv's place (docs/models.md, "Other hosts").

The trace is only read, never run: the model keeps its classes, its `forward` code and its parameter names. At a
converted chain the conv's attribute holds the `ARCConv2d` (its BN as the child `norm`, as `build_model` names it)
and the BN's attribute becomes `nn.Identity`; an absorbed activation module called only there becomes
`nn.Identity` too. A ReLU (or ReLU6) that is also called elsewhere, or a functional `F.relu`, stays where it is:
applying it again to the layer's output, already rectified, changes nothing.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass, field

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from arc.nn.choices import ARU_NAMES
from arc.nn.layer import ARCConv2d
from arc.nn.motion import MotionSqueeze
from arc.nn.shift import TemporalShift

IDEMPOTENT = (nn.ReLU, nn.ReLU6)                   # act(act(x)) = act(x): may stay in place after absorbing a copy
FUNCTIONAL_RELU = {F.relu, F.relu_, torch.relu, torch.relu_}
LEAVES = (ARCConv2d, TemporalShift, MotionSqueeze)  # never traced into (their forwards check shapes)


class ArcifyError(ValueError):
    """A model (or the part of it to convert) that cannot be traced, or bad options; names the module."""


@dataclass
class Replaced:
    conv: str
    norm: str
    act: str | None   # the absorbed activation: a module's name, "F.relu", or None
    note: str = ""    # why an activation after the BN was not absorbed


@dataclass
class ArcifyReport:
    """What `arcify` replaced (conv, BN, activation) and what it left, with the reason."""

    replaced: list[Replaced] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # conv name -> why

    def __str__(self) -> str:
        lines = [f"arcify: {len(self.replaced)} conv(s) replaced by ARCConv2d, {len(self.skipped)} left"]
        lines += [f"  replaced {r.conv} (+ {r.norm}{' + ' + r.act if r.act else ''})"
                  + (f"; {r.note}" if r.note else "") for r in self.replaced]
        lines += [f"  left {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _matches(name: str, patterns) -> str | None:
    """The first pattern that `name` or one of its ancestors matches (fnmatch, on dotted module names)."""
    parts = name.split(".")
    for pattern in patterns or ():
        if any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            return pattern
    return None


class _Tracer(torch.fx.Tracer):
    """torch.nn layers, arc's own modules and the excluded modules are called, not traced into."""

    def __init__(self, leaves: set[str]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAVES) or qualname in self.leaves or super().is_leaf_module(m, qualname)


def _scopes(model: nn.Module, include) -> list[str]:
    """The modules to trace: the root, or with `include` the top-most modules whose names match a pattern."""
    if not include:
        return [""]
    names = [name for name, _ in model.named_modules() if name and _matches(name, include)]
    tops = [n for n in names if not any(n.startswith(other + ".") for other in names)]
    if not tops:
        raise ArcifyError(f"arcify: include={list(include)} matches no module of {type(model).__name__}")
    return tops


def _trace(model: nn.Module, scope: str, exclude) -> torch.fx.Graph:
    module = model.get_submodule(scope) if scope else model
    where = f"{scope} ({type(module).__name__})" if scope else f"the model ({type(module).__name__})"
    leaves = {name for name, _ in module.named_modules()
              if name and _matches(f"{scope}.{name}" if scope else name, exclude)}
    try:
        return _Tracer(leaves).trace(module)
    except Exception as e:  # fx raises TraceError, TypeError, AttributeError… from inside user code
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArcifyError(
            f"arcify: cannot trace {where}: {reason[:160]} — pass include=[...] to convert only the submodules "
            f"that trace (e.g. include=['layer2', 'layer3']), or exclude=[...] to leave a submodule whole"
        ) from None


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def _activation(node: torch.fx.Node, modules: dict, calls: dict, prefix: str):
    """(absorbable copy, name, module name to make Identity or None) for the activation at `node`, or the reason
    it cannot be absorbed as a string."""
    if node.op == "call_function" and node.target in FUNCTIONAL_RELU or \
            node.op == "call_method" and node.target in ("relu", "relu_"):
        return nn.ReLU(), "F.relu", None
    if node.op != "call_module":
        return None
    act = modules[node.target]
    if not isinstance(act, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Sigmoid,
                            nn.Tanh, nn.Mish, nn.PReLU)):
        return None
    name = prefix + node.target
    if calls[node.target] == 1:  # moved into the layer (its parameters, if any, with it); Identity here
        if hasattr(act, "inplace"):
            act.inplace = False
        return act, name, name
    if isinstance(act, IDEMPOTENT):  # a copy in the layer; the shared module stays (applying it again is a no-op)
        copied = copy.deepcopy(act)
        copied.inplace = False
        return copied, name, None
    return f"activation {name} ({type(act).__name__}) is also called elsewhere and is not idempotent"


def arcify(
    model: nn.Module,
    n: int = 4,
    num_segments: int = 8,
    *,
    include=None,
    exclude=None,
    pointwise: bool = False,
    pool: str = "max",
    aru_act: str = "relu",
    aru_terms=ARU_NAMES,
    attention: str = "both",
) -> tuple[nn.Module, ArcifyReport]:
    """Replace, in place, each `conv → BatchNorm2d (→ activation)` chain of `model` by an `ARCConv2d` (`n` parts,
    zero-initialised ARU) that absorbs the BN and the activation; returns `(model, report)`.

    A conv is converted when it is an `nn.Conv2d` with `groups=1`, `K > 1` (or 1×1 with `pointwise=True`), zero
    padding and `n | out_channels`, is called once, and its output goes only to a `BatchNorm2d` called once.
    The activation (a module, or `F.relu`) is absorbed when it alone reads the BN's output. `include` /
    `exclude`: fnmatch patterns on module names (`"layer2"`, `"features.*"`); with `include`, only the top-most
    matching modules are traced, and excluded modules are called whole, not traced. Input `[N·T, C, H, W]`.

    At zero ARU init the converted model computes what `model` did wherever the converted convs' inputs are
    non-negative (after a ReLU, as in ResNet blocks; an image in [0, 1]); on signed inputs it does not.
    `pool`, `aru_act` and the ablation options `aru_terms`, `attention` are `ARCConv2d`'s.
    """
    if isinstance(include, str) or isinstance(exclude, str):
        raise ArcifyError("arcify: include and exclude take lists of patterns, e.g. include=['layer2']")
    report = ArcifyReport()
    plans = [plan for scope in _scopes(model, include) for plan in _plan_scope(model, scope, exclude, n, pointwise,
                                                                                report)]
    for full, conv, norm_name, norm, act in plans:
        note = act if isinstance(act, str) else ""
        absorbed, act_name, identity = act if isinstance(act, tuple) else (None, None, None)
        layer = ARCConv2d.from_conv(conv, n=n, num_segments=num_segments, norm=norm, act=absorbed, pool=pool,
                                    aru_act=aru_act, aru_terms=aru_terms, attention=attention)
        _set(model, full, layer)
        _set(model, norm_name, nn.Identity())
        if identity is not None:
            _set(model, identity, nn.Identity())
        report.replaced.append(Replaced(full, norm_name, act_name, note))
    return model, report


def _plan_scope(model: nn.Module, scope: str, exclude, n: int, pointwise: bool, report: ArcifyReport) -> list:
    """The chains to convert in the traced module `scope`, as `(conv name, conv, norm name, norm, act)`: one walk of
    its graph counts each module's calls and keeps its first call node; each conv is then refused (the reason goes
    to `report.skipped`) or followed to its BatchNorm and activation (`_chain`)."""
    graph = _trace(model, scope, exclude)
    prefix = f"{scope}." if scope else ""
    root = model.get_submodule(scope) if scope else model
    modules = dict(root.named_modules())
    calls: dict[str, int] = {}
    called: dict[str, torch.fx.Node] = {}   # module name -> its (first) call: one walk of the graph
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
            called.setdefault(node.target, node)
    inside = {prefix + nm: type(m).__name__ for nm, m in modules.items() if nm and isinstance(m, LEAVES)}
    plans = []
    for name, conv in modules.items():
        full = prefix + name
        if not isinstance(conv, nn.Conv2d):
            continue
        owner = next((o for o in inside if full.startswith(o + ".")), None)
        why = f"inside {owner} ({inside[owner]}), which is not traced into" if owner else \
            _refuse(conv, full, n, pointwise, exclude, calls.get(name, 0))
        if why:
            report.skipped[full] = why
            continue
        plan = _chain(called[name], modules, calls, prefix)
        if isinstance(plan, str):
            report.skipped[full] = plan
        else:
            plans.append((full, conv) + plan)
    return plans


def _refuse(conv: nn.Conv2d, name: str, n: int, pointwise: bool, exclude, calls: int) -> str | None:
    """Why `conv` cannot become an ARC layer by itself, or None."""
    pattern = _matches(name, exclude)
    if pattern:
        return f"excluded by {pattern!r}"
    if conv.groups != 1:
        kind = "depthwise" if conv.groups == conv.in_channels else "grouped"
        return f"{kind} (groups={conv.groups}): ARC needs full input-output connections"
    if conv.kernel_size == (1, 1) and not pointwise:
        return "1x1 conv (pass pointwise=True to convert 1x1 convs)"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r} (ARC supports zero padding)"
    if conv.out_channels % n:
        return f"out_channels={conv.out_channels} is not divisible by n={n}"
    if calls == 0:
        return "not called in the traced forward"
    if calls > 1:
        return f"conv used {calls} times in the forward (one ARC layer would change every use)"
    return None


def _chain(node: torch.fx.Node, modules: dict, calls: dict, prefix: str):
    """`(norm name, norm, activation)` of the chain that starts at the call of a conv (`node`), or why there is none."""
    name = node.target
    users = list(node.users)
    bn_node = users[0] if len(users) == 1 else None
    if bn_node is None or bn_node.op != "call_module" or not isinstance(modules[bn_node.target], nn.BatchNorm2d):
        if len(users) > 1:
            return f"conv output read by {len(users)} operations, not a BatchNorm alone"
        return "no BatchNorm2d after it (BN missing)"
    if calls[bn_node.target] > 1:
        return f"BatchNorm {prefix + bn_node.target} is used {calls[bn_node.target]} times"
    norm = modules[bn_node.target]
    if norm.num_features != modules[name].out_channels:
        return f"BatchNorm {prefix + bn_node.target} has {norm.num_features} features, not {modules[name].out_channels}"
    bn_users = list(bn_node.users)
    if len(bn_users) > 1:
        return prefix + bn_node.target, norm, f"BN output read by {len(bn_users)} operations: no activation absorbed"
    act = _activation(bn_users[0], modules, calls, prefix) if bn_users else None
    return prefix + bn_node.target, norm, act  # act: (module, name, to-Identity), a reason, or None
