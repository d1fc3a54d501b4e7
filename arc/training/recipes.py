"""Training recipes: the paper's Table 1 per dataset (docs/training.md), and a small `synthetic` preset for the CPU
demo. Keyed by the names of the dataset registry (`arc.data.registry`), which holds the facts about the data itself
(class count, test clips).

A recipe is a frozen dataclass of defaults. `resolve(dataset, **overrides)` returns the recipe with every value
the user gave replacing the preset's, plus the notes to announce — e.g. the linear lr scaling applied when the batch
size changes and the lr was not given (`lr = lr_paper · batch / batch_paper`, Goyal et al. 2017).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from arc.data.registry import DATASETS
from arc.training.schedule import SCHEDULES


@dataclass(frozen=True)
class Recipe:
    """Every training hyper-parameter the trainer reads. `batch_size` is the global batch (all processes)."""

    weight_decay: float
    batch_size: int
    epochs: int
    lr: float
    dropout: float
    schedule: str                    # "multistep" | "cosine"
    milestones: tuple[int, ...] = ()  # multistep: lr ×gamma from each of these epochs on (0-based)
    gamma: float = 0.1
    warmup_epochs: float = 0.0       # cosine: linear warm-up from 0 over these epochs
    num_segments: int = 8            # frames per clip, T
    input_size: int = 224
    clip_grad: float = 20.0          # max global gradient norm; 0 disables (TSM's default 20, ARC's script 200)
    momentum: float = 0.9
    pretrained: str | None = "imagenet"
    sampling: str = "tsm"            # frames of a clip: TSM's sampler (the authors'), or "uniform" (every frame)


_SSV1 = Recipe(5e-4, 32, 50, 0.01, 0.5, "multistep", milestones=(30, 40))
_DIVING48 = Recipe(5e-4, 8, 30, 0.01, 0.5, "cosine", warmup_epochs=10)
RECIPES: dict[str, Recipe] = {
    "ssv1": _SSV1,
    "diving48": _DIVING48,
    "diving48-v1": _DIVING48,
    "k400": Recipe(1e-4, 64, 50, 0.01, 0.5, "multistep", milestones=(30, 40, 45)),
    # Generic list files: the SSv1 recipe (the paper's main setting); the class count comes from the lists.
    "list": _SSV1,
    # The CPU demo: 32×32 crops, from scratch, a few minutes. Tuned on the synthetic data: a lower lr and no
    # dropout (lr 0.01 with dropout 0.5 stays at chance for 15 epochs from scratch); cosine ends at a low lr.
    # 8 epochs with half an epoch of warm-up: ARC-TSM-R18 97.5 % (12 epochs with one: 99-100 %, at 1.5x the time;
    # 6 epochs: 78 %, 50 % with a 0.3-epoch warm-up; 8 epochs on 48 videos a class: 57.5 %).
    # Its videos have 14-18 frames: TSM's sampler would train on segments of one or two frames (always frames 0-7
    # below 16 frames) while validation spreads the 8 over the video; "uniform" draws from every frame.
    "synthetic": Recipe(5e-4, 16, 8, 0.003, 0.0, "cosine", warmup_epochs=0.5, input_size=32, pretrained=None,
                        sampling="uniform"),
    # The fine-grained benchmark (docs/results.md): the demo's recipe on 48×48 frames, budgeted so that one run of
    # ARC-TSM-R18 takes about 10 minutes on one CPU core.
    "synthetic-fine": Recipe(5e-4, 16, 10, 0.003, 0.0, "cosine", warmup_epochs=1, input_size=32, pretrained=None,
                             sampling="uniform"),
}
assert RECIPES.keys() == DATASETS.keys(), "every dataset of the registry has a recipe"


def resolve(dataset: str, **overrides) -> tuple[Recipe, tuple[str, ...]]:
    """The recipe for `dataset` with every non-None override applied, and the notes saying what was derived.

    Changing `batch_size` without giving `lr` scales the lr linearly with the batch size."""
    if dataset not in RECIPES:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(RECIPES)}")
    base = RECIPES[dataset]
    names = {f.name for f in dataclasses.fields(Recipe)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "milestones" in given:
        given["milestones"] = tuple(int(m) for m in given["milestones"])
    notes = []
    batch = given.get("batch_size", base.batch_size)
    if batch < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch}")
    if batch != base.batch_size and "lr" not in given:
        given["lr"] = base.lr * batch / base.batch_size
        notes.append(f"lr scaled linearly with the batch size: {base.lr:g} × {batch}/{base.batch_size} "
                     f"= {given['lr']:g}")
    recipe = dataclasses.replace(base, **given)
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {recipe.schedule!r}")
    if recipe.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {recipe.epochs}")
    return recipe, tuple(notes)
