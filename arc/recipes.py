"""Training recipes: the paper's Table 1 (SPEC §4) per dataset, and a small `synthetic` preset for the CPU demo.

A recipe is a plain dataclass of defaults. `resolve(dataset, **overrides)` returns the recipe with every value the
user gave replacing the preset's, plus the notes to announce — e.g. the linear lr scaling applied when the batch size
changes and the lr was not given (`lr = lr_paper · batch / batch_paper`, Goyal et al. 2017).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

DATASETS = ("ssv1", "diving48", "diving48-v1", "k400", "list", "synthetic")


@dataclass(frozen=True)
class Recipe:
    """Every training hyper-parameter the trainer reads. `batch_size` is the global batch (all processes)."""

    dataset: str
    num_classes: int | None          # as the paper reports it (docs); the trainer takes the dataset's own count
    weight_decay: float
    batch_size: int
    epochs: int
    lr: float
    dropout: float
    schedule: str                    # "multistep" | "cosine"
    milestones: tuple[int, ...] = ()  # multistep: lr ×gamma from each of these epochs on (0-based)
    gamma: float = 0.1
    warmup_epochs: float = 0.0       # cosine: linear warm-up from 0 over these epochs
    frames: int = 8
    input_size: int = 224
    clip_grad: float = 20.0          # max global gradient norm; 0 disables (TSM's default 20, ARC's script 200)
    momentum: float = 0.9
    pretrained: str | None = "imagenet"
    test_clips: int = 1              # clips averaged by `arc eval` by default (Diving48: 2, SPEC §4)
    notes: tuple[str, ...] = field(default=())


RECIPES: dict[str, Recipe] = {
    "ssv1": Recipe("ssv1", 174, 5e-4, 32, 50, 0.01, 0.5, "multistep", milestones=(30, 40)),
    "diving48": Recipe("diving48", 48, 5e-4, 8, 30, 0.01, 0.5, "cosine", warmup_epochs=10, test_clips=2),
    "diving48-v1": Recipe("diving48-v1", 48, 5e-4, 8, 30, 0.01, 0.5, "cosine", warmup_epochs=10, test_clips=2),
    "k400": Recipe("k400", 400, 1e-4, 64, 50, 0.01, 0.5, "multistep", milestones=(30, 40, 45)),
    # Generic list files: the SSv1 recipe (the paper's main setting); the class count comes from the lists.
    "list": Recipe("list", None, 5e-4, 32, 50, 0.01, 0.5, "multistep", milestones=(30, 40)),
    # The CPU demo: 32×32 crops, from scratch, a few minutes. Tuned on the synthetic data: a lower lr and no
    # dropout (lr 0.01 with dropout 0.5 stays at chance for 15 epochs from scratch); cosine ends at a low lr.
    "synthetic": Recipe("synthetic", None, 5e-4, 16, 12, 0.003, 0.0, "cosine", warmup_epochs=1,
                        input_size=32, pretrained=None),
}


def resolve(dataset: str, **overrides) -> Recipe:
    """The recipe for `dataset` with every non-None override applied; `.notes` says what was derived.

    Changing `batch_size` without giving `lr` scales the lr linearly with the batch size."""
    if dataset not in RECIPES:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    base = RECIPES[dataset]
    names = {f.name for f in dataclasses.fields(Recipe)} - {"dataset", "notes"}
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
    if recipe.schedule not in ("multistep", "cosine"):
        raise ValueError(f"schedule must be 'multistep' or 'cosine', got {recipe.schedule!r}")
    if recipe.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {recipe.epochs}")
    return dataclasses.replace(recipe, notes=tuple(notes))
