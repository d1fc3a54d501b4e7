"""The memory-lean ARC layer: the function of `ARCConv2d` (docs/layer.md, Eqs. 5–7) as one `torch.autograd.Function`
whose backward is written by hand, block for block as `reference/layer.py`'s `arc_backward`: the same helpers
(`_part_backward`, `_state_backward` for Eq. 5, `_attention_backward` for Eq. 7, `_fusion_backward` for Eq. 6,
`_terms_backward`, `_embed_backward`), the same op names (`arc.nn.ops`), and what flows back (`Flow`) named as the
reference's variables. An ARU term the layer leaves out (`aru_terms`) is a None parameter, and everything it would
compute or keep is None too (a running sum, a pooled map, a gradient): the blocks skip what is None.

What it keeps for the backward (`Saved`) is what a plain conv → BatchNorm → activation keeps: the input `X0`, the
parts' conv outputs (what BatchNorm's backward needs; without a norm, the layer's output) and BatchNorm's
per-channel statistics. Everything else — the parts `Y_j`, their pooled maps, the embedded map `E`, the running
sums and the states `Z_i`, `σ(E + A_i)` — is rebuilt in the backward (`_replay`) by the same functions the forward
ran, on the same values, so the rebuilt tensors are bitwise the forward's (masks included) and only the 3×3 convs
are not redone. The price is one more pass of the 1×1 maps (`We`, the `Wf_j`) in the backward: docs/overhead.md,
docs/benchmarks.md.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from arc.nn.choices import ATTENTION_VIEWS
from arc.nn.ops import (
    accumulate,
    add_sigma,
    autocast_off,
    channel_map,
    channel_map_backward,
    pool_space,
    pool_space_backward,
    pool_time,
    pool_time_backward,
    repeats_evenly,
    resize_nearest,
    resize_nearest_backward,
    sigma,
    sigma_backward,
)


class Settings(NamedTuple):
    """What the layer is, besides its tensors: recursion, conv geometry, σ, and the forward path's norm / act; and
    what one forward ran with (the norm's mode and factor, autocast's dtype)."""

    n: int
    T: int
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    pool: str
    aru_act: str
    attention: str  # the attention's pooled views (`arc.nn.choices.ATTENTION_VIEWS`)
    act: str | None  # "relu", "leaky_relu" or None: the activation that ends f_i
    act_slope: float
    norm: bool  # a BatchNorm in f_i
    batch_stats: bool  # it normalises with the batch's statistics (training, or no running statistics)
    momentum: float  # its running-average factor for this forward
    eps: float
    amp: torch.dtype | None = None  # the autocast dtype the forward ran its products in (None: autocast off)


class Params(NamedTuple):
    """The layer's tensors besides `X0`: `reference/`'s parameters, then its BatchNorm's (None where absent).
    `LeanARC.apply(x, settings, *params)` takes them in this order, and its backward returns their gradients so."""

    weight: torch.Tensor  # [Cout, Cin, K, K]
    bias: torch.Tensor | None  # [Cout]
    embed: torch.Tensor | None  # We, [Cin, Cin]; None: n = 1, or the term is off
    fuse: torch.Tensor | None  # Wf_j, [n-1, Cin, c]
    attend: torch.Tensor | None  # Wa_j, [n-1, Cin, c]
    norm_weight: torch.Tensor | None = None  # [Cout]
    norm_bias: torch.Tensor | None = None
    running_mean: torch.Tensor | None = None
    running_var: torch.Tensor | None = None


class Saved(NamedTuple):
    """What the forward keeps for the backward (its `LayerCache`): `_save` hands it to autograd, `_load` reads it."""

    x: torch.Tensor  # X0
    params: Params  # the running statistics only where the norm normalised with them
    y: torch.Tensor | None  # Y, without a norm (the maps' and the activation's backward read its parts)
    pres: tuple[torch.Tensor, ...]  # with a norm, per part: the conv output, BatchNorm's input
    means: tuple[torch.Tensor, ...]  # with a norm, per part: the batch's mean (empty without batch statistics)
    invstds: tuple[torch.Tensor, ...]  # and its 1 / std


class Sums(NamedTuple):
    """The running sums of Eqs. 6–7 after a step: `Σ_{j<i}` of `Wf_j ⋆ Y_j` at `H'×W'`, of `Wa_j ⋆ PoolS(U(Y_j))`
    (`[N·T, Cin, 1, 1]`) and of `Wa_j ⋆ PoolT(Y_j)` (`[N, Cin, H', W']`); None where the term or view is off."""

    fused: torch.Tensor | None
    attend_space: torch.Tensor | None
    attend_time: torch.Tensor | None


class Step(NamedTuple):
    """What step `i ≥ 2`'s backward reads from the replay (the reference's `StepCache`; `j = i − 1`): the running
    sums after the step and part `j`'s pooled maps, the inputs of `Wa_j`."""

    sums: Sums
    pool_space: torch.Tensor | None  # PoolS(U(Y_j))
    pool_time: torch.Tensor | None  # PoolT(Y_j)


