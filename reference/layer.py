"""The conv-only ARC layer (docs/layer.md, paper Eqs. 5–7), forward and hand-written backward, as a sequence of ops.

Forward, part `i = 1…n` (0-based `i` in the code), `c = Cout / n`:

    E   = X0 + We ⋆ X0                                  computed once
    Z_1 = X0
    F_i = U(Σ_{j<i} Wf_j ⋆ Y_j)                         Eq. 6, the maps at H'×W', then resized
    A_i = Σ_{j<i} Wa_j ⋆ PoolS(U(Y_j)) ⊕ U(Σ_{j<i} Wa_j ⋆ PoolT(Y_j))        Eq. 7
    Z_i = σ(σ(E + A_i) + F_i)                           Eq. 5 (attention inside, fusion outside)
    Y_i = conv(Z_i; w_i, b_i)                           the i-th slice of weight / bias
    Y   = Concat(Y_1, …, Y_n)

The three sums over `j < i` are running sums (`fused`, `attend_space`, `attend_time`): step `i` adds part
`i − 1`'s term. The backward walks the parts in reverse; the gradient of a running sum flows unchanged to every
earlier step, and at step `i` it is handed to part `i − 1` through that part's term.

This is the full layer: the ablations of `arc.ARCConv2d` (`aru_terms`, `attention`; docs/layer.md) are not here.

The forward keeps what the backward needs in a `LayerCache` (one `StepCache` per part); `cache_stats(cache)`
counts, from the finished cache, the multiply-adds that ran and the elements kept (docs/reference.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .ops import (
    ConvCache,
    PoolSpaceCache,
    PoolTimeCache,
    ResizeCache,
    SigmaCache,
    broadcast_sum_backward,
    broadcast_sum_forward,
    channel_map_backward,
    channel_map_forward,
    conv2d_backward,
    conv2d_forward,
    conv2d_macs,
    leaky_relu_forward,
    nearest_index,
    pool_space_backward,
    pool_space_forward,
    pool_time_backward,
    pool_time_forward,
    relu_backward,
    relu_forward,
    resize_nearest_backward,
    resize_nearest_forward,
)

POOLS = ("max", "mean")
ARU_ACTS = ("relu", "leaky_relu")
ARU_NAMES = ("embed", "fuse", "attend")


def pool_space_commutes(pool: str, out_size: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether `PoolS(U(y)) = PoolS(y)` exactly for `U` from `out_size` to `size`, so `U(y)` need not be formed.

    Max: when `U` copies every pixel at least once — `H' ≤ H` and `W' ≤ W`. Mean: when it copies every pixel
    equally often — for sizes up to 81, `H` a multiple of `H'` and `W` of `W'`; beyond, not always (PyTorch's
    float32 index rule copies the 2 rows of 2 → 82 42 and 40 times). Both are read off the copy counts of
    `nearest_index`, so they hold for every size. Otherwise PoolS is taken over `U(y)` as defined
    (docs/reference.md, "The layer: forward").
    """
    counts = [np.bincount(nearest_index(src, dst), minlength=src) for src, dst in zip(out_size, size, strict=True)]
    if pool == "max":
        return all(count.min() > 0 for count in counts)
    return all(count.min() == count.max() for count in counts)


@dataclass
class StepCache:
    """What the backward of one part needs, as the op caches of `reference.ops` named after the term they computed.

    Part 1 has `conv` only (`Z_1 = X0`). For part `i ≥ 2`, `j = i − 1` is the part whose terms enter the
    running sums at this step.
    """

    conv: ConvCache | None = None  # Y_i = conv(Z_i; w_i, b_i)
    fuse: ConvCache | None = None  # Wf_j ⋆ Y_j; its input is the part Y_j
    resize_fused: ResizeCache | None = None  # F_i = U(fused); None at equal size
    resize_part: ResizeCache | None = None  # U(Y_j) for PoolS; None when PoolS(U(Y_j)) = PoolS(Y_j)
    pool_space: PoolSpaceCache | None = None  # PoolS(U(Y_j))
    pool_time: PoolTimeCache | None = None  # PoolT(Y_j)
    attend_space: ConvCache | None = None  # Wa_j ⋆ PoolS(U(Y_j))
    attend_time: ConvCache | None = None  # Wa_j ⋆ PoolT(Y_j)
    attend_space_sum: np.ndarray | None = None  # Σ_{k≤j} Wa_k ⋆ PoolS(U(Y_k)), [N·T, Cin, 1, 1]
    attend_time_sum: np.ndarray | None = None  # Σ_{k≤j} Wa_k ⋆ PoolT(Y_k), [N, Cin, H', W']
    state: SigmaCache | None = None  # Z_i = σ(σ(E + A_i) + F_i): the outer σ, whose output is Z_i


