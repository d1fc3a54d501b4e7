"""The reference ARC layer as a whole: gradients against finite differences, zero-init equivalence, the two
backends against each other, float32, and its counts (`reference.cache_stats`) against the paper's Eqs. 8–10
(docs/overhead.md, docs/reference.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from strategies import LayerShape, aru_acts, canonical_params, layer_shapes, pools, seeds

from arc import reference
from arc.reference import ops


@pytest.fixture(scope="module", autouse=True)
def numpy_by_default():
    """The NumPy backend unless a test picks one: many tiny calls, where Numba's thread pool only adds latency.
    `test_numba_backend_equals_numpy_backend_in_outputs_gradients_and_counts` holds the Numba backend to it."""
    previous = reference.get_backend()
    reference.set_backend("numpy")
    yield
    reference.set_backend(previous)


def forward(x, params, shape: LayerShape, pool="max", aru_act="relu"):
    return reference.arc_forward(x, params, shape.n, shape.T, shape.stride, shape.padding, shape.dilation,
                                 pool=pool, aru_act=aru_act)


def assert_close(actual, expected, rtol):
    scale = max(np.abs(expected).max(initial=0.0), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def shape_of(n, stride, bias, H=5, W=5, K=3, padding=1, c=2, Cin=3):
    return LayerShape(N=2, T=2, Cin=Cin, n=n, c=c, H=H, W=W, K=K, stride=stride, padding=padding, dilation=1,
                      bias=bias)


# n, stride, bias, pool, aru_act, and the sizes: the last rows take PoolS over U(Y_j) as defined
# (mean with 5 not a multiple of 3; max with a 1×1 conv padded to 7×7 > 5×5, where U drops pixels).
FD_CASES = [
    (n, stride, bias, pool, act, {})
    for n in (1, 2, 3, 4)
    for stride in (1, 2)
    for bias, pool, act in [(True, "max", "relu"), (False, "mean", "leaky_relu")]
] + [
    (3, 2, True, "mean", "relu", {}),
    (3, 1, True, "max", "relu", {"K": 1, "padding": 1}),
    (3, 1, False, "mean", "leaky_relu", {"K": 1, "padding": 1}),
]


@pytest.mark.parametrize(("n", "stride", "bias", "pool", "act", "sizes"), FD_CASES)
def test_every_gradient_matches_central_finite_differences(n, stride, bias, pool, act, sizes):
    """Every gradient, in two random directions each: `⟨grad, v⟩ = d/dε ⟨dy, f(θ + εv)⟩` (central, float64)."""
    shape = shape_of(n, stride, bias, **sizes)
    rng = np.random.default_rng(n + 10 * stride + 100 * bias + len(FD_CASES) * len(sizes))
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    y, cache = forward(x, params, shape, pool, act)
    assert y.shape == shape.output_shape
    dy = rng.standard_normal(y.shape)
    dx, grads = reference.arc_backward(dy, cache)
    assert sorted(grads) == sorted(params)

    inputs = {"x": x, **params}
    analytic = {"x": dx, **grads}
    eps = 1e-6
    for name, value in inputs.items():
        for _ in range(2):
            v = rng.standard_normal(value.shape)
            moved = {}
            for sign in (1, -1):
                trial = {**inputs, name: value + sign * eps * v}
                x_trial = trial.pop("x")
                moved[sign] = np.sum(dy * forward(x_trial, trial, shape, pool, act)[0])
            numeric = (moved[1] - moved[-1]) / (2 * eps)
            assert np.sum(analytic[name] * v) == pytest.approx(numeric, rel=1e-6, abs=1e-8), name


@given(shape=layer_shapes(), seed=seeds, pool=pools, aru_act=aru_acts)
def test_zero_init_equals_the_wrapped_conv_on_nonnegative_input(shape, seed, pool, aru_act):
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng, aru_scale=0.0)
    x = np.abs(rng.standard_normal(shape.input_shape))
    y, _ = forward(x, params, shape, pool, aru_act)
    conv, _ = ops.conv2d_forward(x, params["weight"], params.get("bias"), shape.stride, shape.padding, shape.dilation)
    assert_close(y, conv, 1e-13)


@given(shape=layer_shapes(), seed=seeds, aru_act=aru_acts)
def test_zero_init_parts_after_the_first_see_sigma_sigma_of_signed_input(shape, seed, aru_act):
    """At zero ARU, `Z_i = σ(σ(X0))` for `i ≥ 2`: on signed input the layer is *not* its wrapped conv."""
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng, aru_scale=0.0)
    x = rng.standard_normal(shape.input_shape)
    y, _ = forward(x, params, shape, "max", aru_act)
    sigma = ops.relu_forward if aru_act == "relu" else ops.leaky_relu_forward
    z = sigma(sigma(x)[0])[0]
    conv = lambda inp: ops.conv2d_forward(inp, params["weight"], params.get("bias"), shape.stride, shape.padding,
                                          shape.dilation)[0]
    c = shape.c
    assert_close(y[:, :c], conv(x)[:, :c], 1e-13)
    assert_close(y[:, c:], conv(z)[:, c:], 1e-13)


@given(shape=layer_shapes(), seed=seeds, pool=pools, aru_act=aru_acts)
def test_numba_backend_equals_numpy_backend_in_outputs_gradients_and_counts(shape, seed, pool, aru_act):
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    dy = rng.standard_normal(shape.output_shape)
    results = {}
    previous = reference.get_backend()
    try:
        for name in reference.BACKENDS:
            reference.set_backend(name)
            y, cache = forward(x, params, shape, pool, aru_act)
            results[name] = (y, *reference.arc_backward(dy, cache), reference.cache_stats(cache))
    finally:
        reference.set_backend(previous)
    (y0, dx0, g0, s0), (y1, dx1, g1, s1) = results["numpy"], results["numba"]
    assert_close(y1, y0, 1e-12)
    assert_close(dx1, dx0, 1e-12)
    for name in g0:
        assert_close(g1[name], g0[name], 1e-12)
    assert s0 == s1


def test_float32_stays_float32_and_matches_float64_to_1e_4(backend):
    shape = shape_of(4, 2, True, H=7, W=6)
    rng = np.random.default_rng(7)
    params = canonical_params(shape, rng)
    x = rng.standard_normal(shape.input_shape)
    dy = rng.standard_normal(shape.output_shape)
    y64, cache64 = forward(x, params, shape)
    dx64, g64 = reference.arc_backward(dy, cache64)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    y32, cache32 = forward(x.astype(np.float32), params32, shape)
    dx32, g32 = reference.arc_backward(dy.astype(np.float32), cache32)
    assert y32.dtype == dx32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in g32.values())
    assert_close(y32, y64, 1e-4)
    assert_close(dx32, dx64, 1e-4)
    for name in g64:
        assert_close(g32[name], g64[name], 1e-4)


def test_pool_space_commutes_follows_the_closed_forms_up_to_81():
    """`PoolS(U(y)) = PoolS(y)` — max: `H' ≤ H` (every pixel copied); mean: `H` a multiple of `H'` (equal copy
    counts), for every size up to 81. Beyond, PyTorch's float32 index copies unevenly: 2 → 82 reads row 0 42 times
    and row 1 40 times, so the mean must be taken over `U(y)`."""
    for src in range(1, 82):
        for dst in range(1, 82):
            assert reference.pool_space_commutes("max", (src, 1), (dst, 1)) == (src <= dst), (src, dst)
            assert reference.pool_space_commutes("mean", (1, src), (1, dst)) == (dst % src == 0), (src, dst)
    assert np.bincount(ops.nearest_index(2, 82)).tolist() == [42, 40]
    assert not reference.pool_space_commutes("mean", (2, 2), (82, 82))
    assert reference.pool_space_commutes("max", (2, 2), (82, 82))


# -- counts (docs/overhead.md) -------------------------------------------------------------------------------


def square(shape: LayerShape) -> LayerShape:
    """The paper's appendix setting: `Cin = Cout = C`, one clip."""
    return dataclasses.replace(shape, Cin=shape.Cout, N=1)


