"""The convolution's hot loops, each written twice.

The plain-NumPy function is the specification: one `einsum` per kernel tap `(kh, kw)` over a strided view of
the zero-padded input. Its `@numba.njit` twin computes the same sums with explicit loops over channels-last
copies (innermost loop contiguous over channels, outermost a `prange` over threads) and is tested against it.

Layout: `x [B, C, H, W]`, `w [O, C, KH, KW]`, `y [B, O, H', W']` with
`H' = ⌊(H + 2p − d(KH − 1) − 1) / s⌋ + 1`. Input pixel of output `(h, w)` at tap `(kh, kw)`:
`(h·s − p + kh·d, w·s − p + kw·d)`, zero outside the image.
"""

from __future__ import annotations

import numba
import numpy as np


def conv_out_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _tap(xp: np.ndarray, kh: int, kw: int, Ho: int, Wo: int, s: int, d: int) -> np.ndarray:
    """The `[B, C, H', W']` view of the padded input that kernel tap `(kh, kw)` multiplies."""
    return xp[:, :, kh * d : kh * d + s * (Ho - 1) + 1 : s, kw * d : kw * d + s * (Wo - 1) + 1 : s]


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


# -- plain NumPy: the specification -------------------------------------------------------------------------


def conv2d_numpy(x: np.ndarray, w: np.ndarray, s: int, p: int, d: int) -> np.ndarray:
    """`y[b, o, h, w] = Σ_{kh, kw} Σ_c w[o, c, kh, kw] · xpad[b, c, h·s + kh·d, w·s + kw·d]`."""
    B, _, H, W = x.shape
    O, _, KH, KW = w.shape
    Ho, Wo = conv_out_size(H, KH, s, p, d), conv_out_size(W, KW, s, p, d)
    xp = _pad(x, p)
    y = np.zeros((B, O, Ho, Wo), dtype=x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            y += np.einsum("oc,bchw->bohw", w[:, :, kh, kw], _tap(xp, kh, kw, Ho, Wo, s, d))
    return y


def conv2d_grad_input_numpy(dy: np.ndarray, w: np.ndarray, x_shape, s: int, p: int, d: int) -> np.ndarray:
    """`dx = ∂L/∂x`: every tap sends `Σ_o w[o, c, kh, kw] · dy[b, o, h, w]` back to the pixel it read."""
    _, _, H, W = x_shape
    _, _, KH, KW = w.shape
    Ho, Wo = dy.shape[2:]
    dxp = np.zeros((x_shape[0], x_shape[1], H + 2 * p, W + 2 * p), dtype=dy.dtype)
    for kh in range(KH):
        for kw in range(KW):
            _tap(dxp, kh, kw, Ho, Wo, s, d)[...] += np.einsum("oc,bohw->bchw", w[:, :, kh, kw], dy)
    return dxp[:, :, p : p + H, p : p + W]


def conv2d_grad_weight_numpy(dy: np.ndarray, x: np.ndarray, KH: int, KW: int, s: int, p: int, d: int) -> np.ndarray:
    """`dw[o, c, kh, kw] = Σ_{b, h, w} dy[b, o, h, w] · xpad[b, c, h·s + kh·d, w·s + kw·d]`."""
    O, C = dy.shape[1], x.shape[1]
    Ho, Wo = dy.shape[2:]
    xp = _pad(x, p)
    dw = np.zeros((O, C, KH, KW), dtype=dy.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dw[:, :, kh, kw] = np.einsum("bohw,bchw->oc", dy, _tap(xp, kh, kw, Ho, Wo, s, d))
    return dw


# -- Numba twins: the same sums as explicit loops -----------------------------------------------------------

_JIT = {"parallel": True, "cache": True, "nogil": True}
_FAST = _JIT | {"fastmath": {"reassoc", "contract"}}


@numba.njit(**_FAST)
def _conv2d_kernel(xp, wt, y, s, d):  # pragma: no cover - compiled
    """`y[b, o, h, w] = Σ_{kh, kw} Σ_c xp[b, h·s + kh·d, w·s + kw·d, c] · wt[o, kh, kw, c]`.

    `xp`: the zero-padded input, channels last; `wt` `[O, KH, KW, C]` with O a multiple of 4: four output
    channels share each load of `xp`, and the sum over `c` runs in SIMD lanes (hence `fastmath` reassociation).
    """
    B, Ho, Wo = y.shape[0], y.shape[2], y.shape[3]
    O, KH, KW, C = wt.shape
    for bh in numba.prange(B * Ho):
        b, h = bh // Ho, bh % Ho
        for ow in range(Wo):
            for o in range(0, O, 4):
                a0 = a1 = a2 = a3 = y[b, o, h, ow]  # zero: y arrives zero-filled
                for kh in range(KH):
                    ih = h * s + kh * d
                    for kw in range(KW):
                        iw = ow * s + kw * d
                        for c in range(C):
                            v = xp[b, ih, iw, c]
                            a0 += v * wt[o, kh, kw, c]
                            a1 += v * wt[o + 1, kh, kw, c]
                            a2 += v * wt[o + 2, kh, kw, c]
                            a3 += v * wt[o + 3, kh, kw, c]
                y[b, o, h, ow] = a0
                y[b, o + 1, h, ow] = a1
                y[b, o + 2, h, ow] = a2
                y[b, o + 3, h, ow] = a3


@numba.njit(**_JIT)
def _conv2d_grad_input_kernel(dyt, wt, dx, s, p, d):  # pragma: no cover - compiled
    """`dx[b, c, ih, iw] = Σ_{taps that read (ih, iw)} Σ_o dyt[b, h, w, o] · wt[kh, kw, o, c]`.

    `dyt`: `dy` channels last; `wt` `[KH, KW, O, C]`, O a multiple of 4 (four output channels per pass).
    """
    B, Ho, Wo, O = dyt.shape
    KH, KW, _, C = wt.shape
    H, W = dx.shape[2], dx.shape[3]
    for bh in numba.prange(B * H):
        b, ih = bh // H, bh % H
        acc = np.empty(C, dtype=dx.dtype)
        for iw in range(W):
            acc[:] = 0
            for kh in range(KH):
                hs = ih + p - kh * d
                if hs < 0 or hs % s != 0 or hs // s >= Ho:
                    continue
                h = hs // s
                for kw in range(KW):
                    ws = iw + p - kw * d
                    if ws < 0 or ws % s != 0 or ws // s >= Wo:
                        continue
                    ow = ws // s
                    for o in range(0, O, 4):
                        g0, g1, g2, g3 = dyt[b, h, ow, o : o + 4]
                        for c in range(C):
                            acc[c] += (g0 * wt[kh, kw, o, c] + g1 * wt[kh, kw, o + 1, c]
                                       + g2 * wt[kh, kw, o + 2, c] + g3 * wt[kh, kw, o + 3, c])
            for c in range(C):
                dx[b, c, ih, iw] = acc[c]


@numba.njit(**_JIT)
def _conv2d_grad_weight_kernel(dy, xp, dwt, s, d):  # pragma: no cover - compiled
    """`dwt[o, kh, kw, c] = Σ_{b, h, w} dy[b, o, h, w] · xp[b, h·s + kh·d, w·s + kw·d, c]`.

    `xp`: the zero-padded input, channels last. One output channel per thread; four output columns per pass.
    """
    B, O, Ho, Wo = dy.shape
    C = xp.shape[3]
    KH, KW = dwt.shape[1], dwt.shape[2]
    for o in numba.prange(O):
        dwt[o] = 0
        for b in range(B):
            for h in range(Ho):
                for kh in range(KH):
                    ih = h * s + kh * d
                    for kw in range(KW):
                        ow = 0
                        while ow + 4 <= Wo:
                            g0, g1, g2, g3 = dy[b, o, h, ow : ow + 4]
                            i0 = ow * s + kw * d
                            i1, i2, i3 = i0 + s, i0 + 2 * s, i0 + 3 * s
                            for c in range(C):
                                dwt[o, kh, kw, c] += (g0 * xp[b, ih, i0, c] + g1 * xp[b, ih, i1, c]
                                                      + g2 * xp[b, ih, i2, c] + g3 * xp[b, ih, i3, c])
                            ow += 4
                        while ow < Wo:
                            g0, i0 = dy[b, o, h, ow], ow * s + kw * d
                            for c in range(C):
                                dwt[o, kh, kw, c] += g0 * xp[b, ih, i0, c]
                            ow += 1


def _padded_nhwc(x: np.ndarray, p: int) -> np.ndarray:
    """`x [B, C, H, W]` → zero-padded, channels-last `[B, H + 2p, W + 2p, C]`."""
    B, C, H, W = x.shape
    xp = np.zeros((B, H + 2 * p, W + 2 * p, C), dtype=x.dtype)
    xp[:, p : p + H, p : p + W] = x.transpose(0, 2, 3, 1)
    return xp


def _round4(n: int) -> int:
    return -(-n // 4) * 4


def conv2d_numba(x: np.ndarray, w: np.ndarray, s: int, p: int, d: int) -> np.ndarray:
    """Numba twin of `conv2d_numpy`."""
    B, _, H, W = x.shape
    O, C, KH, KW = w.shape
    wt = np.zeros((_round4(O), KH, KW, C), dtype=w.dtype)
    wt[:O] = w.transpose(0, 2, 3, 1)
    y = np.zeros((B, len(wt), conv_out_size(H, KH, s, p, d), conv_out_size(W, KW, s, p, d)), dtype=x.dtype)
    _conv2d_kernel(_padded_nhwc(x, p), wt, y, s, d)
    return y if len(wt) == O else np.ascontiguousarray(y[:, :O])


def conv2d_grad_input_numba(dy: np.ndarray, w: np.ndarray, x_shape, s: int, p: int, d: int) -> np.ndarray:
    """Numba twin of `conv2d_grad_input_numpy`."""
    B, O, Ho, Wo = dy.shape
    _, C, KH, KW = w.shape
    dyt = np.zeros((B, Ho, Wo, _round4(O)), dtype=dy.dtype)
    dyt[..., :O] = dy.transpose(0, 2, 3, 1)
    wt = np.zeros((KH, KW, _round4(O), C), dtype=w.dtype)
    wt[:, :, :O] = w.transpose(2, 3, 0, 1)
    dx = np.empty(x_shape, dtype=dy.dtype)
    _conv2d_grad_input_kernel(dyt, wt, dx, s, p, d)
    return dx


def conv2d_grad_weight_numba(dy: np.ndarray, x: np.ndarray, KH: int, KW: int, s: int, p: int, d: int) -> np.ndarray:
    """Numba twin of `conv2d_grad_weight_numpy`."""
    dwt = np.empty((dy.shape[1], KH, KW, x.shape[1]), dtype=dy.dtype)
    _conv2d_grad_weight_kernel(np.ascontiguousarray(dy), _padded_nhwc(x, p), dwt, s, d)
    return np.ascontiguousarray(dwt.transpose(0, 3, 1, 2))


KERNELS = {
    "numpy": (conv2d_numpy, conv2d_grad_input_numpy, conv2d_grad_weight_numpy),
    "numba": (conv2d_numba, conv2d_grad_input_numba, conv2d_grad_weight_numba),
}