@dataclass
class LayerCache:
    """Everything `arc_backward` needs from `arc_forward`: the input, the settings and one `StepCache` per part."""

    x: np.ndarray  # X0, [N·T, Cin, H, W]
    params: dict  # the parameters given, by canonical name
    n: int
    T: int
    pool: str
    sigma: Callable  # σ's forward op: relu_forward or leaky_relu_forward
    embed: ConvCache | None = None  # We ⋆ X0 (n > 1)
    E: np.ndarray | None = None  # X0 + We ⋆ X0 (n > 1)
    steps: list[StepCache] = field(default_factory=list)
    out_shape: tuple[int, ...] = ()  # Y's shape, [N·T, Cout, H', W']


@dataclass(frozen=True)
class CacheStats:
    """What one forward ran and kept, counted by `cache_stats` (docs/reference.md, "Counting from the cache").

    `macs`: multiply-adds per term (`conv`, `embed`, `fuse`, `attend`). `kept`: the elements the cache holds for
    the backward, by kind (`input`, `embedded`, `states`, `attention`, `parts`, `pooled`, `indices`; parameters
    excluded). `params`: the elements of each parameter used.
    """

    macs: dict[str, int]
    kept: dict[str, int]
    params: dict[str, int]


def _check(x, params, n, T, stride, padding, dilation, pool, aru_act) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"arc_forward: x must be a 4-D array [N*T, Cin, H, W], got {getattr(x, 'shape', type(x))}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"arc_forward: x must be float32 or float64, got {x.dtype}")
    B, Cin = x.shape[:2]
    if not isinstance(T, int) or T < 1 or B % T:
        raise ValueError(f"arc_forward: batch {B} must be a multiple of T={T!r} (x is [N*T, Cin, H, W])")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"arc_forward: n must be an integer >= 1, got {n!r}")
    if pool not in POOLS:
        raise ValueError(f"arc_forward: pool must be one of {POOLS}, got {pool!r}")
    if aru_act not in ARU_ACTS:
        raise ValueError(f"arc_forward: aru_act must be one of {ARU_ACTS}, got {aru_act!r}")
    if stride < 1 or padding < 0 or dilation < 1:
        raise ValueError(
            f"arc_forward: need stride >= 1, padding >= 0, dilation >= 1; got {stride}, {padding}, {dilation}"
        )
    weight = params.get("weight")
    if weight is None or weight.ndim != 4 or weight.shape[1] != Cin:
        raise ValueError(
            f"arc_forward: params['weight'] must be [Cout, {Cin}, K, K] (groups=1), "
            f"got {getattr(weight, 'shape', None)}"
        )
    Cout = weight.shape[0]
    if Cout % n:
        raise ValueError(f"arc_forward: Cout={Cout} is not divisible by n={n}")
    c = Cout // n
    expected = {"weight": weight.shape, "bias": (Cout,)}
    if n > 1:
        expected |= {"embed": (Cin, Cin), "fuse": (n - 1, Cin, c), "attend": (n - 1, Cin, c)}
    for name, value in params.items():
        if value is None:
            continue
        if name not in expected:
            raise ValueError(f"arc_forward: unexpected parameter {name!r} (n={n}; expected {sorted(expected)})")
        if value.shape != expected[name] or value.dtype != x.dtype:
            raise ValueError(
                f"arc_forward: params[{name!r}] must be {x.dtype} of shape {expected[name]}, "
                f"got {value.dtype} {value.shape}"
            )
    missing = [name for name in expected if name != "bias" and params.get(name) is None]
    if missing:
        raise ValueError(f"arc_forward: missing parameters {missing} for n={n}")
    H, W = x.shape[2:]
    K = weight.shape[2:]
    if any(size + 2 * padding - dilation * (k - 1) < 1 for size, k in zip((H, W), K, strict=True)):
        raise ValueError(f"arc_forward: the {K} kernel (padding {padding}, dilation {dilation}) does not fit {H}x{W}")