class Replay(NamedTuple):
    """The forward rebuilt without its 3×3 convs: the parts `Y_j` (none for a bare plain conv), `E` (`n > 1`), and
    one `Step` per part (None for part 1)."""

    ys: list[torch.Tensor]
    E: torch.Tensor | None
    steps: list[Step | None]


class Flow(NamedTuple):
    """The gradients that flow back (`d_X = ∂L/∂X`), named as in `arc_backward`: per part `dys[j]` (the output's
    slice, to which every later part adds its gradient through the running sums), `dE`, and the gradients of the
    three running sums, which a sum carries unchanged to every earlier step. None until first reached."""

    dys: list[torch.Tensor]
    dE: torch.Tensor | None = None
    d_fused: torch.Tensor | None = None
    d_attend_space: torch.Tensor | None = None
    d_attend_time: torch.Tensor | None = None

    def add(self, **terms: torch.Tensor | None) -> Flow:
        """This flow with each term added to the gradient of its name (in place once that has a buffer of its own);
        a None term (of an ARU term that is off) adds nothing."""
        return self._replace(**{name: accumulate(getattr(self, name), term) for name, term in terms.items()
                                if term is not None})


class Grads(NamedTuple):
    """`arc_backward`'s `grads` as the backward finds them: part `i`'s slices of the conv's and the norm's
    gradients, map `j`'s of `fuse` and `attend`; `params` joins them."""

    weight: list
    bias: list
    norm_weight: list
    norm_bias: list
    fuse: list
    attend: list

    @classmethod
    def empty(cls, n: int) -> Grads:
        return cls(*([None] * n for _ in range(4)), [None] * (n - 1), [None] * (n - 1))

    def params(self, embed: torch.Tensor | None, need: Params) -> Params:
        """The gradients of `Params`, None where autograd needs none: the slices concatenated, the maps stacked."""
        return Params(
            weight=torch.cat(self.weight) if need.weight else None,
            bias=torch.cat(self.bias) if need.bias else None,
            embed=embed if need.embed else None,
            fuse=torch.stack(self.fuse) if need.fuse else None,
            attend=torch.stack(self.attend) if need.attend else None,
            norm_weight=torch.cat(self.norm_weight) if need.norm_weight else None,
            norm_bias=torch.cat(self.norm_bias) if need.norm_bias else None,
        )


# -- the pieces of the forward, shared by the forward and the backward's replay ----------------------------


def _channels(i: int, c: int) -> slice:
    """Part `i`'s channels (0-based), `c` to a part."""
    return slice(i * c, (i + 1) * c)


def _slice(t: torch.Tensor | None, part: slice) -> torch.Tensor | None:
    return None if t is None else t[part]


def _finish_part(pre, i, c, p: Params, s: Settings, update: bool, out: torch.Tensor):
    """`Y_i` from the conv output `pre`, written into `out` (the part's channels of the layer's output): BatchNorm
    slice `i` (its running statistics updated when `update`), then the activation. Returns `(mean, invstd)` of the
    batch (empty without batch statistics)."""
    part = _channels(i, c)
    y, mean, invstd = pre, None, None
    if s.norm:
        keep = update or not s.batch_stats  # the replay must not count a batch twice
        y, mean, invstd = torch.native_batch_norm(
            pre, _slice(p.norm_weight, part), _slice(p.norm_bias, part),
            _slice(p.running_mean, part) if keep else None, _slice(p.running_var, part) if keep else None,
            s.batch_stats, s.momentum, s.eps,
        )
    if torch.compiler.is_compiling():  # dynamo takes no out= into a channel slice; the compiler fuses the copy
        y = F.relu(y) if s.act == "relu" else F.leaky_relu(y, s.act_slope) if s.act else y
        out.copy_(y)
    elif s.act == "relu":
        torch.clamp_min(y, 0, out=out)
    elif s.act == "leaky_relu":
        torch.ops.aten.leaky_relu.out(y, s.act_slope, out=out)
    else:
        out.copy_(y)
    return mean, invstd


