"""The conv-only ARC layer (SPEC §1, paper Eqs. 5–7), forward and hand-written backward, as a sequence of ops.

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
"""

from __future__ import annotations

import numpy as np

from reference.ops import (
    broadcast_sum_backward,
    broadcast_sum_forward,
    channel_map_backward,
    channel_map_forward,
    conv2d_backward,
    conv2d_forward,
    leaky_relu_forward,
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
    """Whether `PoolS(U(y)) = PoolS(y)` exactly, so `U(y)` need not be formed (SPEC §1, efficient rule).

    Max: when `U` copies every pixel at least once (`H' ≤ H`, `W' ≤ W`). Mean: when every pixel is copied
    equally often (`H` a multiple of `H'` and `W` of `W'`). Otherwise PoolS is taken over `U(y)` as defined.
    """
    (Ho, Wo), (H, W) = out_size, size
    if pool == "max":
        return Ho <= H and Wo <= W
    return H % Ho == 0 and W % Wo == 0


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
    """ARC layer forward: `x [N·T, Cin, H, W]` → `(y [N·T, Cout, H', W'], cache)`.

    `params`: `weight [Cout, Cin, K, K]`, `bias [Cout]` (absent or None for none), and for `n > 1`
    `embed [Cin, Cin]`, `fuse [n-1, Cin, c]`, `attend [n-1, Cin, c]`. `cache["stats"]` counts what ran:
    `macs` (multiply-adds per term: conv, embed, fuse, attend), `kept` (elements held for the backward, by
    kind) and `params` (elements of each parameter used).
    """
    _check(x, params, n, T, stride, padding, dilation, pool, aru_act)
    weight, bias = params["weight"], params.get("bias")
    B, Cin, H, W = x.shape
    c = weight.shape[0] // n
    sigma = relu_forward if aru_act == "relu" else leaky_relu_forward
    macs = {"conv": 0, "embed": 0, "fuse": 0, "attend": 0}
    kept = {"input": x.size, "embedded": 0, "states": 0, "attention": 0, "parts": 0, "pooled": 0, "indices": 0}
    cache = {"x": x, "n": n, "T": T, "pool": pool, "sigma": sigma, "params": params, "steps": []}

    if n > 1:
        # E = X0 + We ⋆ X0 (Eq. 5), computed once; kept to recompute σ'(E + A_i) in the backward
        We_x, cache["embed"] = channel_map_forward(params["embed"], x)
        E = x + We_x
        macs["embed"] += We_x.size * Cin
        cache["E"] = E
        kept["embedded"] += E.size

    ys = []
    z = x
    fused = attend_space = attend_time = 0  # the running sums over j < i of Eqs. 6 and 7
    for i in range(n):
        step = {}
        if i > 0:
            j, y_prev = i - 1, ys[i - 1]
            Ho, Wo = y_prev.shape[2:]

            # Eq. 6, fusion: F_i = U(Σ_{j<i} Wf_j ⋆ Y_j)
            term, step["fuse"] = channel_map_forward(params["fuse"][j], y_prev)
            fused = fused + term
            F, step["U_fuse"] = resize_nearest_forward(fused, (H, W))
            macs["fuse"] += term.size * c
            kept["parts"] += y_prev.size

            # Eq. 7, backward attention: A_i = Σ_{j<i} Wa_j ⋆ PoolS(U(Y_j)) ⊕ U(Σ_{j<i} Wa_j ⋆ PoolT(Y_j))
            if pool_space_commutes(pool, (Ho, Wo), (H, W)):
                s, step["pool_space"] = pool_space_forward(y_prev, pool)
                step["U_pool_space"] = None
            else:
                y_up, step["U_pool_space"] = resize_nearest_forward(y_prev, (H, W))
                s, step["pool_space"] = pool_space_forward(y_up, pool)
            t, step["pool_time"] = pool_time_forward(y_prev, T, pool)
            term_s, step["attend_space"] = channel_map_forward(params["attend"][j], s)
            term_t, step["attend_time"] = channel_map_forward(params["attend"][j], t)
            attend_space = attend_space + term_s
            attend_time = attend_time + term_t
            A, _ = broadcast_sum_forward(attend_space, resize_nearest_forward(attend_time, (H, W))[0], T)
            macs["attend"] += (term_s.size + term_t.size) * c
            step["attend_sums"] = (attend_space, attend_time)
            kept["attention"] += attend_space.size + attend_time.size
            kept["pooled"] += s.size + t.size
            if pool == "max":
                kept["indices"] += step["pool_space"][2].size + step["pool_time"][2].size

            # Eq. 5: Z_i = σ(σ(E + A_i) + F_i)
            G, _ = sigma(E + A)
            z, step["sigma_out"] = sigma(G + F)
            kept["states"] += z.size
            for name in ("U_fuse", "U_pool_space"):
                if step[name] is not None:
                    kept["indices"] += sum(index.size for index in step[name])

        # Y_i = f_i(Z_i): the i-th slice of the conv
        part = slice(i * c, (i + 1) * c)
        b = None if bias is None else bias[part]
        y, step["conv"] = conv2d_forward(z, weight[part], b, stride, padding, dilation)
        macs["conv"] += y.size * weight[0].size
        ys.append(y)
        cache["steps"].append(step)

    y = np.concatenate(ys, axis=1)
    cache["out_shape"] = y.shape
    used = {name: value.size for name, value in params.items() if value is not None}
    cache["stats"] = {"macs": macs, "kept": kept, "params": used}
    return y, cache


def arc_backward(dy, cache):
    """ARC layer backward: `dy [N·T, Cout, H', W']` → `(dx, grads)`, `grads` keyed like the params given."""
    x, n, T, params, sigma = cache["x"], cache["n"], cache["T"], cache["params"], cache["sigma"]
    B, Cin, H, W = x.shape
    c = params["weight"].shape[0] // n
    if dy.shape != cache["out_shape"] or dy.dtype != x.dtype:
        raise ValueError(f"arc_backward: dy must be {x.dtype} {cache['out_shape']}, got {dy.dtype} {dy.shape}")
    grads = {name: np.zeros_like(value) for name, value in params.items() if value is not None}
    dx = np.zeros_like(x)
    dys = [np.array(dy[:, i * c : (i + 1) * c]) for i in range(n)]
    Ho, Wo = dy.shape[2:]
    if n > 1:
        dE = np.zeros_like(x)
        d_fused = np.zeros((B, Cin, Ho, Wo), dtype=x.dtype)
        d_attend_space = np.zeros((B, Cin, 1, 1), dtype=x.dtype)
        d_attend_time = np.zeros((B // T, Cin, Ho, Wo), dtype=x.dtype)

    for i in reversed(range(n)):
        step = cache["steps"][i]
        part = slice(i * c, (i + 1) * c)
        db = None if "bias" not in grads else grads["bias"][part]

        # Y_i = f_i(Z_i); Z_1 = X0
        dz = dx if i == 0 else np.zeros_like(x)
        conv2d_backward(dys[i], step["conv"], dz, grads["weight"][part], db)
        if i == 0:
            break

        # Eq. 5: Z_i = σ(G + F_i), G = σ(E + A_i); σ'(E + A_i) is recomputed from E and the attention sums
        d_pre = np.zeros_like(x)
        relu_backward(dz, step["sigma_out"], d_pre)
        attend_space, attend_time = step["attend_sums"]
        up_time, U_time = resize_nearest_forward(attend_time, (H, W))
        A, bcast = broadcast_sum_forward(attend_space, up_time, T)
        _, gate = sigma(cache["E"] + A)
        dA = np.zeros_like(x)
        relu_backward(d_pre, gate, dA)
        dE += dA

        # Eq. 7: A_i = attend_space ⊕ U(attend_time); both sums gather the terms of every part j < i
        d_up_time = np.zeros_like(up_time)
        broadcast_sum_backward(dA, bcast, d_attend_space, d_up_time)
        resize_nearest_backward(d_up_time, U_time, d_attend_time)

        # Eq. 6: F_i = U(fused)
        resize_nearest_backward(d_pre, step["U_fuse"], d_fused)

        # the running sums took part j = i-1's terms at this step: hand their gradients to Y_j
        j = i - 1
        channel_map_backward(d_fused, step["fuse"], dys[j], grads["fuse"][j])
        ds = np.zeros((B, c, 1, 1), dtype=x.dtype)
        channel_map_backward(d_attend_space, step["attend_space"], ds, grads["attend"][j])
        if step["U_pool_space"] is None:
            pool_space_backward(ds, step["pool_space"], dys[j])
        else:
            d_up = np.zeros((B, c, H, W), dtype=x.dtype)
            pool_space_backward(ds, step["pool_space"], d_up)
            resize_nearest_backward(d_up, step["U_pool_space"], dys[j])
        dt = np.zeros((B // T, c, Ho, Wo), dtype=x.dtype)
        channel_map_backward(d_attend_time, step["attend_time"], dt, grads["attend"][j])
        pool_time_backward(dt, step["pool_time"], dys[j])

    if n > 1:
        # E = X0 + We ⋆ X0
        dx += dE
        channel_map_backward(dE, cache["embed"], dx, grads["embed"])
    return dx, grads
