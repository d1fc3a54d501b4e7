"""The NumPy/Numba reference of the ARC layer (docs/layer.md): every equation as code, forward and hand-written
backward.

    from arc import reference
    reference.set_backend("numba")                # or "numpy": the readable twins of the hot loops
    y, cache = reference.arc_forward(x, params, n=4, T=8)
    dx, grads = reference.arc_backward(dy, cache)
    reference.cache_stats(cache)                  # multiply-adds per term, elements kept for the backward

Standalone: imports nothing of `arc`'s other modules and no torch (it lives in the repository's reference/ folder and
installs as `arc.reference`; its modules import one another relatively). Derivations: docs/reference.md.
"""

from .backend import BACKENDS, get_backend, set_backend
from .layer import (
    CacheStats,
    LayerCache,
    StepCache,
    arc_backward,
    arc_forward,
    cache_stats,
    pool_space_commutes,
)

__all__ = [
    "BACKENDS",
    "CacheStats",
    "LayerCache",
    "StepCache",
    "arc_backward",
    "arc_forward",
    "cache_stats",
    "get_backend",
    "pool_space_commutes",
    "set_backend",
]
