"""The NumPy/Numba reference against the PyTorch layer `arc.ARCConv2d` given the same canonical parameters:
the output, every gradient (torch autograd) and the multiply-add count (as `arc.overhead` measures it), float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from strategies import LayerShape, aru_acts, canonical_params, layer_shapes, pools, seeds

import reference
from arc import ARCConv2d
from arc.overhead import measure_multiply_adds

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


def compare(shape: LayerShape, seed: int, pool: str, aru_act: str, backend: str) -> None:
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    dy = rng.standard_normal(shape.output_shape)

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
    assert_close(y, yt.detach().numpy(), "forward")
    assert_close(dx, xt.grad.numpy(), "d input")
    for name, value in layer.named_parameters():
        assert_close(grads[name], value.grad.numpy(), f"d {name}")


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
