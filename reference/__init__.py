"""The NumPy/Numba reference of the ARC layer (SPEC §1): every equation as code, forward and hand-written backward.

    import reference
    reference.set_backend("numba")                # or "numpy": the readable twins of the hot loops
    y, cache = reference.arc_forward(x, params, n=4, T=8)
    dx, grads = reference.arc_backward(dy, cache)
    cache["stats"]                                # multiply-adds per term, elements kept for the backward

Standalone: imports neither `arc` nor torch. Derivations: docs/reference.md.
"""

from reference.backend import BACKENDS, get_backend, set_backend
from reference.layer import arc_backward, arc_forward, pool_space_commutes

__all__ = ["BACKENDS", "arc_backward", "arc_forward", "get_backend", "pool_space_commutes", "set_backend"]
