"""arc — Adaptive Recursive Circle (ARC) for fine-grained video action recognition (Lin, Zhao & Wu, ICME 2022).

The public names load on first use, so light modules (`arc.recipes`, the CLI's option lists) import without torch.
"""

import importlib

_PUBLIC = {
    "ARCConv2d": "arc.layer",
    "TemporalShift": "arc.shift",
    "temporal_shift": "arc.shift",
    "build_model": "arc.models",
}
__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'arc' has no attribute {name!r}")