def _embed(x: torch.Tensor, embed: torch.Tensor | None) -> torch.Tensor:
    """`E = X0 + We ⋆ X0` (Eq. 5), computed once: the sum inside the matrix product (β = 1), except under autocast,
    which would round `X0` to its lower precision there. `X0` itself without the embedding."""
    if embed is None:
        return x
    if _autocast_dtype(x.device.type) is not None:
        return x + channel_map(embed, x)
    return channel_map(embed, x, total=x)


def _add_terms(y, j, p: Params, sums: Sums | None, s: Settings, size, inplace: bool):
    """Part `j`'s terms into the running sums of Eqs. 6–7, at the part's resolution, each inside its matrix product
    (β = 1); returns the new `Sums` and the two pooled maps (the inputs of `Wa_j`; None for a view that is off)."""
    views = () if p.attend is None else ATTENTION_VIEWS[s.attention]
    pooled_space = pool_space(y, s.pool, size) if "space" in views else None
    pooled_time = pool_time(y, s.pool, s.T) if "time" in views else None
    inputs = (None if p.fuse is None else y, pooled_space, pooled_time)
    maps = (_slice(p.fuse, j), _slice(p.attend, j), _slice(p.attend, j))
    low = _autocast_dtype(y.device.type) is not None  # autocast leaves out= products alone: add the term after
    totals = (None,) * 3 if sums is None else sums
    sums = Sums(*(_add_term(m, t, total, inplace, low) for m, t, total in zip(maps, inputs, totals, strict=True)))
    return sums, pooled_space, pooled_time


def _add_term(weight, t, total, inplace: bool, low: bool):
    """`total + W ⋆ t` (β = 1; into `total` when `inplace`), `W ⋆ t` for the first term, None for no term."""
    if t is None:
        return None
    if total is None:
        return channel_map(weight, t)
    if low:
        return total.add_(channel_map(weight, t)) if inplace else total + channel_map(weight, t)
    return channel_map(weight, t, total=total, out=total if inplace else None)


def _state(E: torch.Tensor, sums: Sums, s: Settings, G: torch.Tensor, Z: torch.Tensor) -> None:
    """Eq. 5 into the buffers `G`, `Z` (shaped like `E`): `G = σ(E + A_i)` with `A_i = attend_space ⊕
    U(attend_time)` (Eq. 7), and `Z = σ(G + U(fused))`; a sum that is None (its term off) adds nothing.

    Three passes over the state, into buffers reused from step to step (a new full-size tensor costs more than an
    add on the CPU: fresh pages); the attention sums, and `U(fused)` for integer factors, are broadcast, never
    materialised at full size."""
    B, C, H, W = E.shape
    N, T = B // s.T, s.T
    G5, E5 = G.view(N, T, C, H, W), E.view(N, T, C, H, W)
    if sums.attend_time is not None:
        E5 = torch.add(E5, resize_nearest(sums.attend_time, (H, W))[:, None], out=G5)
    if sums.attend_space is not None:
        add_sigma(E5, sums.attend_space.view(N, T, C, 1, 1), s.aru_act, out=G5)
    else:
        sigma(G5.copy_(E5), s.aru_act, inplace=True)
    fused = sums.fused
    if fused is None:
        sigma(Z.copy_(G), s.aru_act, inplace=True)
        return
    h, w = fused.shape[-2:]
    if (h, w) == (H, W):
        add_sigma(G, fused, s.aru_act, out=Z)
    elif repeats_evenly(H, h) and repeats_evenly(W, w):  # a broadcast, 2–3× faster than materialising U(fused)
        sh, sw = H // h, W // w
        add_sigma(G.view(B, C, h, sh, w, sw), fused[:, :, :, None, :, None], s.aru_act, out=Z.view(B, C, h, sh, w, sw))
    else:
        add_sigma(G, resize_nearest(fused, (H, W)), s.aru_act, out=Z)


def _conv(z, p: Params, i, c, s: Settings) -> torch.Tensor:
    part = _channels(i, c)
    return F.conv2d(z, p.weight[part], _slice(p.bias, part), s.stride, s.padding, s.dilation)


