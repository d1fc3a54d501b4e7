"""The reference's ops one by one: hand-written gradients against central finite differences (float64), the
Numba kernels against their NumPy twins, the max-pool tie rule, dtype preservation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import layer_shapes, seeds

from arc.reference import kernels, ops


def numerical_gradients(forward, inputs, dout, eps=1e-6):
    """`∂⟨dout, forward(*inputs)⟩ / ∂input` for every input, element by element, by central differences."""
    grads = []
    for a in inputs:
        g = np.zeros_like(a)
        for k in np.ndindex(a.shape):
            saved = a[k]
            a[k] = saved + eps
            plus = np.sum(dout * forward(*inputs))
            a[k] = saved - eps
            minus = np.sum(dout * forward(*inputs))
            a[k] = saved
            g[k] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def assert_close(actual, expected, rtol):
    scale = max(np.abs(expected).max(initial=0.0), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


CONV_CASES = [
    # K, stride, padding, dilation, bias
    (3, 1, 1, 1, True),
    (3, 2, 1, 1, False),
    (3, 1, 2, 2, True),
    (5, 2, 0, 1, True),
    (1, 1, 0, 1, False),
    (1, 2, 1, 1, True),
]


@pytest.mark.parametrize(("K", "s", "p", "d", "bias"), CONV_CASES)
def test_conv2d_gradients_match_finite_differences(backend, K, s, p, d, bias):
    rng = np.random.default_rng(K + 10 * s + 100 * p + 1000 * d)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((2, 3, K, K))
    b = rng.standard_normal(2) if bias else None
    y, cache = ops.conv2d_forward(x, w, b, s, p, d)
    dy = rng.standard_normal(y.shape)
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    db = np.zeros_like(b) if bias else None
    ops.conv2d_backward(dy, cache, dx, dw, db)
    inputs = [x, w] + ([b] if bias else [])
    expected = numerical_gradients(lambda *a: ops.conv2d_forward(a[0], a[1], a[2] if bias else None, s, p, d)[0],
                                   inputs, dy)
    for got, want in zip([dx, dw] + ([db] if bias else []), expected, strict=True):
        assert_close(got, want, 1e-7)


def test_conv2d_forward_matches_the_definition_at_every_output():
    """The NumPy twin against the formula written out pixel by pixel (stride 2, padding 1, dilation 2)."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    s, p, d = 2, 1, 2
    y = kernels.conv2d_numpy(x, w, s, p, d) + b[:, None, None]
    Ho, Wo = kernels.conv_out_size(7, 3, s, p, d), kernels.conv_out_size(6, 3, s, p, d)
    assert y.shape == (2, 4, Ho, Wo)
    for bi, o, h, ow in np.ndindex(y.shape):
        total = b[o]
        for c, kh, kw in np.ndindex(3, 3, 3):
            ih, iw = h * s - p + kh * d, ow * s - p + kw * d
            if 0 <= ih < 7 and 0 <= iw < 6:
                total += w[o, c, kh, kw] * x[bi, c, ih, iw]
        assert y[bi, o, h, ow] == pytest.approx(total, rel=1e-12, abs=1e-12)


@given(shape=layer_shapes(max_Cin=5, max_c=5, max_size=9), seed=seeds)
def test_numba_conv_kernels_equal_numpy_twins(shape, seed):
    rng = np.random.default_rng(seed)
    K, s, p, d = shape.K, shape.stride, shape.padding, shape.dilation
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        x = rng.standard_normal(shape.input_shape).astype(dtype)
        w = rng.standard_normal((shape.Cout, shape.Cin, K, K)).astype(dtype)
        dy = rng.standard_normal(shape.output_shape).astype(dtype)
        pairs = [
            (kernels.conv2d_numba(x, w, s, p, d), kernels.conv2d_numpy(x, w, s, p, d)),
            (kernels.conv2d_grad_input_numba(dy, w, x.shape, s, p, d),
             kernels.conv2d_grad_input_numpy(dy, w, x.shape, s, p, d)),
            (kernels.conv2d_grad_weight_numba(dy, x, K, K, s, p, d),
             kernels.conv2d_grad_weight_numpy(dy, x, K, K, s, p, d)),
        ]
        for fast, spec in pairs:
            assert fast.dtype == spec.dtype == dtype
            assert fast.shape == spec.shape
            assert_close(fast, spec, rtol)


