"""The ops of the ARC layer (docs/layer.md), named as in `reference/ops.py`: the 1×1 `channel_map`, the nearest
resize `U` (`resize_nearest`), the pools `PoolS` (`pool_space`) and `PoolT` (`pool_time`), and σ.

The forward ops are differentiable: `ARCConv2d`'s autograd definition (`layer.py`) is written with them. Each
`*_backward` is the op's derivative as the lean layer's hand-written backward (`lean.py`) uses it: it takes
`∂L/∂out` and either returns `∂L/∂input` or, like the reference's, *adds* it into a buffer it is given.
Every op keeps its input's dtype and memory format, and the index rule of `U` is PyTorch's (`nearest_index`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

LEAKY_SLOPE = 0.01  # σ = LeakyReLU(0.01) for aru_act="leaky_relu"


def autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast turned off on `device_type` inside the block (nothing to turn off where autocast does not exist):
    for what must run in its input's dtype — `U`, MotionSqueeze's correlation, the lean backward of a forward that
    ran without autocast."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def accumulate(total: torch.Tensor | None, term: torch.Tensor) -> torch.Tensor:
    """A running sum: `term` the first time (None so far), then added into `total` in place."""
    return term if total is None else total.add_(term)


# -- 1×1 channel map -------------------------------------------------------------------------------------


def _channels_last(y: torch.Tensor) -> bool:
    """Whether `y [B, C, H, W]` holds its channels innermost (a channel slice of such a tensor too), so that it is
    the matrix `[B·H·W, C]` as it lies, rows `y.stride(3)` apart."""
    B, C, H, W = y.shape
    return y.stride(1) == 1 and y.stride(3) >= C and y.stride(2) == W * y.stride(3) and y.stride(0) == H * y.stride(2)


def _rows(y: torch.Tensor) -> torch.Tensor:
    """A channels-last (or 1×1) `[B, C, H, W]` as the matrix `[B·H·W, C]`, without copying."""
    return y.reshape(y.shape[0], -1) if y.shape[2] * y.shape[3] == 1 else y.permute(0, 2, 3, 1).reshape(-1, y.shape[1])


def _as_matrix(y: torch.Tensor) -> bool:
    """Whether `⋆` on `y` is one product on `[B·H·W, C]` (channels-last, or 1×1) rather than one per sample."""
    return y.shape[2] * y.shape[3] == 1 or _channels_last(y)


def channel_map(weight: torch.Tensor, y: torch.Tensor, total: torch.Tensor | None = None,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """`(W ⋆ Y)[b, o, h, w] = Σ_k W[o, k] Y[b, k, h, w]`: a bias-free 1×1 map, `W` is `[C_to, C_from]`;
    with `total`, `total + W ⋆ Y` in the same matrix product (β = 1), into `out` when given (may be `total`).

    One product on `Y` as it lies: `[B·H·W, C] @ Wᵀ` for channels-last and 1×1 maps, `W @ [C, H·W]` per sample
    for NCHW (both faster on the CPU than a 1×1 convolution, docs/benchmarks.md)."""
    B, C, H, W = y.shape
    if _as_matrix(y) and (total is None or _as_matrix(total)):
        rows = _rows(y)
        if total is None:
            res = rows @ weight.t()
        else:
            res = torch.addmm(_rows(total), rows, weight.t(), out=None if out is None else _rows(out))
        return res.view(B, -1, 1, 1) if H * W == 1 else res.view(B, H, W, -1).permute(0, 3, 1, 2)
    wb = weight.expand(B, *weight.shape)
    if total is None:
        return torch.bmm(wb, y.reshape(B, C, H * W)).view(B, -1, H, W)
    res = torch.baddbmm(total.reshape(B, -1, H * W), wb, y.reshape(B, C, H * W),
                        out=None if out is None else out.view(B, -1, H * W))
    return res.view(B, -1, H, W)


def channel_map_backward(dout: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
                         dy: torch.Tensor | None = None) -> torch.Tensor:
    """`dW[o, k] = Σ_{b,h,w} dout[b, o, h, w] · Y[b, k, h, w]` (returned; for NCHW the per-sample products summed
    by `addbmm`, no `[B, C_to, C_from]` temporary) and `dy += Wᵀ ⋆ dout` (when `dy` is given)."""
    B, C, H, W = y.shape
    if dy is not None:
        channel_map(weight.t(), dout, total=dy, out=dy)
    if _as_matrix(y) and _as_matrix(dout):
        return _rows(dout).t() @ _rows(y)
    d3 = dout.reshape(B, -1, H * W)
    return torch.addbmm(d3.new_zeros(d3.shape[1], C), d3, y.reshape(B, C, H * W).transpose(1, 2), beta=0)


# -- U: nearest resize -----------------------------------------------------------------------------------


def nearest_index(out_len: int, in_len: int, device=None) -> torch.Tensor:
    """`U`'s source index along one axis, PyTorch's rule for `F.interpolate(mode="nearest", size=…)`:
    `min(⌊float32(h) · float32(in/out)⌋, in − 1)`, in single precision as ATen computes it (CPU and CUDA).

    That is `⌊h·in/out⌋` for most sizes but not all: out = 58, in = 30 maps h = 29 to 14, not 15. Computed on
    `device` from `arange` (no host list, no synchronisation); the identity at equal length."""
    if out_len == in_len:
        return torch.arange(out_len, device=device)
    h = torch.arange(out_len, device=device, dtype=torch.float32)
    return h.mul_(in_len / out_len).floor_().clamp_(max=in_len - 1).long()


def resize_nearest(y: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`U`: nearest resize of `y [B, C, H', W']` to `size`, `U(y)[…, h, w] = y[…, r_H(h), r_W(w)]` with `r` =
    `nearest_index`; the identity at equal size.

    `F.interpolate(mode="nearest")` itself, with autocast off around it: CUDA autocast runs it in float32, which
    would turn a strided layer's states float32; `U` keeps the input's dtype."""
    if tuple(y.shape[-2:]) == tuple(size):
        return y
    with autocast_off(y.device.type):
        return F.interpolate(y, size=size, mode="nearest")


