"""The memory-lean ARC layer: the function of `ARCConv2d` (docs/layer.md, Eqs. 5–7) as one `torch.autograd.Function`
whose backward is written by hand, op for op as `reference/layer.py`'s `arc_backward` (same op names, `arc.nn.ops`).

What it keeps for the backward is what a plain conv → BatchNorm → activation keeps: the input `X0`, the parts'
conv outputs (what BatchNorm's backward needs; without a norm, the layer's output) and BatchNorm's per-channel
statistics. Everything else — the parts `Y_j`, their pooled maps, the embedded map `E`, the running sums and the
states `Z_i`, `σ(E + A_i)` — is rebuilt in the backward by the same functions the forward ran, on the same
values, so the rebuilt tensors are bitwise the forward's (masks included) and only the 3×3 convs are not redone.
The price is one more pass of the 1×1 maps (`We`, the `Wf_j`) in the backward: docs/overhead.md, docs/benchmarks.md.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from arc.nn.ops import (
    add_sigma,
    channel_map,
    channel_map_backward,
    pool_space,
    pool_space_backward,
    pool_time,
    pool_time_backward,
    repeats_evenly,
    resize_nearest,
    resize_nearest_backward,
    sigma_backward,
)


class Settings(NamedTuple):
    """What the layer is, besides its tensors: recursion, conv geometry, σ, and the forward path's norm / act."""

    n: int
    T: int
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    pool: str
    aru_act: str
    act: str | None  # "relu", "leaky_relu" or None: the activation that ends f_i
    act_slope: float
    norm: bool  # a BatchNorm in f_i
    batch_stats: bool  # it normalises with the batch's statistics (training, or no running statistics)
    momentum: float  # its running-average factor for this forward
    eps: float


# -- the pieces of the forward, shared by the forward and the backward's replay ----------------------------


def _slice(t: torch.Tensor | None, part: slice) -> torch.Tensor | None:
    return None if t is None else t[part]