def arc_forward(x, params, n, T, stride=1, padding=1, dilation=1, pool="max", aru_act="relu"):
    """ARC layer forward: `x [N·T, Cin, H, W]` → `(y [N·T, Cout, H', W'], cache)`, `cache` a `LayerCache`.

    `params`: `weight [Cout, Cin, K, K]`, `bias [Cout]` (absent or None for none), and for `n > 1`
    `embed [Cin, Cin]`, `fuse [n-1, Cin, c]`, `attend [n-1, Cin, c]`. `cache_stats(cache)` counts what ran.
    """
    _check(x, params, n, T, stride, padding, dilation, pool, aru_act)
    weight, bias = params["weight"], params.get("bias")
    H, W = x.shape[2:]
    c = weight.shape[0] // n
    sigma = relu_forward if aru_act == "relu" else leaky_relu_forward
    cache = LayerCache(x=x, params=params, n=n, T=T, pool=pool, sigma=sigma)

    if n > 1:
        # E = X0 + We ⋆ X0 (Eq. 5), computed once; kept to recompute σ'(E + A_i) in the backward
        We_x, cache.embed = channel_map_forward(params["embed"], x)
        E = cache.E = x + We_x

    ys = []
    z = x  # Z_1 = X0
    fused = attend_space = attend_time = 0  # the running sums over j < i of Eqs. 6 and 7
    for i in range(n):
        step = StepCache()
        if i > 0:
            j, y_j = i - 1, ys[i - 1]

            # Eq. 6, fusion: F_i = U(Σ_{j<i} Wf_j ⋆ Y_j)
            term, step.fuse = channel_map_forward(params["fuse"][j], y_j)
            fused = fused + term
            F, step.resize_fused = resize_nearest_forward(fused, (H, W))

            # Eq. 7, backward attention: A_i = Σ_{j<i} Wa_j ⋆ PoolS(U(Y_j)) ⊕ U(Σ_{j<i} Wa_j ⋆ PoolT(Y_j))
            if pool_space_commutes(pool, y_j.shape[2:], (H, W)):
                s, step.pool_space = pool_space_forward(y_j, pool)
            else:
                y_up, step.resize_part = resize_nearest_forward(y_j, (H, W))
                s, step.pool_space = pool_space_forward(y_up, pool)
            t, step.pool_time = pool_time_forward(y_j, T, pool)
            term_s, step.attend_space = channel_map_forward(params["attend"][j], s)
            term_t, step.attend_time = channel_map_forward(params["attend"][j], t)
            attend_space = step.attend_space_sum = attend_space + term_s
            attend_time = step.attend_time_sum = attend_time + term_t
            A, _ = broadcast_sum_forward(attend_space, resize_nearest_forward(attend_time, (H, W))[0], T)

            # Eq. 5: Z_i = σ(σ(E + A_i) + F_i)
            G, _ = sigma(E + A)
            z, step.state = sigma(G + F)

        # Y_i = f_i(Z_i): the i-th slice of the conv
        part = slice(i * c, (i + 1) * c)
        b = None if bias is None else bias[part]
        y, step.conv = conv2d_forward(z, weight[part], b, stride, padding, dilation)
        ys.append(y)
        cache.steps.append(step)

    y = np.concatenate(ys, axis=1)
    cache.out_shape = y.shape
    return y, cache


