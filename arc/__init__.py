"""arc — Adaptive Recursive Circle (ARC) for fine-grained video action recognition (Lin, Zhao & Wu, ICME 2022).

The package's rooms (docs/architecture.md): `arc.nn` (layer, shift, backbones, weights), `arc.data` (formats,
sampling, augmentation, loading), `arc.runtime` (device, precision, threads, processes), `arc.training` (config,
recipes, the loop, checkpoints), `arc.scoring`, `arc.evaluation`, `arc.overhead`, `arc.bench`.

The public names below load on first use, so light modules (the data registry, the recipes, the CLI's option
lists) import without torch.
"""

from arc._lazy import exports

_PUBLIC = {
    "ARCConv2d": "arc.nn.layer",
    "TemporalShift": "arc.nn.shift",
    "temporal_shift": "arc.nn.shift",
    "build_model": "arc.nn.models",
    "MotionSqueeze": "arc.nn.motion",
    "arcify": "arc.nn.arcify",
    "load_pretrained": "arc.nn.weights",
    "TrainConfig": "arc.training.config",
    "train": "arc.training.loop",
    "evaluate": "arc.evaluation",
    "predict": "arc.evaluation",
}
__all__ = list(_PUBLIC)

__getattr__ = exports(__name__, _PUBLIC)
