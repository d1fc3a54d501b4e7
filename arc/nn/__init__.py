"""The model room: the ARC layer, the temporal shift, the MotionSqueeze module, ARC-TSM / ARC-MSN backbones, the
converter of any model (`arcify`) and loading weights into them. The names
of what a model is built from (backbones, stages, pools) are in `arc.nn.choices`, which imports without torch."""

from arc._lazy import exports

_PUBLIC = {
    "ARCConv2d": "arc.nn.layer", "TemporalShift": "arc.nn.shift", "temporal_shift": "arc.nn.shift",
    "VideoResNet": "arc.nn.models", "build_model": "arc.nn.models", "MotionSqueeze": "arc.nn.motion",
    "arcify": "arc.nn.arcify", "ArcifyReport": "arc.nn.arcify", "ArcifyError": "arc.nn.arcify",
    "LoadReport": "arc.nn.weights", "PretrainedError": "arc.nn.weights", "load_pretrained": "arc.nn.weights",
}
__all__ = list(_PUBLIC)
__getattr__ = exports(__name__, _PUBLIC)
