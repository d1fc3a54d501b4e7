"""Which implementation the hot loops run on: `"numba"` (default, fast) or `"numpy"` (the readable spec).

The choice is module-level state, read at every call::

    from arc import reference
    reference.set_backend("numpy")   # every later call runs the plain-NumPy twins
    reference.get_backend()          # -> "numpy"

Only the kernels of `reference/kernels.py` (the convolution and the 1×1 channel map that reuses it) have two
versions; every other op is NumPy on both backends.
"""

from __future__ import annotations

BACKENDS = ("numpy", "numba")

_backend = "numba"


def set_backend(name: str) -> None:
    """Select the kernels every later call uses: `"numpy"` or `"numba"`."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"reference.set_backend: backend must be one of {BACKENDS}, got {name!r}")
    _backend = name


def get_backend() -> str:
    """The backend in use: `"numpy"` or `"numba"`."""
    return _backend