def _finish_part(pre, i, c, norm_weight, norm_bias, running_mean, running_var, s: Settings, update: bool,
                 out: torch.Tensor):
    """`Y_i` from the conv output `pre`, written into `out` (the part's channels of the layer's output): BatchNorm
    slice `i` (its running statistics updated when `update`), then the activation. Returns `(mean, invstd)` of the
    batch (empty without batch statistics)."""
    part = slice(i * c, (i + 1) * c)
    y, mean, invstd = pre, None, None
    if s.norm:
        keep = update or not s.batch_stats  # the replay must not count a batch twice
        y, mean, invstd = torch.native_batch_norm(
            pre, _slice(norm_weight, part), _slice(norm_bias, part),
            _slice(running_mean, part) if keep else None, _slice(running_var, part) if keep else None,
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


def _embed(x: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """`E = X0 + We ⋆ X0` (Eq. 5), computed once: the sum inside the matrix product (β = 1), except under autocast,
    which would round `X0` to its lower precision there."""
    if _autocast_state(x.device.type)[0]:
        return x + channel_map(embed, x)
    return channel_map(embed, x, total=x)


def _add_terms(y, j, fuse, attend, sums, s: Settings, size, inplace: bool):
    """Part `j`'s terms into the running sums `(fused, attend_space, attend_time)` of Eqs. 6–7, at the part's
    resolution, each inside its matrix product (β = 1); returns the new sums and the two pooled maps (the
    inputs of `Wa_j`)."""
    pooled = (y, pool_space(y, s.pool, size), pool_time(y, s.pool, s.T))
    maps = (fuse[j], attend[j], attend[j])
    if sums is None:
        sums = tuple(channel_map(m, p) for m, p in zip(maps, pooled, strict=True))
    elif _autocast_state(y.device.type)[0]:  # autocast leaves out= products alone: add the term after
        sums = tuple(total.add_(channel_map(m, p)) if inplace else total + channel_map(m, p)
                     for m, p, total in zip(maps, pooled, sums, strict=True))
    else:
        sums = tuple(channel_map(m, p, total=total, out=total if inplace else None)
                     for m, p, total in zip(maps, pooled, sums, strict=True))
    return sums, pooled[1], pooled[2]


def _state(E: torch.Tensor, sums, s: Settings, G: torch.Tensor, Z: torch.Tensor) -> None:
    """Eq. 5 into the buffers `G`, `Z` (shaped like `E`): `G = σ(E + A_i)` with `A_i = attend_space ⊕
    U(attend_time)` (Eq. 7), and `Z = σ(G + U(fused))`.

    Three passes over the state, into buffers reused from step to step (a new full-size tensor costs more than an
    add on the CPU: fresh pages); the attention sums, and `U(fused)` for integer factors, are broadcast, never
    materialised at full size."""
    fused, attend_space, attend_time = sums
    B, C, H, W = E.shape
    N, T = B // s.T, s.T
    G5 = G.view(N, T, C, H, W)
    torch.add(E.view(N, T, C, H, W), resize_nearest(attend_time, (H, W))[:, None], out=G5)
    add_sigma(G5, attend_space.view(N, T, C, 1, 1), s.aru_act, out=G5)
    h, w = fused.shape[-2:]
    if (h, w) == (H, W):
        add_sigma(G, fused, s.aru_act, out=Z)
    elif repeats_evenly(H, h) and repeats_evenly(W, w):  # a broadcast, 2–3× faster than materialising U(fused)
        sh, sw = H // h, W // w
        add_sigma(G.view(B, C, h, sh, w, sw), fused[:, :, :, None, :, None], s.aru_act, out=Z.view(B, C, h, sh, w, sw))
    else:
        add_sigma(G, resize_nearest(fused, (H, W)), s.aru_act, out=Z)


def _conv(z, weight, bias, i, c, s: Settings) -> torch.Tensor:
    part = slice(i * c, (i + 1) * c)
    return F.conv2d(z, weight[part], _slice(bias, part), s.stride, s.padding, s.dilation)


def _empty_output(like: torch.Tensor, channels: int) -> torch.Tensor:
    """`[B, channels, H', W']` in the memory format of the conv output `like`: the layer's output, filled part by
    part."""
    fmt = torch.channels_last if like.dim() == 4 and _is_channels_last(like) else torch.contiguous_format
    return torch.empty((like.shape[0], channels, *like.shape[2:]), dtype=like.dtype, device=like.device,
                       memory_format=fmt)


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


# -- the Function ----------------------------------------------------------------------------------------


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype | None]:
    """Whether autocast runs on this device type, and its dtype."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return True, torch.get_autocast_dtype(device_type)
    return False, None


class LeanARC(torch.autograd.Function):
    """`Y = ARC(X0)` with the hand-written backward; `apply(x, weight, bias, embed, fuse, attend, norm_weight,
    norm_bias, running_mean, running_var, settings)`. Running statistics are updated in the forward, as
    `F.batch_norm` does."""

    @staticmethod
    def forward(ctx, x, weight, bias, embed, fuse, attend, norm_weight, norm_bias, running_mean, running_var,
                s: Settings):
        n, c, size = s.n, weight.shape[0] // s.n, tuple(x.shape[-2:])
        kept, stats = [], []
        E = sums = out = G = z = None
        if n > 1:
            E = _embed(x, embed)
            G, z = torch.empty_like(E), torch.empty_like(E)
        for i in range(n):
            if i:
                sums, _, _ = _add_terms(out[:, (i - 1) * c: i * c], i - 1, fuse, attend, sums, s, size, inplace=True)
                _state(E, sums, s, G, z)
            pre = _conv(x if i == 0 else z, weight, bias, i, c, s)
            if out is None:
                out = _empty_output(pre, weight.shape[0])
            stats += _finish_part(pre, i, c, norm_weight, norm_bias, running_mean, running_var, s, True,
                                  out[:, i * c: (i + 1) * c])
            if s.norm:
                kept.append(pre)
        if not s.norm:  # Y is needed for the maps' gradients and the activation's; a bare plain conv needs none
            kept, stats = ([out] if n > 1 or s.act else []), []
        eval_stats = s.norm and not s.batch_stats
        ctx.save_for_backward(x, weight, bias, embed, fuse, attend, norm_weight, norm_bias,
                              running_mean if eval_stats else None, running_var if eval_stats else None, *kept, *stats)
        ctx.settings = s
        ctx.autocast = (x.device.type, *_autocast_state(x.device.type))
        return out

    @staticmethod
    def backward(ctx, dout):
        device_type, amp, amp_dtype = ctx.autocast
        if torch.amp.is_autocast_available(device_type):
            with torch.autocast(device_type, dtype=amp_dtype, enabled=amp):
                grads = _backward(ctx, dout, amp_dtype)
        else:
            grads = _backward(ctx, dout, amp_dtype)
        return (*grads, None, None, None)


def _low(amp_dtype, *tensors):
    """The operands of a conv / matmul backward in the precision autocast ran the forward op in."""
    return tensors if amp_dtype is None else tuple(None if t is None else t.to(amp_dtype) for t in tensors)


def _backward(ctx, dout, amp_dtype):
    """`arc_backward` of `reference/layer.py`, block for block, after replaying the forward without its 3×3 convs."""
    s: Settings = ctx.settings
    x, weight, bias, embed, fuse, attend, norm_weight, norm_bias, running_mean, running_var, *rest = ctx.saved_tensors
    n, T = s.n, s.T
    c = weight.shape[0] // n
    B, Cin, H, W = x.shape
    size = (H, W)
    need = ctx.needs_input_grad

    # replay: the parts Y_j, their pooled maps and the running sums of every step (forward order)
    if s.norm:
        pres, stats = rest[:n], rest[n:]
        y_all = _empty_output(pres[0], weight.shape[0])
        for i in range(n if s.act else n - 1):
            _finish_part(pres[i], i, c, norm_weight, norm_bias, running_mean, running_var, s, False,
                         y_all[:, i * c: (i + 1) * c])
    else:
        pres, stats, y_all = None, None, (rest[0] if rest else None)  # None: a bare plain conv
    ys = [] if y_all is None else [y_all[:, i * c: (i + 1) * c] for i in range(n)]
    E = _embed(x, embed) if n > 1 else None
    sums, pooled = [None], [None]
    for j in range(n - 1):
        step_sums, pooled_space, pooled_time = _add_terms(ys[j], j, fuse, attend, sums[-1], s, size, inplace=False)
        sums.append(step_sums)
        pooled.append((pooled_space, pooled_time))

    g_weight, g_bias, g_norm_weight, g_norm_bias = [None] * n, [None] * n, [None] * n, [None] * n
    g_fuse, g_attend = [None] * (n - 1), [None] * (n - 1)
    g_ys = list(dout.split(c, dim=1))
    dx = dE = d_fused = d_attend_space = d_attend_time = None
    G = Z = d_part = None  # buffers reused from step to step: two states, one part's gradient
    if n > 1:
        G, Z, d_part = torch.empty_like(E), torch.empty_like(E), torch.empty_like(ys[0])
    for i in reversed(range(n)):
        # Y_i = f_i(Z_i): activation, BatchNorm slice i, conv slice i; Z_1 = X0
        g = g_ys[i]
        if s.act:
            g = sigma_backward(g, ys[i], s.act, s.act_slope, into=d_part if g is d_part else None)
        part = slice(i * c, (i + 1) * c)
        if s.norm:
            batch_mean, batch_invstd = stats[2 * i], stats[2 * i + 1]
            g, g_norm_weight[i], g_norm_bias[i] = torch.ops.aten.native_batch_norm_backward(
                g, pres[i], _slice(norm_weight, part), _slice(running_mean, part), _slice(running_var, part),
                batch_mean, batch_invstd, s.batch_stats, s.eps,
                [True, norm_weight is not None and need[6], norm_bias is not None and need[7]],
            )
        if i > 0:
            _state(E, sums[i], s, G, Z)
        z = x if i == 0 else Z
        g_low, z_low, w_low = _low(amp_dtype, g, z, weight[part])
        dz, g_weight[i], g_bias[i] = torch.ops.aten.convolution_backward(
            g_low, z_low, w_low, None if bias is None else [c], list(s.stride), list(s.padding),
            list(s.dilation), False, [0, 0], 1, [i > 0 or need[0], True, bias is not None],
        )
        if i == 0:
            dx = None if dz is None else dz.to(x.dtype)
            break
        dz = dz.to(z.dtype)

        # Eq. 5: Z_i = σ(G + U(fused)), G = σ(E + A_i); dA goes into dE the first time, then through G's buffer
        d_pre = sigma_backward(dz, Z, s.aru_act, into=dz)
        dA = sigma_backward(d_pre, G, s.aru_act, into=G if dE is not None else torch.empty_like(G))

        # Eq. 7: A_i = attend_space ⊕ U(attend_time)
        fused, attend_space, attend_time = sums[i]
        h, w = fused.shape[-2:]
        d_space = dA.sum(dim=(2, 3), keepdim=True)
        d_time = resize_nearest_backward(dA.view(B // T, T, Cin, H, W).sum(dim=1), (h, w))
        d_attend_space = d_space if d_attend_space is None else d_attend_space.add_(d_space)
        d_attend_time = d_time if d_attend_time is None else d_attend_time.add_(d_time)
        dE = dA if dE is None else dE.add_(dA)

        # Eq. 6: F_i = U(fused)
        d_f = resize_nearest_backward(d_pre, (h, w))
        d_fused = d_f if d_fused is None else d_fused.add_(d_f)

        # the running sums took part j = i-1's terms at this step: hand their gradients to Y_j
        j = i - 1
        pooled_space, pooled_time = pooled[i]
        d_y = d_part.copy_(g_ys[j])
        g_fuse[j] = _map_backward(d_fused, ys[j], fuse[j], amp_dtype, d_y)
        d_s, d_t = torch.zeros_like(pooled_space), torch.zeros_like(pooled_time)
        g_attend[j] = (_map_backward(d_attend_space, pooled_space, attend[j], amp_dtype, d_s)
                       + _map_backward(d_attend_time, pooled_time, attend[j], amp_dtype, d_t))
        pool_space_backward(d_s, ys[j], pooled_space, s.pool, size, d_y)
        pool_time_backward(d_t, ys[j], pooled_time, s.pool, T, d_y)
        g_ys[j] = d_y

    g_embed = None
    if n > 1:
        # E = X0 + We ⋆ X0
        if need[0]:
            dx.add_(dE)
        g_embed = _map_backward(dE, x, embed, amp_dtype, dx if need[0] else None)
    return (
        dx,
        torch.cat(g_weight) if need[1] else None,
        torch.cat(g_bias) if bias is not None and need[2] else None,
        g_embed if n > 1 and need[3] else None,
        torch.stack(g_fuse) if n > 1 and need[4] else None,
        torch.stack(g_attend) if n > 1 and need[5] else None,
        torch.cat(g_norm_weight) if s.norm and norm_weight is not None and need[6] else None,
        torch.cat(g_norm_bias) if s.norm and norm_bias is not None and need[7] else None,
    )


def _map_backward(dout, y, weight, amp_dtype, dy=None):
    """`channel_map_backward` in the precision autocast ran the forward's product in: returns `dW`, adds into `dy`."""
    if amp_dtype is None:
        return channel_map_backward(dout, y, weight, dy)
    d_low, y_low, w_low = _low(amp_dtype, dout, y, weight)
    if dy is not None:
        dy += channel_map(w_low.t(), d_low).to(dy.dtype)
    return channel_map_backward(d_low, y_low, w_low)


def lean_arc(x, weight, bias, embed, fuse, attend, norm_weight, norm_bias, running_mean, running_var,
             settings: Settings) -> torch.Tensor:
    """`LeanARC.apply`: the layer's forward (see `ARCConv2d`)."""
    return LeanARC.apply(x, weight, bias, embed, fuse, attend, norm_weight, norm_bias, running_mean, running_var,
                         settings)
