"""Hypothesis strategies and random data shared by the test-suite.

`layer_shapes()` draws the shape of one ARC conv layer in the TSM layout (input `[N·T, Cin, H, W]`,
`Cout = n·c`) such that the convolution's output is at least 1×1; `canonical_params()` fills the canonical
parameter set (docs/layer.md, "Parameters and initialisation") with random NumPy values, so any test can hand the
same numbers to the NumPy reference and to `arc.ARCConv2d`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

KERNEL_SIZES = (1, 3, 5)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
pools = st.sampled_from(["max", "mean"])
aru_acts = st.sampled_from(["relu", "leaky_relu"])


@dataclass(frozen=True)
class LayerShape:
    """One ARC conv layer: input `[N·T, Cin, H, W]`, `weight [n·c, Cin, K, K]`, stride/padding/dilation."""

    N: int
    T: int
    Cin: int
    n: int
    c: int
    H: int
    W: int
    K: int
    stride: int
    padding: int
    dilation: int
    bias: bool

    @property
    def Cout(self) -> int:
        return self.n * self.c

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.N * self.T, self.Cin, self.H, self.W)

    @property
    def out_size(self) -> tuple[int, int]:
        reach = self.dilation * (self.K - 1)
        return tuple((size + 2 * self.padding - reach - 1) // self.stride + 1 for size in (self.H, self.W))

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.N * self.T, self.Cout, *self.out_size)


@st.composite
def layer_shapes(
    draw,
    max_N: int = 2,
    max_T: int = 3,
    max_Cin: int = 4,
    max_n: int = 4,
    max_c: int = 2,
    max_size: int = 64,
    kernel_sizes=KERNEL_SIZES,
    max_stride: int = 3,
    max_padding: int = 4,
    max_dilation: int = 2,
    same_padding: bool = False,
) -> LayerShape:
    """A layer with few channels and frames whose conv output is at least 1×1. `same_padding=True`: stride 1,
    `p = d·(K−1)/2`.

    By default `H, W ≤ 64`, strides up to 3 and paddings up to 4 (beyond `d·(K−1)/2`, so the conv's output can be
    larger than its input and `U` then drops pixels): strided parts of many sizes are resized back by `U`. Keep
    `max_size ≤ 64` for float64 comparisons with `arc.ARCConv2d`: PyTorch's CPU nearest resize follows the float32
    index rule of the reference only while the output's `H + W ≤ 128` (docs/reference.md, "Nearest resize").
    """
    K = draw(st.sampled_from(kernel_sizes))
    dilation = draw(st.integers(1, max_dilation))
    if same_padding:
        stride, padding = 1, dilation * (K - 1) // 2
    else:
        stride = draw(st.integers(1, max_stride))
        padding = draw(st.integers(0, max_padding))
    smallest = max(1, dilation * (K - 1) + 1 - 2 * padding)
    if smallest > max_size:
        padding = (dilation * (K - 1) + 1 - max_size + 1) // 2
        smallest = max(1, dilation * (K - 1) + 1 - 2 * padding)
    return LayerShape(
        N=draw(st.integers(1, max_N)),
        T=draw(st.integers(1, max_T)),
        Cin=draw(st.integers(1, max_Cin)),
        n=draw(st.integers(1, max_n)),
        c=draw(st.integers(1, max_c)),
        H=draw(st.integers(smallest, max(smallest, max_size))),
        W=draw(st.integers(smallest, max(smallest, max_size))),
        K=K,
        stride=stride,
        padding=padding,
        dilation=dilation,
        bias=draw(st.booleans()),
    )


@st.composite
def clip_batches(draw, max_N: int = 3, max_T: int = 6, max_C: int = 24, max_size: int = 3) -> tuple[int, ...]:
    """`(N, T, C, H, W)` of a batch of clips in the TSM layout `[N·T, C, H, W]`: one frame (both clip ends at once)
    and channel counts that are not multiples of the fold divisor included."""
    return (draw(st.integers(1, max_N)), draw(st.integers(1, max_T)), draw(st.integers(1, max_C)),
            draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))


def canonical_params(shape: LayerShape, rng: np.random.Generator, dtype=np.float64, aru_scale: float = 0.5) -> dict:
    """Random parameters in the canonical layout (docs/layer.md): `weight`, `bias` (only when `shape.bias`) and, for
    `n > 1`, `embed`, `fuse`, `attend` drawn from `N(0, aru_scale²)` (0 gives the zero ARU initialisation)."""
    Cin, c, n = shape.Cin, shape.c, shape.n
    params = {"weight": rng.standard_normal((shape.Cout, Cin, shape.K, shape.K)) / np.sqrt(Cin * shape.K**2)}
    if shape.bias:
        params["bias"] = rng.standard_normal(shape.Cout)
    if n > 1:
        params["embed"] = aru_scale * rng.standard_normal((Cin, Cin))
        params["fuse"] = aru_scale * rng.standard_normal((n - 1, Cin, c))
        params["attend"] = aru_scale * rng.standard_normal((n - 1, Cin, c))
    return {name: value.astype(dtype) for name, value in params.items()}


def randomise_bn(model) -> None:
    """Non-trivial BatchNorm statistics and affine parameters in every `nn.BatchNorm2d` of `model` (torch's
    generator: seed it first), so that a model comparison also compares how BatchNorm is carried over."""
    import torch
    from torch import nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2)