def _empty_output(like: torch.Tensor, channels: int) -> torch.Tensor:
    """`[B, channels, H', W']` in the memory format of the conv output `like`: the layer's output, filled part by
    part."""
    fmt = torch.channels_last if like.dim() == 4 and _is_channels_last(like) else torch.contiguous_format
    return torch.empty((like.shape[0], channels, *like.shape[2:]), dtype=like.dtype, device=like.device,
                       memory_format=fmt)


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast runs in on this device type, None where it is off."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


# -- the Function ----------------------------------------------------------------------------------------


class LeanARC(torch.autograd.Function):
    """`Y = ARC(X0)` with the hand-written backward; `apply(x, settings, *params)`, `params` a `Params`. Running
    statistics are updated in the forward, as `F.batch_norm` does."""

    @staticmethod
    def forward(ctx, x, s: Settings, *tensors):
        p = Params(*tensors)
        n, c, size = s.n, p.weight.shape[0] // s.n, tuple(x.shape[-2:])
        pres, means, invstds = [], [], []
        E = sums = out = G = z = None
        if n > 1:
            E = _embed(x, p.embed)
            G, z = torch.empty_like(E), torch.empty_like(E)
        for i in range(n):
            if i:
                sums, _, _ = _add_terms(out[:, _channels(i - 1, c)], i - 1, p, sums, s, size, inplace=True)
                _state(E, sums, s, G, z)
            pre = _conv(x if i == 0 else z, p, i, c, s)
            if out is None:
                out = _empty_output(pre, p.weight.shape[0])
            mean, invstd = _finish_part(pre, i, c, p, s, True, out[:, _channels(i, c)])
            if s.norm:
                pres.append(pre)
                means.append(mean)
                invstds.append(invstd)
        keep_y = not s.norm and (n > 1 or s.act is not None)  # a bare plain conv needs no Y
        if s.norm and s.batch_stats:
            p = p._replace(running_mean=None, running_var=None)
        _save(ctx, Saved(x, p, out if keep_y else None, tuple(pres), tuple(means), tuple(invstds)))
        ctx.settings = s._replace(amp=_autocast_dtype(x.device.type))
        ctx.device_type = x.device.type
        return out

    @staticmethod
    def backward(ctx, dout):
        s, device_type = ctx.settings, ctx.device_type
        with autocast_off(device_type) if s.amp is None else torch.autocast(device_type, dtype=s.amp):
            dx, grads = _backward(ctx, dout)
        return dx, None, *grads


def _save(ctx, saved: Saved) -> None:
    ctx.save_for_backward(saved.x, *saved.params, saved.y, *saved.pres, *saved.means, *saved.invstds)


def _load(ctx) -> Saved:
    """The `Saved` that `_save` handed to autograd."""
    x, *rest = ctx.saved_tensors
    k = len(Params._fields)
    params, y, kept = Params(*rest[:k]), rest[k], rest[k + 1:]
    n = len(kept) // 3  # with a norm, n conv outputs, n means and n invstds; none without
    return Saved(x, params, y, tuple(kept[:n]), tuple(kept[n:2 * n]), tuple(kept[2 * n:]))


# -- the backward: `arc_backward` of reference/layer.py, block for block -----------------------------------


