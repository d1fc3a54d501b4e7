"""The NumPy/Numba reference against the PyTorch layer `arc.ARCConv2d` given the same canonical parameters:
the output, every gradient (torch autograd) and the multiply-add count (as `arc.overhead` measures it), float64;
the resize `U` against `F.interpolate`; the max-pool tie rule against torch's `amax`."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from strategies import LayerShape, aru_acts, canonical_params, layer_shapes, pools, seeds

from arc import ARCConv2d, reference
from arc.overhead import measure_multiply_adds
from arc.reference import ops

RTOL = 1e-8


def torch_layer(shape: LayerShape, params: dict, pool: str, aru_act: str) -> ARCConv2d:
    layer = ARCConv2d(shape.Cin, shape.Cout, shape.K, shape.stride, shape.padding, shape.dilation, shape.bias,
                      n=shape.n, num_segments=shape.T, pool=pool, aru_act=aru_act).double()
    assert {name for name, _ in layer.named_parameters()} == set(params)
    with torch.no_grad():
        for name, value in layer.named_parameters():
            value.copy_(torch.from_numpy(params[name]))
    return layer


def assert_close(actual, expected, what):
    scale = max(np.abs(expected).max(initial=0.0), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def run_both(shape: LayerShape, params: dict, x, dy, pool: str, aru_act: str, backend: str):
    """`(y, dx, grads)` of the reference and of the PyTorch layer on the same input and output gradient."""
    previous = reference.get_backend()
    reference.set_backend(backend)
    try:
        y, cache = reference.arc_forward(x, params, shape.n, shape.T, shape.stride, shape.padding, shape.dilation,
                                         pool=pool, aru_act=aru_act)
        dx, grads = reference.arc_backward(dy, cache)
    finally:
        reference.set_backend(previous)

    layer = torch_layer(shape, params, pool, aru_act)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = layer(xt)
    yt.backward(torch.from_numpy(dy))
    torch_grads = {name: value.grad.numpy() for name, value in layer.named_parameters()}
    return (y, dx, grads), (yt.detach().numpy(), xt.grad.numpy(), torch_grads)


def compare(shape: LayerShape, seed: int, pool: str, aru_act: str, backend: str) -> None:
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    dy = rng.standard_normal(shape.output_shape)
    (y, dx, grads), (yt, dxt, grads_t) = run_both(shape, params, x, dy, pool, aru_act, backend)
    assert_close(y, yt, "forward")
    assert_close(dx, dxt, "d input")
    for name, value in grads_t.items():
        assert_close(grads[name], value, f"d {name}")


@pytest.mark.parametrize("backend", reference.BACKENDS)
@given(shape=layer_shapes(), seed=seeds, pool=pools, aru_act=aru_acts)
def test_reference_equals_torch_layer_forward_and_every_gradient(backend, shape, seed, pool, aru_act):
    compare(shape, seed, pool, aru_act, backend)


@pytest.mark.parametrize(("stride", "pool", "H", "W"), [
    (2, "max", 7, 6), (2, "mean", 7, 6), (2, "mean", 6, 8), (3, "mean", 8, 7), (3, "max", 8, 7),
])
def test_reference_equals_torch_layer_with_strided_conv(stride, pool, H, W):
    """Strided convs: `U` upsamples the parts; with mean pooling and `H` not a multiple of `H'`, PoolS is taken
    over `U(Y_j)`."""
    shape = LayerShape(N=2, T=3, Cin=3, n=4, c=2, H=H, W=W, K=3, stride=stride, padding=1, dilation=1, bias=True)
    compare(shape, 11, pool, "relu", "numba")


def test_max_pool_space_over_a_downsampled_part_is_taken_as_defined():
    """A 1×1 conv with padding 1 makes `Y_j` 7×7 from a 5×5 state, so `U` drops its border and
    `PoolS(U(Y_j)) ≠ PoolS(Y_j)`: both implementations pool the resized part."""
    shape = LayerShape(N=1, T=2, Cin=3, n=3, c=2, H=5, W=5, K=1, stride=1, padding=1, dilation=1, bias=True)
    compare(shape, 0, "max", "relu", "numpy")


@given(shape=layer_shapes(), seed=seeds, pool=pools)
def test_reference_multiply_adds_equal_torch_flop_count(shape, seed, pool):
    """The reference's own count (conv + embed + fuse + attend) = the PyTorch layer's measured count
    (`arc.overhead.measure_multiply_adds`: torch's FLOP counter over one forward, FLOPs / 2)."""
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    _, cache = reference.arc_forward(x, params, shape.n, shape.T, shape.stride, shape.padding, shape.dilation,
                                     pool=pool)
    layer = torch_layer(shape, params, pool, "relu")
    assert sum(reference.cache_stats(cache).macs.values()) == measure_multiply_adds(layer, torch.from_numpy(x))


# -- the resize U: PyTorch's float32 index rule -------------------------------------------------------------


def interpolate_indices(in_size: tuple[int, int], out_size: tuple[int, int], dtype) -> tuple[np.ndarray, np.ndarray]:
    """The source row of every output row and the source column of every output column that
    `F.interpolate(mode="nearest")` reads, resizing `in_size` to `out_size` (each pixel holds `128·row + col`)."""
    rows = torch.arange(in_size[0], dtype=dtype).view(1, 1, -1, 1)
    cols = torch.arange(in_size[1], dtype=dtype).view(1, 1, 1, -1)
    up = F.interpolate(128 * rows + cols, size=out_size, mode="nearest")[0, 0].long().numpy()
    return up[:, 0] // 128, up[0, :] % 128


def test_nearest_index_is_pytorchs_nearest_interpolate_for_every_size_pair_up_to_80():
    """`min(⌊float32(h) · float32(in/out)⌋, in − 1)`, float32 arithmetic, is what `F.interpolate` reads, for every
    pair of sizes up to 80 along H and along W: in float32 and float64 on PyTorch's CPU path for an output
    H + W ≤ 128, and in float32 on its other path (H + W > 128)."""
    mismatches = []
    for in_len, out_len in itertools.product(range(1, 81), repeat=2):
        mirror = (81 - in_len, 81 - out_len)  # the W axis: every pair again, output H + W = 81
        wide = (in_len, 130 - out_len)  # output H + W = 130
        for dtype, (w_in, w_out) in ((torch.float32, mirror), (torch.float64, mirror), (torch.float32, wide)):
            rows, cols = interpolate_indices((in_len, w_in), (out_len, w_out), dtype)
            if not (np.array_equal(rows, ops.nearest_index(in_len, out_len))
                    and np.array_equal(cols, ops.nearest_index(w_in, w_out))):
                mismatches.append(((in_len, w_in), (out_len, w_out), dtype))
    assert mismatches == []


def test_float64_interpolate_leaves_the_float32_rule_once_h_plus_w_exceeds_128():
    """Past an output H + W of 128 PyTorch's CPU kernel takes another path, which for float64 computes the index
    in double (then floors the product rounded to float32): 2 → 82 reads rows 0 and 1 41 times each instead of 42
    and 40. The reference keeps the float32 rule, which is why the float64 cross-checks keep H, W ≤ 64."""
    assert np.bincount(ops.nearest_index(2, 82)).tolist() == [42, 40]
    for dtype, width, counts in ((torch.float64, 46, [42, 40]), (torch.float64, 47, [41, 41]),
                                 (torch.float32, 47, [42, 40])):
        rows, _ = interpolate_indices((2, 1), (82, width), dtype)
        assert np.bincount(rows).tolist() == counts, (dtype, 82 + width)


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_reference_equals_torch_layer_where_the_float32_index_differs_from_the_exact_one(pool):
    """H = W = 58, K = 3, stride 2, padding 2: the parts are 30×30 and `U` reads row 14 at h = 29, where the exact
    rule reads 15. Max pool: the fusion and the temporal attention are resized; mean pool: PoolS is also taken
    over `U(Y_j)` (58 is not a multiple of 30), weighting each pixel by its number of copies."""
    shape = LayerShape(N=2, T=3, Cin=3, n=4, c=2, H=58, W=58, K=3, stride=2, padding=2, dilation=1, bias=True)
    assert shape.out_size == (30, 30)
    compare(shape, 5, pool, "relu", "numba")


@pytest.mark.parametrize(("src", "dst", "dtype"), [
    (30, 58, torch.float64),
    (2, 82, torch.float32),
    (7, 14, torch.float64),
    (4, 7, torch.float32),
])
def test_torch_layer_mean_pool_space_weights_each_pixel_by_its_copies_in_its_own_interpolate(src, dst, dtype):
    """`PoolS(U(y))` for mean pooling, as the PyTorch layer computes it without forming `U(y)`, against the mean of
    `F.interpolate(y)` itself."""
    layer_module = importlib.import_module(ARCConv2d.__module__)
    y = torch.randn(2, 3, src, src, dtype=dtype, generator=torch.Generator().manual_seed(0))
    want = F.interpolate(y, size=(dst, dst), mode="nearest").mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(layer_module.pool_space(y, "mean", (dst, dst)), want)


# -- max-pool ties ----------------------------------------------------------------------------------------------


def test_max_pool_ties_move_only_the_input_gradient_within_each_tie_group():
    """A clip of identical frames ties every `PoolT` max. The reference sends the gradient to the first tied frame,
    torch's `amax` splits it evenly: both are subgradients. The outputs and every parameter gradient agree (each
    frame's backward is the same linear map, so only the sum over frames reaches the weights); `dx` differs, but
    only by a redistribution within each tie group — its sum over the frames of a clip at each position agrees."""
    shape = LayerShape(N=2, T=3, Cin=3, n=3, c=2, H=5, W=5, K=3, stride=1, padding=1, dilation=1, bias=True)
    rng = np.random.default_rng(0)
    params = canonical_params(shape, rng)
    frame = rng.standard_normal((shape.N, 1, shape.Cin, shape.H, shape.W))
    x = np.repeat(frame, shape.T, axis=1).reshape(shape.input_shape)
    dy = rng.standard_normal(shape.output_shape)
    (y, dx, grads), (yt, dxt, grads_t) = run_both(shape, params, x, dy, "max", "relu", "numpy")

    assert_close(y, yt, "forward")
    for name, value in grads_t.items():
        assert_close(grads[name], value, f"d {name}")
    assert not np.allclose(dx, dxt, rtol=1e-3, atol=1e-3)  # the two tie rules do differ
    per_clip = (shape.N, shape.T, shape.Cin, shape.H, shape.W)
    assert_close(dx.reshape(per_clip).sum(axis=1), dxt.reshape(per_clip).sum(axis=1), "d input summed over ties")