def test_channel_map_gradients_match_finite_differences(backend):
    rng = np.random.default_rng(1)
    A, x = rng.standard_normal((4, 3)), rng.standard_normal((2, 3, 2, 3))
    y, cache = ops.channel_map_forward(A, x)
    np.testing.assert_allclose(y, np.einsum("ok,bkhw->bohw", A, x), rtol=1e-13)
    dy = rng.standard_normal(y.shape)
    dA, dx = np.zeros_like(A), np.zeros_like(x)
    ops.channel_map_backward(dy, cache, dx, dA)
    want_A, want_x = numerical_gradients(lambda a, b: ops.channel_map_forward(a, b)[0], [A, x], dy)
    assert_close(dA, want_A, 1e-8)
    assert_close(dx, want_x, 1e-8)


@pytest.mark.parametrize(("forward", "backward", "slope"), [
    (ops.relu_forward, ops.relu_backward, 0.0),
    (ops.leaky_relu_forward, ops.leaky_relu_backward, 0.01),
])
def test_relu_gradients_match_finite_differences_and_vanish_at_zero(forward, backward, slope):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    y, cache = forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, slope * x))
    dy = rng.standard_normal(y.shape)
    dx = np.zeros_like(x)
    backward(dy, cache, dx)
    (want,) = numerical_gradients(lambda a: forward(a)[0], [x], dy)
    assert_close(dx, want, 1e-8)
    zero = np.zeros((1, 1, 1, 2))
    dz = np.zeros_like(zero)
    backward(np.ones_like(zero), forward(zero)[1], dz)
    np.testing.assert_array_equal(dz, slope)  # σ'(0) is the left derivative: 0 for ReLU, the slope for leaky


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_pool_space_gradients_match_finite_differences(mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 3, 4))
    y, cache = ops.pool_space_forward(x, mode)
    reduce = np.max if mode == "max" else np.mean
    np.testing.assert_allclose(y[:, :, 0, 0], reduce(x, axis=(2, 3)), rtol=1e-14)
    dy = rng.standard_normal(y.shape)
    dx = np.zeros_like(x)
    ops.pool_space_backward(dy, cache, dx)
    (want,) = numerical_gradients(lambda a: ops.pool_space_forward(a, mode)[0], [x], dy)
    assert_close(dx, want, 1e-8)


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_pool_time_gradients_match_finite_differences(mode):
    rng = np.random.default_rng(4)
    T = 3
    x = rng.standard_normal((2 * T, 2, 2, 3))
    y, cache = ops.pool_time_forward(x, T, mode)
    reduce = np.max if mode == "max" else np.mean
    np.testing.assert_allclose(y, reduce(x.reshape(2, T, 2, 2, 3), axis=1), rtol=1e-14)
    dy = rng.standard_normal(y.shape)
    dx = np.zeros_like(x)
    ops.pool_time_backward(dy, cache, dx)
    (want,) = numerical_gradients(lambda a: ops.pool_time_forward(a, T, mode)[0], [x], dy)
    assert_close(dx, want, 1e-8)


def test_max_pools_send_the_whole_gradient_to_the_first_maximal_element():
    x = np.zeros((2, 1, 2, 3))
    x[0, 0] = [[1.0, 5.0, 2.0], [5.0, 0.0, 5.0]]  # three tied maxima: (0, 1) comes first in C order
    x[1, 0] = [[5.0, 1.0, 1.0], [1.0, 1.0, 5.0]]
    y, cache = ops.pool_space_forward(x, "max")
    dx = np.zeros_like(x)
    ops.pool_space_backward(np.full(y.shape, 7.0), cache, dx)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = expected[1, 0, 0, 0] = 7.0
    np.testing.assert_array_equal(dx, expected)

    frames = np.array([1.0, 4.0, 4.0, 4.0]).reshape(4, 1, 1, 1)  # one clip of T = 4, frames 1..3 tie
    y, cache = ops.pool_time_forward(frames, 4, "max")
    dx = np.zeros_like(frames)
    ops.pool_time_backward(np.full(y.shape, 3.0), cache, dx)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 3.0, 0.0, 0.0])