def cache_stats(cache: LayerCache) -> CacheStats:
    """Count, from a finished forward's cache, the multiply-adds of each term, the elements kept for the backward
    by kind, and the elements of each parameter used (docs/reference.md, "Counting from the cache")."""
    aru = cache.steps[1:]  # parts 2..n: the steps that ran Eqs. 5–7

    def sizes(*arrays) -> int:
        return sum(a.size for a in arrays if a is not None)

    macs = {
        "conv": sum(conv2d_macs(step.conv) for step in cache.steps),
        "embed": 0 if cache.embed is None else conv2d_macs(cache.embed),
        "fuse": sum(conv2d_macs(step.fuse) for step in aru),
        "attend": sum(conv2d_macs(step.attend_space) + conv2d_macs(step.attend_time) for step in aru),
    }
    kept = {
        "input": cache.x.size,
        "embedded": sizes(cache.E),
        "states": sum(step.state.y.size for step in aru),
        "attention": sum(sizes(step.attend_space_sum, step.attend_time_sum) for step in aru),
        "parts": sum(step.fuse.x.size for step in aru),
        "pooled": sum(sizes(step.attend_space.x, step.attend_time.x) for step in aru),
        "indices": sum(
            sizes(step.pool_space.index, step.pool_time.index, *(step.resize_fused or ()), *(step.resize_part or ()))
            for step in aru
        ),
    }
    used = {name: value.size for name, value in cache.params.items() if value is not None}
    return CacheStats(macs=macs, kept=kept, params=used)


@dataclass
class Flow:
    """The gradients that flow back (`d_X = ∂L/∂X`), each added into as it is found: per part `dys[j]` (the
    output's slice, to which every later part adds its gradient through the running sums), `dE`, and the gradients
    of the three running sums, which a sum carries unchanged to every earlier step (`n > 1` only)."""

    dys: list[np.ndarray]
    dE: np.ndarray | None = None
    d_fused: np.ndarray | None = None  # [N·T, Cin, H', W']
    d_attend_space: np.ndarray | None = None  # [N·T, Cin, 1, 1]
    d_attend_time: np.ndarray | None = None  # [N, Cin, H', W']


def arc_backward(dy, cache: LayerCache):
    """ARC layer backward: `dy [N·T, Cout, H', W']` → `(dx, grads)`, `grads` keyed like the params given.

    The parts in reverse, one block per equation (docs/reference.md, "The layer: backward")."""
    x, n, params = cache.x, cache.n, cache.params
    c = params["weight"].shape[0] // n
    if dy.shape != cache.out_shape or dy.dtype != x.dtype:
        raise ValueError(f"arc_backward: dy must be {x.dtype} {cache.out_shape}, got {dy.dtype} {dy.shape}")
    grads = {name: np.zeros_like(value) for name, value in params.items() if value is not None}
    dx = np.zeros_like(x)
    flow = _start_flow(dy, cache)
    for i in reversed(range(n)):
        step = cache.steps[i]
        # Y_i = f_i(Z_i); Z_1 = X0
        dz = dx if i == 0 else np.zeros_like(x)
        _part_backward(flow.dys[i], step, slice(i * c, (i + 1) * c), dz, grads)
        if i == 0:
            break

        # Eq. 5: Z_i = σ(G + F_i), G = σ(E + A_i); A_i is rebuilt from the kept attention sums
        A, resize_time = _attention(step, cache)
        d_pre, dA = _state_backward(dz, step, A, cache, flow)

        # Eq. 7: A_i = attend_space ⊕ U(attend_time)
        _attention_backward(dA, resize_time, cache.T, flow)

        # Eq. 6: F_i = U(fused)
        _fusion_backward(d_pre, step, flow)

        # the running sums took part j = i-1's terms at this step: hand their gradients to Y_j
        _terms_backward(flow, step, i - 1, grads, cache)

    if n > 1:
        # E = X0 + We ⋆ X0
        _embed_backward(flow.dE, cache, dx, grads)
    return dx, grads


