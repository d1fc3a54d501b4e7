"""arc — Adaptive Recursive Circle (ARC) for fine-grained video action recognition (Lin, Zhao & Wu, ICME 2022)."""

from arc.layer import ARCConv2d
from arc.shift import TemporalShift, temporal_shift

__all__ = ["ARCConv2d", "TemporalShift", "temporal_shift", "build_model"]


def __getattr__(name):
    if name == "build_model":
        from arc.models import build_model

        return build_model
    raise AttributeError(f"module 'arc' has no attribute {name!r}")