def test_broadcast_sum_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    T = 2
    s, p = rng.standard_normal((2 * T, 3, 1, 1)), rng.standard_normal((2, 3, 2, 3))
    out, cache = ops.broadcast_sum_forward(s, p, T)
    assert out[3, 1, 1, 2] == s[3, 1, 0, 0] + p[1, 1, 1, 2]
    dout = rng.standard_normal(out.shape)
    ds, dp = np.zeros_like(s), np.zeros_like(p)
    ops.broadcast_sum_backward(dout, cache, ds, dp)
    want_s, want_p = numerical_gradients(lambda a, b: ops.broadcast_sum_forward(a, b, T)[0], [s, p], dout)
    assert_close(ds, want_s, 1e-8)
    assert_close(dp, want_p, 1e-8)


def test_resize_nearest_reads_the_float32_floor_of_the_scaled_index():
    """`U` reads row `min(⌊float32(h) · float32(H'/H)⌋, H' − 1)`, PyTorch's rule (tested against `F.interpolate` in
    test_reference_torch.py): mostly the exact `⌊h·H'/H⌋`, but 30 → 58 reads row 14 at `h = 29`, where
    `29·30/58 = 15` exactly and the float32 product falls just below 15."""
    y = np.arange(6.0).reshape(1, 1, 2, 3)
    out, _ = ops.resize_nearest_forward(y, (5, 4))
    rows, cols = [0, 0, 0, 1, 1], [0, 0, 1, 2]  # ⌊h·2/5⌋, ⌊w·3/4⌋
    np.testing.assert_array_equal(out[0, 0], y[0, 0][np.ix_(rows, cols)])

    rows = ops.nearest_index(30, 58)
    exact = np.arange(58) * 30 // 58
    assert (rows[29], exact[29]) == (14, 15)
    assert np.flatnonzero(rows != exact).tolist() == [29]
    y = np.arange(30.0 * 2).reshape(1, 1, 30, 2)
    np.testing.assert_array_equal(ops.resize_nearest_forward(y, (58, 2))[0][0, 0, :, 0], y[0, 0, rows, 0])


def test_nearest_index_is_the_identity_at_equal_size_and_halves_at_double_size():
    for size in range(1, 81):
        np.testing.assert_array_equal(ops.nearest_index(size, size), np.arange(size))
        np.testing.assert_array_equal(ops.nearest_index(size, 2 * size), np.arange(2 * size) // 2)


@given(src=st.tuples(st.integers(1, 64), st.integers(1, 64)), dst=st.tuples(st.integers(1, 64), st.integers(1, 64)),
       seed=seeds)
def test_resize_nearest_backward_is_the_adjoint(src, dst, seed):
    """⟨U(y), g⟩ = ⟨y, Uᵀ(g)⟩ for every size pair, up- or downsampling."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((2, 3, *src))
    out, cache = ops.resize_nearest_forward(y, dst)
    g = rng.standard_normal(out.shape)
    back = np.zeros_like(y)
    ops.resize_nearest_backward(g, cache, back)
    assert np.sum(out * g) == pytest.approx(np.sum(y * back), rel=1e-12, abs=1e-12)


def test_ops_keep_float32_and_match_float64(backend):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y, cache = ops.conv2d_forward(x, w, np.ones(4, np.float32), 2, 1, 1)
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros(4, np.float32)
    ops.conv2d_backward(np.ones_like(y), cache, dx, dw, db)
    outs = [y, dx, dw, db, ops.leaky_relu_forward(y)[0], ops.pool_space_forward(y, "mean")[0],
            ops.pool_time_forward(y, 2, "max")[0], ops.resize_nearest_forward(y, (5, 5))[0]]
    assert all(a.dtype == np.float32 for a in outs)
    want = kernels.conv2d_numpy(x.astype(np.float64), w.astype(np.float64), 2, 1, 1) + 1
    assert_close(y, want, 1e-5)