@given(shape=layer_shapes(same_padding=True, max_n=4, max_c=3, max_T=4), seed=seeds, pool=pools)
def test_multiply_adds_equal_eq8(shape, seed, pool):
    """Eq. 8: `K²C²HWT + C²HWT + C²(HWT + HW + T)(n−1)/n` (Cin = Cout = C, stride 1, same padding)."""
    shape = square(shape)
    C, K, H, W, T, n = shape.Cout, shape.K, shape.H, shape.W, shape.T, shape.n
    rng = np.random.default_rng(seed)
    _, cache = forward(rng.standard_normal(shape.input_shape), canonical_params(shape, rng), shape, pool)
    macs = reference.cache_stats(cache).macs
    assert macs["conv"] == K * K * C * C * H * W * T
    if n == 1:
        assert macs["embed"] == macs["fuse"] == macs["attend"] == 0
        return
    assert macs["embed"] == C * C * H * W * T
    assert macs["fuse"] * n == C * C * H * W * T * (n - 1)
    assert macs["attend"] * n == C * C * (H * W + T) * (n - 1)
    assert sum(macs.values()) * n == n * (K * K + 1) * C * C * H * W * T + C * C * (H * W * T + H * W + T) * (n - 1)


@pytest.mark.parametrize(("C", "n", "K"), [(8, 4, 3), (6, 2, 3), (9, 3, 1), (4, 1, 3)])
def test_parameter_count_equals_corrected_eq9(C, n, K):
    """`K²C² + C² + 2C²(n−1)/n`: n−1 fusion *and* n−1 attention maps; the printed Eq. 9 counts one set only."""
    shape = square(shape_of(n, 1, False, c=C // n, K=K, padding=K // 2))
    rng = np.random.default_rng(0)
    _, cache = forward(rng.standard_normal(shape.input_shape), canonical_params(shape, rng), shape)
    counted = sum(reference.cache_stats(cache).params.values())
    if n == 1:
        assert counted == K * K * C * C
        return
    assert counted * n == K * K * C * C * n + C * C * n + 2 * C * C * (n - 1)
    printed_eq9 = K * K * C * C + C * C + C * C * (n - 1) // n
    assert counted - printed_eq9 == C * C * (n - 1) // n


def kept_formula(shape: LayerShape, pool: str) -> dict:
    """What the reference keeps for the backward, derived term by term (docs/reference.md, "Kept elements")."""
    B, N, Cin, c, n, (H, W) = shape.N * shape.T, shape.N, shape.Cin, shape.c, shape.n, (shape.H, shape.W)
    Ho, Wo = shape.out_size
    state = B * Cin * H * W
    kept = {"input": state, "embedded": 0, "states": 0, "attention": 0, "parts": 0, "pooled": 0, "indices": 0}
    if n == 1:
        return kept
    small = B * c + N * c * Ho * Wo  # PoolS(Y_j) and PoolT(Y_j)
    resized = (Ho, Wo) != (H, W)
    pool_on_u = not reference.pool_space_commutes(pool, (Ho, Wo), (H, W))
    kept |= {
        "embedded": state,
        "states": (n - 1) * state,
        "attention": (n - 1) * Cin * (B + N * Ho * Wo),
        "parts": (n - 1) * B * c * Ho * Wo,
        "pooled": (n - 1) * small,
        "indices": (n - 1) * ((small if pool == "max" else 0) + (resized + pool_on_u) * (H + W)),
    }
    return kept


def count_cache_arrays(cache, params) -> int:
    """Elements of the distinct arrays the cache holds, parameters (and their slices) excluded."""
    seen, total, todo = set(), 0, [cache]
    while todo:
        item = todo.pop()
        if dataclasses.is_dataclass(item):
            todo.extend(getattr(item, f.name) for f in dataclasses.fields(item) if f.name != "params")
        elif isinstance(item, list | tuple):
            todo.extend(item)
        elif isinstance(item, np.ndarray) and id(item) not in seen:
            seen.add(id(item))
            if not any(np.shares_memory(item, p) for p in params.values() if p is not None):
                total += item.size
    return total


@given(shape=layer_shapes(), seed=seeds, pool=pools)
def test_kept_elements_are_what_the_cache_holds_and_follow_the_derived_count(shape, seed, pool):
    rng = np.random.default_rng(seed)
    params = canonical_params(shape, rng)
    _, cache = forward(rng.standard_normal(shape.input_shape), params, shape, pool)
    kept = reference.cache_stats(cache).kept
    assert kept == kept_formula(shape, pool)
    assert sum(kept.values()) == count_cache_arrays(cache, params)


@pytest.mark.parametrize("pool", ["max", "mean"])
@pytest.mark.parametrize(("C", "n", "H", "T"), [(8, 4, 5, 3), (6, 2, 4, 2), (9, 3, 3, 4)])
def test_kept_elements_exceed_eq10_by_the_documented_terms(C, n, H, T, pool):
    """Eq. 10 (`2CHWT + (n−1)CHWT + CHW + CT`) against what the reference keeps; the difference is
    `(n−2)C(HW + T)` more attention maps, `(n−1)(C/n)HWT` parts `Y_j`, and `(n−1)(C/n)(HW + T)` pooled maps
    (twice that with max pooling: the argmax indices)."""
    shape = dataclasses.replace(shape_of(n, 1, True, H=H, W=H, c=C // n, Cin=C), N=1, T=T)
    rng = np.random.default_rng(1)
    _, cache = forward(rng.standard_normal(shape.input_shape), canonical_params(shape, rng), shape, pool)
    kept = sum(reference.cache_stats(cache).kept.values())
    HW = H * H
    eq10 = 2 * C * HW * T + (n - 1) * C * HW * T + C * HW + C * T
    pooled = (n - 1) * (C // n) * (HW + T) * (2 if pool == "max" else 1)
    assert kept - eq10 == (n - 2) * C * (HW + T) + (n - 1) * (C // n) * HW * T + pooled


# -- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    (lambda x, p: (x[:3], p), "multiple of T"),
    (lambda x, p: (x, {**p, "fuse": p["fuse"][:1]}), "params['fuse']"),
    (lambda x, p: (x, {k: v for k, v in p.items() if k != "attend"}), "missing parameters ['attend']"),
    (lambda x, p: (x, {**p, "embed": p["embed"].astype(np.float32)}), "params['embed'] must be float64"),
    (lambda x, p: (x.astype(np.int64), p), "float32 or float64"),
    (lambda x, p: (x, {**p, "weight": p["weight"][:, :2]}), "groups=1"),
    (lambda x, p: (x, {**p, "gain": p["embed"]}), "unexpected parameter 'gain'"),
])
def test_bad_input_raises_value_error_naming_the_problem(change, message):
    shape = shape_of(3, 1, True)
    rng = np.random.default_rng(0)
    x, params = change(rng.standard_normal(shape.input_shape), canonical_params(shape, rng))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        forward(x, params, shape)


def test_bad_settings_raise_value_error_naming_the_setting():
    shape = shape_of(2, 1, True)
    rng = np.random.default_rng(0)
    x, params = rng.standard_normal(shape.input_shape), canonical_params(shape, rng)
    with pytest.raises(ValueError, match="pool must be one of"):
        forward(x, params, shape, pool="avg")
    with pytest.raises(ValueError, match="aru_act must be one of"):
        forward(x, params, shape, aru_act="gelu")
    with pytest.raises(ValueError, match="not divisible by n=3"):
        reference.arc_forward(x, params, 3, shape.T)
    with pytest.raises(ValueError, match="backend must be one of"):
        reference.set_backend("cuda")
    _, cache = forward(x, params, shape)
    with pytest.raises(ValueError, match="dy must be float64"):
        reference.arc_backward(np.zeros((1, 2, 3, 4)), cache)


def test_the_reference_offers_the_choices_of_the_package():
    """The reference stays standalone (no import of `arc.nn`), so it names its pools, activations and ARU terms
    itself: they are the package's (`arc.nn.choices`), or the cross-checks above would skip a choice."""
    from arc.nn import choices
    from arc.reference import layer

    assert (layer.POOLS, layer.ARU_ACTS, layer.ARU_NAMES) == (choices.POOLS, choices.ARU_ACTS, choices.ARU_NAMES)
