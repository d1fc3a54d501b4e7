"""The choices a model is built from — backbones, stages, pooling, ARU activation, the ARU terms and the attention's
pooled views (the paper's ablations), how ARC is differentiated — as names only, so that the command line can list
and check them without importing torch. Each fact is stated here once."""

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
ARU_NAMES = ("embed", "fuse", "attend")   # the ARU's terms, by their parameters: We (Eq. 5), Wf_j (Eq. 6), Wa_j (Eq. 7)
# the attention's pooled views (Eq. 7): PoolS ⊕ PoolT (the paper), PoolS alone, PoolT alone
ATTENTION_VIEWS = {"both": ("space", "time"), "space": ("space",), "time": ("time",)}
ATTENTIONS = tuple(ATTENTION_VIEWS)
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
    stages = _names(stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: choose from {sorted(STAGES)} (paper names), or 'none'")
    return tuple(sorted(set(stages)))


def parse_aru_terms(terms) -> tuple[str, ...]:
    """`"fuse,attend"`, `("fuse", "attend")`, `"none"` or `()` → the ARU terms kept, in the order of `ARU_NAMES`."""
    terms = _names(terms)
    unknown = [t for t in terms if t not in ARU_NAMES]
    if unknown:
        raise ValueError(f"unknown ARU term(s) {unknown}: choose from {', '.join(ARU_NAMES)}, or 'none'")
    return tuple(t for t in ARU_NAMES if t in terms)


def ablation_label(aru_terms=ARU_NAMES, attention: str = "both") -> str:
    """`ARU terms fuse,attend, attention space`: the ablation options that are not their defaults ("" for none), for
    titles and what a run prints."""
    terms = parse_aru_terms(aru_terms)
    parts = [f"ARU terms {','.join(terms) or 'none'}"] if terms != ARU_NAMES else []
    return ", ".join(parts + ([f"attention {attention}"] if attention != "both" else []))


def _names(value):
    """A comma list as typed (`"res3, res4"`; `"none"` or `""` for none) → its names; a sequence as it is."""
    if isinstance(value, str):
        return () if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",")]
    return value
