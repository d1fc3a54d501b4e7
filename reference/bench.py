"""Forward + backward of one ARC layer on the CPU with the Numba and the NumPy backends.

Shape of the issue's target: N=1, T=8, C=64 → 64, H=W=14, K=3, padding 1, n=4, float32, random non-zero
ARU maps (`inputs`). `run()` returns one row per backend: `name`, `median_ms` (median of `repeats` timed runs
after one untimed call) and, for numba, `compile_s` (first call minus the median: JIT compilation, or only
loading numba's on-disk cache once it is warm). Standalone like the rest of `reference/`; the comparison with
`arc.ARCConv2d` on the same inputs is `arc.bench.run_reference` (`arc bench reference`).
"""

from __future__ import annotations

import time

import numba
import numpy as np

from .backend import get_backend, set_backend
from .layer import arc_backward, arc_forward

N, T, C, H, W, K, N_PARTS = 1, 8, 64, 14, 14, 3, 4


def inputs(rng: np.random.Generator) -> tuple[np.ndarray, dict, np.ndarray]:
    """`(x, params, dy)` in float32: non-negative input, canonical parameters, an output gradient."""
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


def time_calls(step, repeats: int) -> tuple[float, list[float]]:
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
    """Time forward+backward of the layer for `numba` and `numpy`; see the module docstring."""
    if repeats < 1:
        raise ValueError(f"reference.bench.run: repeats must be >= 1, got {repeats}")
    saved = numba.get_num_threads(), get_backend()
    threads = saved[0] if threads is None else threads
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"reference.bench.run: threads must be in 1..{numba.config.NUMBA_NUM_THREADS}, got {threads}")
    x, params, dy = inputs(np.random.default_rng(0))

    def step():
        y, cache = arc_forward(x, params, N_PARTS, T, stride=1, padding=1, dilation=1)
        arc_backward(dy, cache)

    rows = []
    try:
        numba.set_num_threads(threads)
        for name in ("numba", "numpy"):
            set_backend(name)
            first, runs = time_calls(step, repeats)
            median = float(np.median(runs))
            row = {"name": name, "median_ms": 1e3 * median}
            if name == "numba":
                row["compile_s"] = max(first - median, 0.0)
            rows.append(row)
    finally:
        numba.set_num_threads(saved[0])
        set_backend(saved[1])
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