def _backward(ctx, dout):
    """`arc_backward` of `reference/layer.py`, block for block, after replaying the forward without its 3×3 convs:
    `∂L/∂X0` and the `Params` of gradients (None where autograd needs none)."""
    s: Settings = ctx.settings
    saved = _load(ctx)
    x, p, n = saved.x, saved.params, s.n
    c = p.weight.shape[0] // n
    need_x, need = ctx.needs_input_grad[0], Params(*ctx.needs_input_grad[2:])
    replay = _replay(saved, s)
    grads = Grads.empty(n)
    flow = Flow(dys=list(dout.split(c, dim=1)))
    G = Z = d_part = None  # buffers reused from step to step: the two states, one part's gradient
    if n > 1:
        G, Z, d_part = torch.empty_like(replay.E), torch.empty_like(replay.E), torch.empty_like(replay.ys[0])
    for i in reversed(range(n)):
        step = replay.steps[i]
        # Y_i = f_i(Z_i); Z_1 = X0, and Z_i (with G) rebuilt from E and the running sums
        if i > 0:
            _state(replay.E, step.sums, s, G, Z)
        dz = _part_backward(flow.dys[i], x if i == 0 else Z, i, saved, replay, s, grads, need_x or i > 0, d_part)
        if i == 0:
            dx = None if dz is None else dz.to(x.dtype)
            break

        # Eq. 5: Z_i = σ(G + F_i), G = σ(E + A_i); dA is dE's own buffer the first time, then G's
        d_pre, dA = _state_backward(dz.to(Z.dtype), Z, G, s, into=None if flow.dE is None else G)
        flow = flow.add(dE=dA)

        # Eq. 7: A_i = attend_space ⊕ U(attend_time)
        d_space, d_time = _attention_backward(dA, step.sums, s)
        flow = flow.add(d_attend_space=d_space, d_attend_time=d_time)

        # Eq. 6: F_i = U(fused)
        flow = flow.add(d_fused=_fusion_backward(d_pre, step.sums))

        # the running sums took part j = i-1's terms at this step: hand their gradients to Y_j
        flow.dys[i - 1] = _terms_backward(flow, replay, i - 1, p, s, grads, d_part)

    g_embed = None
    if n > 1:
        # E = X0 + We ⋆ X0
        g_embed = _embed_backward(flow.dE, x, p.embed, dx, s)
    return dx, grads.params(g_embed, need)


def _replay(saved: Saved, s: Settings) -> Replay:
    """The forward again without its 3×3 convs, by the functions it ran on the values it ran them on (so bitwise
    the same, masks included): the parts `Y_j` from the kept conv outputs (the last only for its activation's
    backward), `E`, and per step the running sums and the pooled maps of the part they took."""
    p, n = saved.params, s.n
    c = p.weight.shape[0] // n
    y = saved.y
    if s.norm:
        y = _empty_output(saved.pres[0], p.weight.shape[0])
        for i in range(n if s.act else n - 1):
            _finish_part(saved.pres[i], i, c, p, s, False, y[:, _channels(i, c)])
    ys = [] if y is None else list(y.split(c, dim=1))
    E = _embed(saved.x, p.embed) if n > 1 else None
    steps, sums = [None], None
    for j in range(n - 1):
        sums, pooled_space, pooled_time = _add_terms(ys[j], j, p, sums, s, saved.x.shape[-2:], inplace=False)
        steps.append(Step(sums, pooled_space, pooled_time))
    return Replay(ys, E, steps)


def _part_backward(dy, z, i, saved: Saved, replay: Replay, s: Settings, grads: Grads, need_dz: bool, d_part):
    """`Y_i = f_i(Z_i)`: the activation's backward (its derivative read from `Y_i`; in place when `dy` is the part
    buffer `d_part`), BatchNorm slice `i`'s, conv slice `i`'s. Returns `∂L/∂Z_i` (None unless `need_dz`), in the
    conv's precision; puts part `i`'s slices of the conv's and the norm's gradients into `grads`."""
    p = saved.params
    c = p.weight.shape[0] // s.n
    part = _channels(i, c)
    g = dy
    if s.act:
        g = sigma_backward(g, replay.ys[i], s.act, s.act_slope, into=d_part if g is d_part else None)
    if s.norm:
        g, grads.norm_weight[i], grads.norm_bias[i] = torch.ops.aten.native_batch_norm_backward(
            g, saved.pres[i], _slice(p.norm_weight, part), _slice(p.running_mean, part), _slice(p.running_var, part),
            saved.means[i], saved.invstds[i], s.batch_stats, s.eps,
            [True, p.norm_weight is not None, p.norm_bias is not None],
        )
    g_low, z_low, w_low = _low(s.amp, g, z, p.weight[part])
    dz, grads.weight[i], grads.bias[i] = torch.ops.aten.convolution_backward(
        g_low, z_low, w_low, None if p.bias is None else [c], list(s.stride), list(s.padding), list(s.dilation),
        False, [0, 0], 1, [need_dz, True, p.bias is not None],
    )
    return dz


def _state_backward(dz, Z, G, s: Settings, into=None):
    """Eq. 5, `Z_i = σ(G + F_i)`, `G = σ(E + A_i)`: `d_pre = dZ_i · σ'(G + F_i)` (read from `Z_i`; in `dz`'s
    buffer) is `∂L/∂F_i`, and `dA = d_pre · σ'(E + A_i)` (read from `G`; into `into` when given) is `∂L/∂A_i`
    and `∂L/∂E`'s term."""
    d_pre = sigma_backward(dz, Z, s.aru_act, into=dz)
    return d_pre, sigma_backward(d_pre, G, s.aru_act, into=into)


