"""The choices a model is built from — backbones, stages, pooling, ARU activation, how ARC is differentiated — as
names only, so that the command line can list and check them without importing torch. Each fact is stated here once."""

from __future__ import annotations

# backbone -> torchvision's builder and ImageNet weights (looked up by name in `arc.nn.models`)
BACKBONES = {
    "r18": ("resnet18", "ResNet18_Weights"),
    "r34": ("resnet34", "ResNet34_Weights"),
    "r50": ("resnet50", "ResNet50_Weights"),
    "r101": ("resnet101", "ResNet101_Weights"),
}
# the paper's stage names -> torchvision's
STAGES = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}
DEFAULT_STAGES = ("res3", "res4", "res5")
POOLS = ("max", "mean")               # max: the paper; mean: the authors' released code
ARU_ACTS = ("relu", "leaky_relu")     # relu: the paper; leaky_relu (slope 0.01): the released code
ARU_NAMES = ("embed", "fuse", "attend")
MOTIONS = ("none", "ms")              # ms: MotionSqueeze after res3 (MSNet; ARC-MSN with n > 1)
IMPLS = ("lean", "autograd")          # lean: hand-written backward, keeps little (lean.py); autograd: the definition


def check_n(n, where: str = "n") -> int:
    """`n`, the number of recursive steps, as a positive int; ValueError naming `where` otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where} (the number of ARC recursive steps) must be an integer >= 1, got {n!r}")
    return n


def check_choice(value, choices, what: str):
    """`value` if it is one of `choices`; ValueError naming `what` and the choices otherwise."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_impls(impls) -> tuple[str, ...]:
    """`impls`, one or more of `IMPLS`, in order without repeats; ValueError otherwise."""
    impls = tuple(dict.fromkeys(impls))
    if not impls:
        raise ValueError(f"impls: name one or more of {', '.join(IMPLS)}")
    for impl in impls:
        check_choice(impl, IMPLS, "impl")
    return impls


def parse_stages(stages) -> tuple[str, ...]:
    """`"res3,res4"`, `("res3", "res4")`, `"none"` or `()` → a sorted tuple of paper stage names."""
    if isinstance(stages, str):
        stages = () if stages.strip().lower() in ("", "none") else [s.strip() for s in stages.split(",")]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: choose from {sorted(STAGES)} (paper names), or 'none'")
    return tuple(sorted(set(stages)))
