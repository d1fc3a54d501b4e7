"""Class names, their index order, and the selective horizontal flip derived from them (docs/data.md).

Index order: where a dataset names its classes (Something-Something, Kinetics) the index of a class is
its position among the **sorted** names — the TSM and ARC convention. MMAction2 numbers them in the
order of its label file instead, so a checkpoint's class `i` differs between the two; map by name.
Where the files give integer labels (Diving48, generic lists), those integers are the indices.

Selective flip: mirroring a video of "Pushing something from left to right" shows "Pushing something
from right to left". A class whose name contains the word "left" or "right" flips into the class whose
name has the two words swapped; when no such class exists its samples are never flipped; every other
class flips into itself.
"""

from __future__ import annotations

import re

import numpy as np

_LEFT_RIGHT = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_SWAP = {"left": "right", "right": "left"}


def swap_left_right(name: str) -> str | None:
    """`name` with every whole word "left" and "right" swapped (case kept); None if it has neither."""
    if not _LEFT_RIGHT.search(name):
        return None

    def swap(m):
        word = m.group(0)
        new = _SWAP[word.lower()]
        return new.capitalize() if word[0].isupper() else new

    return _LEFT_RIGHT.sub(swap, name)


def flip_map(classes: list[str], policy: str = "selective") -> np.ndarray:
    """`m[i]`: the label of a class-`i` sample after a horizontal flip, or -1 when it must not be flipped.

    policy "selective": as in the module docstring; "always": every class into itself; "never": all -1."""
    n = len(classes)
    if policy == "always":
        return np.arange(n)
    if policy == "never":
        return np.full(n, -1)
    if policy != "selective":
        raise ValueError(f"flip policy must be 'selective', 'always' or 'never', got {policy!r}")
    index = {name: i for i, name in enumerate(classes)}
    m = np.arange(n)
    for i, name in enumerate(classes):
        swapped = swap_left_right(name)
        if swapped is not None:
            m[i] = index.get(swapped, -1)
    return m


def flip_pairs(classes: list[str]) -> list[tuple[int, int]]:
    """The pairs `(i, j)`, `i < j`, that the selective flip exchanges."""
    m = flip_map(classes, "selective")
    return [(i, int(j)) for i, j in enumerate(m) if j > i]