def _attention_backward(dA, sums: Sums, s: Settings):
    """Eq. 7, `A_i = attend_space ⊕ U(attend_time)`: the broadcast sum's adjoint gives `attend_space` the sum of
    `dA` over the positions and `attend_time` the sum over the frames, then `Uᵀ`. Returns both (None for a view
    that is off)."""
    B, C, H, W = dA.shape
    d_space = d_time = None
    if sums.attend_space is not None:
        d_space = dA.sum(dim=(2, 3), keepdim=True)
    if sums.attend_time is not None:
        d_time = resize_nearest_backward(dA.view(B // s.T, s.T, C, H, W).sum(dim=1), sums.attend_time.shape[-2:])
    return d_space, d_time


def _fusion_backward(d_pre, sums: Sums):
    """Eq. 6, `F_i = U(fused)`: `∂L/∂fused = Uᵀ(∂L/∂F_i)` (the gradient itself at equal size; None without fusion)."""
    return None if sums.fused is None else resize_nearest_backward(d_pre, sums.fused.shape[-2:])


def _terms_backward(flow: Flow, replay: Replay, j, p: Params, s: Settings, grads: Grads, d_part):
    """The terms part `j` added to the running sums, `Wf_j ⋆ Y_j`, `Wa_j ⋆ PoolS(U(Y_j))`, `Wa_j ⋆ PoolT(Y_j)`:
    their gradients are the sums' (carried unchanged from every later step). Puts `Wf_j`'s and `Wa_j`'s into
    `grads`; returns `∂L/∂Y_j` (the output's slice plus the terms', in the part buffer `d_part`). A term or view
    that is off has no sum, no pooled map and no gradient here."""
    step, y = replay.steps[j + 1], replay.ys[j]
    dy = d_part.copy_(flow.dys[j])
    if p.fuse is not None:
        grads.fuse[j] = _map_backward(flow.d_fused, y, p.fuse[j], s.amp, dy)
    g_space = g_time = None
    if step.pool_space is not None:
        ds = torch.zeros_like(step.pool_space)
        g_space = _map_backward(flow.d_attend_space, step.pool_space, p.attend[j], s.amp, ds)
        pool_space_backward(ds, y, step.pool_space, s.pool, replay.E.shape[-2:], dy)
    if step.pool_time is not None:
        dt = torch.zeros_like(step.pool_time)
        g_time = _map_backward(flow.d_attend_time, step.pool_time, p.attend[j], s.amp, dt)
        pool_time_backward(dt, y, step.pool_time, s.pool, s.T, dy)
    if p.attend is not None:
        grads.attend[j] = g_time if g_space is None else g_space if g_time is None else g_space + g_time
    return dy


def _embed_backward(dE, x, embed, dx, s: Settings):
    """`E = X0 + We ⋆ X0`: `dx += dE + Weᵀ ⋆ dE` (when `dx` is wanted); returns `∂L/∂We`. Without the embedding
    (`E = X0`), `dx += dE` and None."""
    if dx is not None:
        dx.add_(dE)
    return None if embed is None else _map_backward(dE, x, embed, s.amp, dx)


def _low(amp_dtype, *tensors):
    """The operands of a conv / matmul backward in the precision autocast ran the forward op in."""
    return tensors if amp_dtype is None else tuple(None if t is None else t.to(amp_dtype) for t in tensors)


def _map_backward(dout, y, weight, amp_dtype, dy=None):
    """`channel_map_backward` in the precision autocast ran the forward's product in: returns `dW`, adds into `dy`."""
    if amp_dtype is None:
        return channel_map_backward(dout, y, weight, dy)
    d_low, y_low, w_low = _low(amp_dtype, dout, y, weight)
    if dy is not None:
        dy += channel_map(w_low.t(), d_low).to(dy.dtype)
    return channel_map_backward(d_low, y_low, w_low)


def lean_arc(x: torch.Tensor, params: Params, settings: Settings) -> torch.Tensor:
    """`LeanARC.apply`: the layer's forward (see `ARCConv2d`)."""
    return LeanARC.apply(x, settings, *params)