def _start_flow(dy, cache: LayerCache) -> Flow:
    """The output's slices for the parts, zeros for the rest."""
    x, n = cache.x, cache.n
    B, Cin = x.shape[:2]
    c, Ho, Wo = dy.shape[1] // n, *dy.shape[2:]
    dys = [np.array(dy[:, i * c : (i + 1) * c]) for i in range(n)]
    if n == 1:
        return Flow(dys)
    return Flow(
        dys,
        dE=np.zeros_like(x),
        d_fused=np.zeros((B, Cin, Ho, Wo), dtype=x.dtype),
        d_attend_space=np.zeros((B, Cin, 1, 1), dtype=x.dtype),
        d_attend_time=np.zeros((B // cache.T, Cin, Ho, Wo), dtype=x.dtype),
    )


def _part_backward(dy, step: StepCache, part: slice, dz, grads) -> None:
    """`Y_i = conv(Z_i; w_i, b_i)`: adds `∂L/∂Z_i` into `dz`, and into part `i`'s slices of the conv's gradients."""
    db = None if "bias" not in grads else grads["bias"][part]
    conv2d_backward(dy, step.conv, dz, grads["weight"][part], db)


def _attention(step: StepCache, cache: LayerCache):
    """`A_i = attend_space ⊕ U(attend_time)` (Eq. 7) from the running sums kept at step `i`; and its `U`'s cache."""
    up_time, resize_time = resize_nearest_forward(step.attend_time_sum, cache.x.shape[2:])
    A, _ = broadcast_sum_forward(step.attend_space_sum, up_time, cache.T)
    return A, resize_time


def _state_backward(dz, step: StepCache, A, cache: LayerCache, flow: Flow):
    """Eq. 5, `Z_i = σ(G + F_i)`, `G = σ(E + A_i)`: returns `d_pre = dZ_i · σ'(G + F_i)` (read from `Z_i`), which
    is `∂L/∂F_i`, and `dA = d_pre · σ'(E + A_i)`, which is `∂L/∂A_i`, and adds `dA` into `dE`. `σ'(E + A_i)` is
    recomputed from the kept `E` and `A_i` (the two small attention sums are cheaper to keep than `G`)."""
    d_pre = np.zeros_like(cache.x)
    relu_backward(dz, step.state, d_pre)
    _, gate = cache.sigma(cache.E + A)
    dA = np.zeros_like(cache.x)
    relu_backward(d_pre, gate, dA)
    flow.dE += dA
    return d_pre, dA


def _attention_backward(dA, resize_time: ResizeCache | None, T: int, flow: Flow) -> None:
    """Eq. 7, `A_i = attend_space ⊕ U(attend_time)`: the broadcast sum's backward then `Uᵀ` add into the gradients
    of both running sums."""
    d_up_time = np.zeros((dA.shape[0] // T, *dA.shape[1:]), dtype=dA.dtype)
    broadcast_sum_backward(dA, T, flow.d_attend_space, d_up_time)
    resize_nearest_backward(d_up_time, resize_time, flow.d_attend_time)


def _fusion_backward(d_pre, step: StepCache, flow: Flow) -> None:
    """Eq. 6, `F_i = U(fused)`: `d_fused += Uᵀ(∂L/∂F_i)`."""
    resize_nearest_backward(d_pre, step.resize_fused, flow.d_fused)


def _terms_backward(flow: Flow, step: StepCache, j: int, grads, cache: LayerCache) -> None:
    """The terms part `j` added to the running sums at step `j + 1`, `Wf_j ⋆ Y_j`, `Wa_j ⋆ PoolS(U(Y_j))`,
    `Wa_j ⋆ PoolT(Y_j)`: their gradients are the sums' (a running sum is carried unchanged to every later step).
    Adds into `Wf_j`'s and `Wa_j`'s gradients and, through the pools (and `Uᵀ` where `U(Y_j)` was formed), into
    `dys[j]`."""
    B, c = flow.dys[j].shape[:2]
    H, W = cache.x.shape[2:]
    channel_map_backward(flow.d_fused, step.fuse, flow.dys[j], grads["fuse"][j])
    ds = np.zeros((B, c, 1, 1), dtype=cache.x.dtype)
    channel_map_backward(flow.d_attend_space, step.attend_space, ds, grads["attend"][j])
    if step.resize_part is None:
        pool_space_backward(ds, step.pool_space, flow.dys[j])
    else:
        d_up = np.zeros((B, c, H, W), dtype=cache.x.dtype)
        pool_space_backward(ds, step.pool_space, d_up)
        resize_nearest_backward(d_up, step.resize_part, flow.dys[j])
    dt = np.zeros_like(step.attend_time.x)
    channel_map_backward(flow.d_attend_time, step.attend_time, dt, grads["attend"][j])
    pool_time_backward(dt, step.pool_time, flow.dys[j])


def _embed_backward(dE, cache: LayerCache, dx, grads) -> None:
    """`E = X0 + We ⋆ X0`: `dx += dE + Weᵀ ⋆ dE`, `dWe += Σ dE ⊗ X0`."""
    dx += dE
    channel_map_backward(dE, cache.embed, dx, grads["embed"])
