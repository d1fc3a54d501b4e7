"""`arc bench reference`: the NumPy reference (numba and numpy backends, `reference.bench`) against `ARCConv2d`
on the same inputs and the same number of threads."""

from __future__ import annotations

import statistics

import torch

from arc.bench.layer import step
from arc.nn.layer import ARCConv2d
from arc.runtime.device import cpu_threads


def time_reference(repeats: int = 10, threads: int | None = None) -> list[dict]:
    """The NumPy reference (`reference.bench`: numba and numpy backends) against `ARCConv2d` on the same inputs
    and the same number of threads (torch intra-op = numba); rows `name`, `median_ms`, `ratio` (to torch) and,
    for numba, `compile_s`."""
    import numpy as np

    from arc.reference import bench as ref

    threads = torch.get_num_threads() if threads is None else threads
    rows = ref.run(repeats=repeats, threads=threads)  # validates repeats and threads first
    x, params, dy = ref.inputs(np.random.default_rng(0))
    layer = ARCConv2d(ref.C, ref.C, ref.K, padding=1, n=ref.N_PARTS, num_segments=ref.T)
    with torch.no_grad():
        for name, value in layer.named_parameters():
            value.copy_(torch.from_numpy(params[name]))
    xt = torch.from_numpy(x).requires_grad_(True)
    with cpu_threads(threads):
        _, runs = ref.time_calls(step(layer, xt, torch.from_numpy(dy)), repeats)
    rows.append({"name": "torch", "median_ms": 1e3 * statistics.median(runs)})
    for row in rows:
        row["ratio"] = row["median_ms"] / rows[-1]["median_ms"]
    return rows