def resize_nearest_backward(dout: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The adjoint `Uᵀ` back to `size = (H', W')`: every source pixel receives the sum of the gradients of its
    copies (none when `U` dropped it) — PyTorch's own backward of the nearest resize (a gather, deterministic)."""
    if tuple(dout.shape[-2:]) == tuple(size):
        return dout
    return torch.ops.aten.upsample_nearest2d_backward(dout, list(dout.shape[-2:]), [*dout.shape[:-2], *size])


@torch.compiler.assume_constant_result
def repeats_evenly(out_len: int, in_len: int) -> bool:
    """Whether `U` from `in_len` to `out_len` copies every position `out_len / in_len` times, as a broadcast
    would: an integer factor *and* PyTorch's float32 index agreeing with `h // factor` (it does not for 2 → 82,
    which copies 42 and 40 times). Decided on the host, a constant to `torch.compile`."""
    out_len, in_len = int(out_len), int(in_len)  # sizes are tensors while torch.jit or torch.onnx traces
    if out_len % in_len:
        return False
    index = np.minimum(np.floor(np.arange(out_len, dtype=np.float32) * np.float32(in_len / out_len)), in_len - 1)
    return bool((index == np.arange(out_len) // (out_len // in_len)).all())


def repeat_counts(out_len: int, in_len: int, device=None) -> torch.Tensor:
    """How many copies `U` makes of each of `in_len` positions when resizing to `out_len` (int64 `[in_len]`)."""
    source = nearest_index(out_len, in_len, device)
    return (source[:, None] == torch.arange(in_len, device=device)).sum(0)


# -- pools -----------------------------------------------------------------------------------------------


def _space_weights(out_size, size, like: torch.Tensor) -> torch.Tensor | None:
    """`PoolS(U(y))` for mean as weights on `y`: copy counts / (H·W), `[h, w]`; None when uniform (integer factors)."""
    (h, w), (H, W) = out_size, size
    if repeats_evenly(H, h) and repeats_evenly(W, w):
        return None
    counts = repeat_counts(H, h, like.device)[:, None] * repeat_counts(W, w, like.device)[None, :]
    return counts.to(like.dtype) / (H * W)


def pool_space(y: torch.Tensor, pool: str, size: tuple[int, int]) -> torch.Tensor:
    """`PoolS(U(y))` → `[N·T, c, 1, 1]`, without materialising `U(y)`.

    When `y` is no larger than `size`, max over `U(y)` is max over `y` (every pixel is copied at least once),
    and mean over `U(y)` weights each pixel by its copy count — uniform weights (a plain mean) when the sizes
    are integer multiples. A part larger than the state (a padded 1×1 conv) is resized first: `U` drops pixels.
    """
    (H, W), (h, w) = size, y.shape[-2:]
    if h > H or w > W:
        y = resize_nearest(y, size)
    if pool == "max":
        return y.amax(dim=(2, 3), keepdim=True)
    weights = _space_weights(y.shape[-2:], size, y)
    if weights is None:
        return y.mean(dim=(2, 3), keepdim=True)
    return (y * weights).sum(dim=(2, 3), keepdim=True)


def pool_space_backward(ds: torch.Tensor, y: torch.Tensor, s: torch.Tensor, pool: str, size, dy: torch.Tensor) -> None:
    """`dy += ∂PoolS(U(y))/∂y · ds`, `ds` `[N·T, c, 1, 1]`, `s` the forward's pooled value.

    max: `ds` is shared equally by the maximal elements (autograd's rule for `amax`); mean: `ds / (H'·W')` to
    every pixel, or `ds` times its copy weight; a part larger than the state goes back through `Uᵀ`."""
    (H, W), (h, w) = size, y.shape[-2:]
    if h > H or w > W:
        up = resize_nearest(y, size)
        dup = torch.zeros_like(up)
        pool_space_backward(ds, up, s, pool, size, dup)
        dy += resize_nearest_backward(dup, (h, w))
    elif pool == "max":
        mask = torch.eq(y, s, out=torch.empty_like(y))
        dy.addcmul_(mask, ds / mask.sum(dim=(2, 3), keepdim=True))
    else:
        weights = _space_weights((h, w), size, y)
        if weights is None:
            dy += ds / (h * w)
        else:
            dy.addcmul_(ds, weights)


def pool_time(y: torch.Tensor, pool: str, num_segments: int) -> torch.Tensor:
    """`PoolT(y)`: over the `T` frames of each clip at every position, `[N·T, c, h, w]` → `[N, c, h, w]`.

    `U` is spatial, so `PoolT(U(y)) = U(PoolT(y))` for both max and mean.
    """
    clips = y.view(-1, num_segments, *y.shape[1:])
    return clips.amax(dim=1) if pool == "max" else clips.mean(dim=1)


def pool_time_backward(dt: torch.Tensor, y: torch.Tensor, t: torch.Tensor, pool: str, num_segments: int,
                       dy: torch.Tensor) -> None:
    """`dy += ∂PoolT(y)/∂y · dt`, `dt` `[N, c, h, w]`: max shares `dt` equally among the maximal frames (autograd's
    `amax` rule), mean gives `dt / T` to every frame."""
    T = num_segments
    clips, dclips = y.view(-1, T, *y.shape[1:]), dy.view(-1, T, *dy.shape[1:])
    if pool == "max":
        mask = torch.eq(clips, t[:, None], out=torch.empty_like(clips))
        dclips.addcmul_(mask, (dt / mask.sum(dim=1))[:, None])
    else:
        dclips += (dt / T)[:, None]


# -- σ ---------------------------------------------------------------------------------------------------


def sigma(x: torch.Tensor, act: str, inplace: bool = False) -> torch.Tensor:
    """`σ(x)`: ReLU (`act="relu"`) or LeakyReLU with slope 0.01 (`"leaky_relu"`)."""
    return F.relu(x, inplace) if act == "relu" else F.leaky_relu(x, LEAKY_SLOPE, inplace)


def add_sigma(a: torch.Tensor, b: torch.Tensor, act: str, out: torch.Tensor) -> torch.Tensor:
    """`out = σ(a + b)` (broadcasting); one pass where PyTorch has the fused kernel (eager ReLU on the CPU in
    float32/64, which has no compiled or meta version), else add then σ in place."""
    if (act == "relu" and out.device.type == "cpu" and out.dtype in (torch.float32, torch.float64)
            and a.dtype == b.dtype == out.dtype and not torch.compiler.is_compiling()):
        return torch.ops.aten._add_relu.out(a, b, out=out)
    return sigma(torch.add(a, b, out=out), act, inplace=True)


def sigma_backward(dout: torch.Tensor, out: torch.Tensor, act: str, slope: float | None = None,
                   into: torch.Tensor | None = None) -> torch.Tensor:
    """`dx = dout · σ'(x)`, read from the output `σ(x)` (`x > 0 ⇔ σ(x) > 0`; the derivative at 0 is 0 for ReLU),
    written into `into` when given (it may be `dout` or `out` itself). `slope` overrides LeakyReLU's 0.01 (an
    absorbed `nn.LeakyReLU`)."""
    if act == "relu":
        if into is None:
            return torch.ops.aten.threshold_backward(dout, out, 0)
        return torch.ops.aten.threshold_backward.grad_input(dout, out, 0, grad_input=into)
    slope = LEAKY_SLOPE if slope is None else slope
    if into is None:
        return torch.ops.aten.leaky_relu_backward(dout, out, slope, True)
    return torch.ops.aten.leaky_relu_backward.grad_input(dout, out, slope, True, grad_input=into)
