"""The ops of the ARC layer, each a forward/backward pair (the style of llm.c).

`op_forward(inputs…, settings…) -> (out, cache)`: the cache holds exactly what the backward needs.
`op_backward(dout, cache, dinput…) -> None`: *adds* `∂L/∂input` into the buffers it is given, so a value that
is used twice receives both contributions. Every docstring gives the forward formula and its derivative. The
caches are named tuples (`ConvCache`, `SigmaCache`, …), so the layer can read what they hold by name.

Arrays are NCHW; frames are folded into the batch (`B = N·T`, TSM layout). Float32 and float64 are kept as given.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import get_backend
from .kernels import KERNELS, conv_out_size


class ConvCache(NamedTuple):
    """What `conv2d_backward` (and `channel_map_backward`) needs: the input, the kernel and the settings."""

    x: np.ndarray
    w: np.ndarray
    stride: int
    padding: int
    dilation: int


class SigmaCache(NamedTuple):
    """What `relu_backward` needs: σ's output (`x > 0 ⇔ σ(x) > 0`) and the negative slope (0 for ReLU)."""

    y: np.ndarray
    slope: float


class PoolSpaceCache(NamedTuple):
    """What `pool_space_backward` needs: the mode, the input's shape and, for max, the flat argmax `[B, C]`."""

    mode: str
    shape: tuple[int, int, int, int]
    index: np.ndarray | None


class PoolTimeCache(NamedTuple):
    """What `pool_time_backward` needs: the mode, `T` and, for max, the argmax frame `[N, C, H, W]`."""

    mode: str
    T: int
    index: np.ndarray | None


class ResizeCache(NamedTuple):
    """What `resize_nearest_backward` needs: the source row of every output row, the source column of every
    output column."""

    rows: np.ndarray
    cols: np.ndarray


def conv2d_forward(x, w, b, stride: int, padding: int, dilation: int):
    """`y[b,o,h,w] = bias[o] + Σ_{c,kh,kw} w[o,c,kh,kw] · x[b, c, h·s−p+kh·d, w·s−p+kw·d]` (zero outside).

    `x [B, Cin, H, W]`, `w [Cout, Cin, KH, KW]`, `b [Cout]` or None → `y [B, Cout, H', W']`.
    """
    conv = KERNELS[get_backend()][0]
    y = conv(x, w, stride, padding, dilation)
    if b is not None:
        y += b[:, None, None]
    return y, ConvCache(x, w, stride, padding, dilation)


def conv2d_macs(cache: ConvCache) -> int:
    """Multiply-adds the forward ran: one per output element and tap `(c, kh, kw)`, `B·O·H'·W' · C·KH·KW`
    (the taps that fall on the zero padding included, as PyTorch's FLOP counter counts them)."""
    B, C, H, W = cache.x.shape
    O, _, KH, KW = cache.w.shape
    Ho = conv_out_size(H, KH, cache.stride, cache.padding, cache.dilation)
    Wo = conv_out_size(W, KW, cache.stride, cache.padding, cache.dilation)
    return B * O * Ho * Wo * C * KH * KW


def conv2d_backward(dy, cache, dx, dw, db) -> None:
    """`dx[b,c,ih,iw] += Σ w[o,c,kh,kw]·dy[b,o,h,w]` over the taps that read `(ih, iw)` (a transposed conv);
    `dw[o,c,kh,kw] += Σ_{b,h,w} dy[b,o,h,w] · x[b, c, h·s−p+kh·d, w·s−p+kw·d]`; `db[o] += Σ_{b,h,w} dy[b,o,h,w]`.
    """
    x, w, s, p, d = cache
    _, grad_input, grad_weight = KERNELS[get_backend()]
    dx += grad_input(dy, w, x.shape, s, p, d)
    dw += grad_weight(dy, x, w.shape[2], w.shape[3], s, p, d)
    if db is not None:
        db += dy.sum(axis=(0, 2, 3))


def channel_map_forward(A, x):
    """`(A ⋆ x)[b,o,h,w] = Σ_k A[o,k] · x[b,k,h,w]`, `A [C_to, C_from]`: a bias-free 1×1 convolution.

    Runs through the convolution kernels (one tap), so it has a NumPy and a Numba version too.
    """
    return conv2d_forward(x, A[:, :, None, None], None, 1, 0, 1)


def channel_map_backward(dy, cache, dx, dA) -> None:
    """`dx += Aᵀ ⋆ dy`, `dA[o,k] += Σ_{b,h,w} dy[b,o,h,w] · x[b,k,h,w]`."""
    conv2d_backward(dy, cache, dx, dA[:, :, None, None], None)


def relu_forward(x):
    """`σ(x) = max(x, 0)`; `σ'(x) = 1[x > 0]` (0 at 0), read back from the output: `x > 0 ⇔ σ(x) > 0`."""
    y = np.maximum(x, 0)
    return y, SigmaCache(y, 0.0)


def leaky_relu_forward(x, slope: float = 0.01):
    """`σ(x) = x` if `x > 0` else `slope·x`; `σ'(x) = 1` if `x > 0` else `slope`, read back from the output."""
    y = np.where(x > 0, x, slope * x)
    return y, SigmaCache(y, slope)


