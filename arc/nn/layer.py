"""The ARC layer (paper Eqs. 2–7; docs/layer.md): a convolution computed part by part from an evolving input state."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from arc.nn.choices import (
    ARU_ACTS,
    ARU_NAMES,
    ATTENTION_VIEWS,
    ATTENTIONS,
    IMPLS,
    POOLS,
    check_choice,
    check_n,
    parse_aru_terms,
)
from arc.nn.lean import Params, Settings, lean_arc
from arc.nn.ops import accumulate, channel_map, pool_space, pool_time, resize_nearest, sigma

__all__ = ["ARCConv2d", "channel_map", "pool_space", "pool_time", "resize_nearest"]


class ARCConv2d(nn.Module):
    """Adaptive Recursive Circle around a conv (→ BatchNorm → activation): `Y = Concat(Y_1, …, Y_n)`.

    Input `[N·T, Cin, H, W]` (TSM layout, `T = num_segments`), output `[N·T, Cout, H', W']`.
    Part `i` computes `Y_i = f_i(Z_i)` on channels `[(i-1)c, i·c)`, `c = Cout / n`, where `f_i` is the conv
    (and the absorbed `norm`, `act`) restricted to those channels, and the state evolves as (Eqs. 5–7)::

        E   = X0 + We ⋆ X0
        A_i = Σ_{j<i} Wa_j ⋆ (PoolS(U(Y_j)) ⊕ PoolT(U(Y_j)))
        F_i = Σ_{j<i} Wf_j ⋆ U(Y_j)
        Z_i = σ(σ(E + A_i) + F_i),   Z_1 = X0

    Parameters (the canonical layout shared with `reference/`): `weight [Cout, Cin, K, K]`, `bias [Cout]`
    or None, `embed [Cin, Cin]`, `fuse [n-1, Cin, c]`, `attend [n-1, Cin, c]` (None when `n == 1`).

    Ablations (the paper's Table 5, docs/layer.md "Ablations"): `aru_terms`, some of `("embed", "fuse", "attend")`
    (default all), keeps those terms; a term left out has no parameter (None) and computes as its absence — no
    embedding `E = X0`, no fusion `F_i = 0`, no attention `A_i = 0`. `attention` chooses the attention's pooled
    views: `"both"` (`PoolS ⊕ PoolT`, the paper), `"space"` (`PoolS` alone) or `"time"` (`PoolT` alone).

    Initialisation: the ARU maps start at zero, so `Z_i = σ(σ(X0))`; on non-negative input (the output of
    a ReLU, as in every ResNet block) the layer then computes exactly the wrapped conv. On signed input it
    does not: `σ` clips the negative part of `X0` for parts `i ≥ 2`.

    `impl` chooses how the same function is differentiated: `"lean"` (the default) runs `arc.nn.lean`, whose
    hand-written backward keeps only what conv → BatchNorm → activation keeps and rebuilds the states;
    `"autograd"` runs `_recurse` below, the definition term for term, and lets autograd keep every state. An
    activation other than `nn.ReLU` / `nn.LeakyReLU` / None, or a string padding that is not symmetric, has no
    hand-written derivative here and runs the autograd definition (`uses_lean` says which runs). `trace()`,
    and `torch.jit.trace` / ONNX export (which record aten ops), always run the definition.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        *,
        n: int = 4,
        num_segments: int = 8,
        norm: nn.BatchNorm2d | None = None,
        act: nn.Module | None = None,
        pool: str = "max",
        aru_act: str = "relu",
        impl: str = "lean",
        aru_terms=ARU_NAMES,
        attention: str = "both",
    ):
        super().__init__()
        check_n(n, "ARCConv2d: n")
        if out_channels % n:
            raise ValueError(f"ARCConv2d: out_channels={out_channels} is not divisible by n={n}")
        if not isinstance(num_segments, int) or num_segments < 1:
            raise ValueError(f"ARCConv2d: num_segments must be an integer >= 1, got {num_segments!r}")
        check_choice(pool, POOLS, "ARCConv2d: pool")
        check_choice(aru_act, ARU_ACTS, "ARCConv2d: aru_act")
        check_choice(impl, IMPLS, "ARCConv2d: impl")
        check_choice(attention, ATTENTIONS, "ARCConv2d: attention")
        try:
            aru_terms = parse_aru_terms(aru_terms)
        except ValueError as e:
            raise ValueError(f"ARCConv2d: aru_terms: {e}") from None
        if norm is not None:
            if not isinstance(norm, nn.BatchNorm2d):
                raise TypeError(f"ARCConv2d: norm must be a BatchNorm2d (per-channel), got {type(norm).__name__}")
            if norm.num_features != out_channels:
                raise ValueError(f"ARCConv2d: norm has {norm.num_features} features, the conv has {out_channels}")
        pair = nn.modules.utils._pair
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size)
        self.stride, self.dilation = pair(stride), pair(dilation)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        self.n, self.num_segments, self.pool, self.aru_act, self.impl = n, num_segments, pool, aru_act, impl
        self.aru_terms, self.attention = aru_terms, attention
        self.norm, self.act = norm, act

        c = out_channels // n
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        shapes = {"embed": (in_channels, in_channels), "fuse": (n - 1, in_channels, c),
                  "attend": (n - 1, in_channels, c)}
        for name in ARU_NAMES:
            kept = n > 1 and name in aru_terms
            self.register_parameter(name, nn.Parameter(torch.empty(shapes[name])) if kept else None)
        self.reset_parameters()

    @classmethod
    def from_conv(
        cls,
        conv: nn.Conv2d,
        n: int = 4,
        num_segments: int = 8,
        norm: nn.BatchNorm2d | None = None,
        act: nn.Module | None = None,
        pool: str = "max",
        aru_act: str = "relu",
        impl: str = "lean",
        aru_terms=ARU_NAMES,
        attention: str = "both",
    ) -> ARCConv2d:
        """Wrap an existing conv (sharing its `weight`/`bias` tensors) and the `norm`/`act` that follow it."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"ARCConv2d.from_conv expects an nn.Conv2d, got {type(conv).__name__}")
        if conv.groups != 1:
            raise ValueError(
                f"ARCConv2d needs full input-output connections (groups=1); this conv has groups={conv.groups}"
            )
        if conv.padding_mode != "zeros":
            raise ValueError(f"ARCConv2d supports padding_mode='zeros' only, got {conv.padding_mode!r}")
        layer = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
            conv.bias is not None, n=n, num_segments=num_segments, norm=norm, act=act, pool=pool, aru_act=aru_act,
            impl=impl, aru_terms=aru_terms, attention=attention,
        )
        layer.weight = conv.weight
        layer.bias = conv.bias
        return layer.to(device=conv.weight.device, dtype=conv.weight.dtype)

    def reset_parameters(self) -> None:
        """Conv as `nn.Conv2d` initialises it; the ARU maps (`embed`, `fuse`, `attend`) at zero = the wrapped layer."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)
        self.reset_aru()

    def reset_aru(self) -> None:
        """Zero the ARU maps (keeps the conv): the layer becomes its feed-forward twin on non-negative input."""
        for p in (self.embed, self.fuse, self.attend):
            if p is not None:
                nn.init.zeros_(p)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}, "
            f"n={self.n}, num_segments={self.num_segments}"
        )
        if self.n > 1:
            s += f", pool={self.pool!r}, aru_act={self.aru_act!r}"
            if self.aru_terms != ARU_NAMES:
                s += f", aru_terms={self.aru_terms!r}"
            if self.attention != "both":
                s += f", attention={self.attention!r}"
        return s + f", impl={self.impl!r}"

    # -- the forward path f_i: conv → norm → act on channel slice i --------------------------------------

    def _sigma(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return sigma(x, self.aru_act, inplace)

    def _norm_factor(self) -> float | None:
        """BatchNorm's running-average factor for this forward (counted once, not once per part)."""
        norm = self.norm
        if not (norm.training and norm.track_running_stats):
            return 0.0 if norm.momentum is None else norm.momentum
        norm.num_batches_tracked.add_(1)
        return 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum

    def part(self, z: torch.Tensor, i: int, factor: float | None = None) -> torch.Tensor:
        """`Y_{i+1} = f_{i+1}(Z)`: the conv, norm and act of output channels `[i·c, (i+1)·c)` (0-based `i`).

        `factor` is the BatchNorm running-average factor of this forward; None leaves the running statistics
        untouched (a part evaluated on its own)."""
        c = self.out_channels // self.n
        part = slice(i * c, (i + 1) * c)
        bias = None if self.bias is None else self.bias[part]
        y = F.conv2d(z, self.weight[part], bias, self.stride, self.padding, self.dilation)
        if self.norm is not None:
            norm = self.norm
            use_batch_stats = norm.training or norm.running_mean is None
            track = not norm.training or norm.track_running_stats
            y = F.batch_norm(
                y,
                norm.running_mean[part] if track and norm.running_mean is not None else None,
                norm.running_var[part] if track and norm.running_var is not None else None,
                None if norm.weight is None else norm.weight[part],
                None if norm.bias is None else norm.bias[part],
                use_batch_stats, 0.0 if factor is None else factor, norm.eps,
            )
        if self.act is not None:
            y = self.act(y)
        return y

    # -- the recursion -----------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        settings = self._lean_settings() if self.impl == "lean" else None
        if settings is None or torch.jit.is_tracing():  # an exported graph holds aten ops, not a Python Function
            return self._recurse(x, None)
        self._check_input(x)
        norm = self.norm
        factor = self._norm_factor() if norm is not None else 0.0
        track = norm is not None and (not norm.training or norm.track_running_stats)
        params = Params(self.weight, self.bias, self.embed, self.fuse, self.attend)
        if norm is not None:
            params = params._replace(norm_weight=norm.weight, norm_bias=norm.bias,
                                     running_mean=norm.running_mean if track else None,
                                     running_var=norm.running_var if track else None)
        return lean_arc(
            x, params,
            settings._replace(batch_stats=norm is not None and (norm.training or norm.running_mean is None),
                              momentum=0.0 if factor is None else factor),
        )

    @property
    def uses_lean(self) -> bool:
        """Whether `forward` runs the lean layer (`impl="lean"` and a forward path it differentiates)."""
        return self.impl == "lean" and self._lean_settings() is not None

    def _lean_settings(self) -> Settings | None:
        """The lean layer's settings for this layer, None where it has no hand-written derivative."""
        act, slope = self.act, 0.0
        if isinstance(act, nn.ReLU):
            act = "relu"
        elif isinstance(act, nn.LeakyReLU):
            act, slope = "leaky_relu", act.negative_slope
        elif act is not None:
            return None
        padding = self.padding
        if isinstance(padding, str):
            reach = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            if padding == "same" and any(r % 2 for r in reach):
                return None
            padding = (0, 0) if padding == "valid" else tuple(r // 2 for r in reach)
        norm = self.norm
        return Settings(self.n, self.num_segments, self.stride, padding, self.dilation, self.pool, self.aru_act,
                        self.attention, act, slope, norm is not None, False, 0.0, 1e-5 if norm is None else norm.eps)

    def trace(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
        """Forward that also returns, per step, the state `Z_i` and the attention map `A_i` (paper Figs. 3, 6)."""
        record: dict[str, list[torch.Tensor]] = {"state": [], "attention": []}
        return self._recurse(x, record), record

    def definition(self, x: torch.Tensor) -> torch.Tensor:
        """The forward by the definition, whatever `impl` says (autograd keeps every state; `arc.overhead` measures
        what that costs on the same layer)."""
        return self._recurse(x, None)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ARCConv2d expects input [N*T, {self.in_channels}, H, W], got {list(x.shape)}")
        if x.shape[0] % self.num_segments:
            raise ValueError(
                f"ARCConv2d: batch {x.shape[0]} is not a multiple of num_segments={self.num_segments} "
                "(input is [N*T, C, H, W])"
            )

    def _recurse(self, x: torch.Tensor, record: dict | None) -> torch.Tensor:
        self._check_input(x)
        T = self.num_segments
        factor = self._norm_factor() if self.norm is not None else None
        size = tuple(x.shape[-2:])
        z = x
        ys = [self.part(z, 0, factor)]
        if record is not None:
            record["state"].append(z)
        if self.n == 1:
            return ys[0]

        N, C, H, W = x.shape[0] // T, self.in_channels, *size
        state = (x if self.embed is None else x + channel_map(self.embed, x)).view(N, T, C, H, W)  # E; X0 without We
        views = () if self.attend is None else ATTENTION_VIEWS[self.attention]
        fused = attend_space = attend_time = None  # Σ_{j<i}, in place: autograd needs none of the summed values
        for i in range(1, self.n):  # a term that is off stays None: F_i = 0, A_i without it
            y = ys[-1]
            if self.fuse is not None:
                fused = accumulate(fused, channel_map(self.fuse[i - 1], y))
            if "space" in views:
                attend_space = accumulate(attend_space, channel_map(self.attend[i - 1], pool_space(y, self.pool, size)))
            if "time" in views:
                attend_time = accumulate(attend_time, channel_map(self.attend[i - 1], pool_time(y, self.pool, T)))
            attention = [] if attend_time is None else [resize_nearest(attend_time, size)[:, None]]  # every frame
            if attend_space is not None:
                attention.append(attend_space.view(N, T, C, 1, 1))  # every position
            inner = self._sigma(_add(state, attention), inplace=bool(attention)).view(-1, C, H, W)
            z = self._sigma(inner if fused is None else inner + resize_nearest(fused, size))
            ys.append(self.part(z, i, factor))
            if record is not None:
                record["state"].append(z)
                record["attention"].append(_add(x.new_zeros(N, T, C, H, W), attention).reshape(-1, C, H, W))
        return torch.cat(ys, dim=1)


def _add(base: torch.Tensor, terms: list[torch.Tensor]) -> torch.Tensor:
    """`base + Σ terms`, broadcast, as a new tensor; `base` itself when there are no terms."""
    if not terms:
        return base
    total = base + terms[0]
    for term in terms[1:]:
        total.add_(term)
    return total
