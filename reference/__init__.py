"""The NumPy/Numba reference of the ARC layer (docs/layer.md): every equation as code, forward and hand-written
backward.

    import reference
    reference.set_backend("numba")                # or "numpy": the readable twins of the hot loops
    y, cache = reference.arc_forward(x, params, n=4, T=8)
    dx, grads = reference.arc_backward(dy, cache)
    reference.cache_stats(cache)                  # multiply-adds per term, elements kept for the backward

Standalone: imports neither `arc` nor torch. Derivations: docs/reference.md.
"""

from reference.backend import BACKENDS, get_backend, set_backend
from reference.layer import (
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