def relu_backward(dy, cache, dx) -> None:
    """`dx += dy · σ'(x)`: ReLU's and LeakyReLU's (the cache carries the slope, 0 for ReLU)."""
    y, slope = cache
    positive = y > 0
    dx += dy * positive if slope == 0 else np.where(positive, dy, slope * dy)


leaky_relu_backward = relu_backward


def pool_space_forward(x, mode: str):
    """`PoolS`: per frame and channel over the `H·W` positions, `[B, C, H, W] → [B, C, 1, 1]`.

    max: `y = x[b, c, argmax]` (the first maximal position in C order); mean: `y = Σ_{h,w} x / (H·W)`.
    """
    B, C, H, W = x.shape
    flat = x.reshape(B, C, H * W)
    if mode == "max":
        idx = flat.argmax(axis=2)
        y = np.take_along_axis(flat, idx[:, :, None], axis=2)
        return y.reshape(B, C, 1, 1), PoolSpaceCache(mode, x.shape, idx)
    return flat.mean(axis=2).reshape(B, C, 1, 1), PoolSpaceCache(mode, x.shape, None)


def pool_space_backward(dy, cache, dx) -> None:
    """max: the whole `dy[b, c]` goes to the kept argmax position; mean: `dx += dy / (H·W)` everywhere."""
    mode, (B, C, H, W), idx = cache
    if mode == "max":
        b, c = np.indices((B, C))
        dx[b, c, idx // W, idx % W] += dy[:, :, 0, 0]
    else:
        dx += dy / (H * W)


def pool_time_forward(x, T: int, mode: str):
    """`PoolT`: over the `T` frames of each clip at every position, `[N·T, C, H, W] → [N, C, H, W]`.

    max: `y[n] = x[n·T + argmax_t]` (the first maximal frame); mean: `y[n] = Σ_t x[n·T + t] / T`.
    """
    B, C, H, W = x.shape
    clips = x.reshape(B // T, T, C, H, W)
    if mode == "max":
        idx = clips.argmax(axis=1)
        return np.take_along_axis(clips, idx[:, None], axis=1)[:, 0], PoolTimeCache(mode, T, idx)
    return clips.mean(axis=1), PoolTimeCache(mode, T, None)


def pool_time_backward(dy, cache, dx) -> None:
    """max: `dy[n, c, h, w]` goes to frame `n·T + argmax_t` only; mean: `dx[n·T + t] += dy[n] / T` for every `t`."""
    mode, T, idx = cache
    if mode == "max":
        n, c, h, w = np.indices(dy.shape)
        dx[n * T + idx, c, h, w] += dy
    else:
        dx += np.repeat(dy / T, T, axis=0)


def broadcast_sum_forward(s, p, T: int):
    """`⊕` of Eq. 7: `out[n·T + t, c, h, w] = s[n·T + t, c, 0, 0] + p[n, c, h, w]` → `[N·T, C, H, W]`."""
    return s + np.repeat(p, T, axis=0), T


def broadcast_sum_backward(dout, cache, ds, dp) -> None:
    """Each input gets the sum over the axes it was broadcast along: `ds += Σ_{h,w} dout`, `dp += Σ_t dout`."""
    T = cache
    B, C, H, W = dout.shape
    ds += dout.sum(axis=(2, 3), keepdims=True)
    dp += dout.reshape(B // T, T, C, H, W).sum(axis=1)


def nearest_index(in_len: int, out_len: int) -> np.ndarray:
    """The source index of each of the `out_len` outputs of `U` along one axis: PyTorch's `mode="nearest"` rule,

        index[h] = min(⌊float32(h) ⊗ s⌋, in_len − 1),   s = float32(in_len) ⊘ float32(out_len)

    where `⊗`, `⊘` are single-precision (float32) multiply and divide, each rounded to nearest — ATen's
    `compute_scales_value<float>` and `nearest_neighbor_compute_source_index`. It is the exact `⌊h·in/out⌋` except
    where `h·in/out` is a whole number and the rounded product falls just below it: 30 → 58 reads row 14 at
    `h = 29`, not 15 (32 of the 6,400 size pairs up to 80). The identity when `in_len == out_len`.
    """
    scale = np.float32(in_len) / np.float32(out_len)
    product = np.arange(out_len, dtype=np.float32) * scale
    return np.minimum(np.floor(product).astype(np.int64), in_len - 1)


def resize_nearest_forward(y, size: tuple[int, int]):
    """`U`: `out[…, h, w] = y[…, rows[h], cols[w]]` from `(H', W')` to `size = (H, W)`, with `rows =
    nearest_index(H', H)`, `cols = nearest_index(W', W)` (PyTorch's float32 rule); the identity at equal size."""
    Hs, Ws = y.shape[-2:]
    H, W = size
    if (Hs, Ws) == (H, W):
        return y, None
    rows, cols = nearest_index(Hs, H), nearest_index(Ws, W)
    return y[:, :, rows[:, None], cols[None, :]], ResizeCache(rows, cols)


def resize_nearest_backward(dout, cache, dy) -> None:
    """The adjoint `Uᵀ`: every source pixel receives the sum of the gradients of all its copies."""
    if cache is None:
        dy += dout
        return
    rows, cols = cache
    np.add.at(dy, (slice(None), slice(None), rows[:, None], cols[None, :]), dout)
