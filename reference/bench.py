"""Forward + backward of one ARC layer on the CPU: the Numba backend, the NumPy backend and `arc.ARCConv2d`.

Shape of the issue's target: N=1, T=8, C=64 → 64, H=W=14, K=3, padding 1, n=4, float32, random non-zero
ARU maps. Every implementation runs with the same number of threads. `run()` returns one row per
implementation: `name`, `median_ms` (median of `repeats` timed runs after one untimed warm-up), `ratio`
(median / torch's median) and, for numba, `compile_s` (first call minus the median: JIT compilation, or only
loading numba's on-disk cache once it is warm). Imports torch and `arc` (the only part of `reference/` that does).
"""

from __future__ import annotations

import time

import numba
import numpy as np

from reference.backend import get_backend, set_backend
from reference.layer import arc_backward, arc_forward

N, T, C, H, W, K, N_PARTS = 1, 8, 64, 14, 14, 3, 4


def _inputs(rng: np.random.Generator) -> tuple[np.ndarray, dict, np.ndarray]:
    c = C // N_PARTS
    params = {
        "weight": rng.standard_normal((C, C, K, K)) / np.sqrt(C * K * K),
        "bias": 0.1 * rng.standard_normal(C),
        "embed": 0.05 * rng.standard_normal((C, C)),
        "fuse": 0.05 * rng.standard_normal((N_PARTS - 1, C, c)),
        "attend": 0.05 * rng.standard_normal((N_PARTS - 1, C, c)),
    }
    x = np.abs(rng.standard_normal((N * T, C, H, W)))
    dy = rng.standard_normal((N * T, C, H, W))
    return x.astype(np.float32), {k: v.astype(np.float32) for k, v in params.items()}, dy.astype(np.float32)


def _times(step, repeats: int) -> tuple[float, list[float]]:
    """Seconds of the first call, and of `repeats` calls after it."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        runs.append(time.perf_counter() - start)
    return first, runs


def run(repeats: int = 10, threads: int | None = None) -> list[dict]:
    """Time forward+backward of the layer for `numba`, `numpy` and `torch`; see the module docstring."""
    import torch

    from arc import ARCConv2d

    if repeats < 1:
        raise ValueError(f"reference.bench.run: repeats must be >= 1, got {repeats}")
    saved = torch.get_num_threads(), numba.get_num_threads(), get_backend()
    threads = saved[0] if threads is None else threads
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"reference.bench.run: threads must be in 1..{numba.config.NUMBA_NUM_THREADS}, got {threads}")
    x, params, dy = _inputs(np.random.default_rng(0))

    layer = ARCConv2d(C, C, K, padding=1, n=N_PARTS, num_segments=T)
    with torch.no_grad():
        for name, value in layer.named_parameters():
            value.copy_(torch.from_numpy(params[name]))
    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def torch_step():
        layer.zero_grad(set_to_none=True)
        xt.grad = None
        layer(xt).backward(dyt)

    def reference_step():
        y, cache = arc_forward(x, params, N_PARTS, T, stride=1, padding=1, dilation=1)
        arc_backward(dy, cache)

    rows = []
    try:
        torch.set_num_threads(threads)
        numba.set_num_threads(threads)
        for name in ("numba", "numpy", "torch"):
            if name == "torch":
                first, runs = _times(torch_step, repeats)
            else:
                set_backend(name)
                first, runs = _times(reference_step, repeats)
            median = float(np.median(runs))
            row = {"name": name, "median_ms": 1e3 * median}
            if name == "numba":
                row["compile_s"] = max(first - median, 0.0)
            rows.append(row)
    finally:
        torch.set_num_threads(saved[0])
        numba.set_num_threads(saved[1])
        set_backend(saved[2])
    torch_ms = rows[-1]["median_ms"]
    for row in rows:
        row["ratio"] = row["median_ms"] / torch_ms
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
