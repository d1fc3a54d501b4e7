"""The ARC layer of docs/layer.md written out literally, for tests to hold `ARCConv2d` and what is drawn from it
against: every `U(Y_j)` materialised, pooled at full size, every map applied to full-size tensors, every sum
recomputed at every step; BatchNorm as its formula. Reads nothing from the layer but its parameters and settings."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def literal_arc(layer, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """`(Y, [Z_1, …, Z_n], [A_2, …, A_n])` of `layer` on `x [N·T, Cin, H, W]`, each state and attention map
    `[N·T, Cin, H, W]` (docs/layer.md, Eqs. 5–7); touches no running statistics. A term the layer leaves out
    (`aru_terms`) is 0 (`E = X0` without `embed`); the attention pools the views `attention` names."""
    n, c, T, size = layer.n, layer.out_channels // layer.n, layer.num_segments, x.shape[-2:]
    sigma = F.relu if layer.aru_act == "relu" else (lambda v: F.leaky_relu(v, 0.01))

    def f(z, i):
        """`f_i`: the conv, BatchNorm and activation of output channels `[i·c, (i+1)·c)` (0-based `i`)."""
        part = slice(i * c, (i + 1) * c)
        bias = None if layer.bias is None else layer.bias[part]
        y = F.conv2d(z, layer.weight[part], bias, layer.stride, layer.padding, layer.dilation)
        norm = layer.norm
        if norm is not None:
            if norm.training or norm.running_mean is None:       # the batch's statistics (biased variance)
                mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
            else:
                mean, var = norm.running_mean[part], norm.running_var[part]
            y = (y - mean[:, None, None]) / torch.sqrt(var[:, None, None] + norm.eps)
            if norm.weight is not None:
                y = y * norm.weight[part][:, None, None] + norm.bias[part][:, None, None]
        return y if layer.act is None else layer.act(y)

    def star(w, y):
        return torch.einsum("ok,bkhw->bohw", w, y)

    def pool_s(u):
        return u.amax((2, 3), keepdim=True) if layer.pool == "max" else u.mean((2, 3), keepdim=True)

    def pool_t(u):
        clips = u.view(-1, T, *u.shape[1:])
        pooled = clips.amax(1, keepdim=True) if layer.pool == "max" else clips.mean(1, keepdim=True)
        return pooled.expand_as(clips).reshape(u.shape)

    def pooled(u):
        return {"both": pool_s(u) + pool_t(u), "space": pool_s(u), "time": pool_t(u)}[layer.attention]

    terms = layer.aru_terms
    states, attention, ys = [x], [], [f(x, 0)]
    E = x + star(layer.embed, x) if n > 1 and "embed" in terms else x
    for i in range(1, n):
        us = [F.interpolate(y, size=size, mode="nearest") for y in ys]
        A = sum(star(layer.attend[j], pooled(u)) for j, u in enumerate(us)) if "attend" in terms else 0 * x
        Fu = sum(star(layer.fuse[j], u) for j, u in enumerate(us)) if "fuse" in terms else 0
        states.append(sigma(sigma(E + A) + Fu))
        attention.append(A)
        ys.append(f(states[-1], i))
    return torch.cat(ys, 1), states, attention
