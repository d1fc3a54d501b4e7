"""Clip augmentation and test-time views (docs/data.md), one geometry for all frames of a clip.

Sizes are those of the paper at input 224 and scale with the input size `S` (factor `S/224`):
- pre-scaling: SSv1 and Diving48 frames to 240×320 (h×w), Kinetics' shorter side to 320;
- training: TSM's multi-scale crop — crop width and height each one of 1, .875, .75, .66 of the shorter
  side (at most one step apart, so the aspect stays near 1), placed at one of 13 fixed positions
  (corners, centre, edge midpoints, inner quarter points), resized to S×S — then a horizontal flip with
  probability 1/2 (subject to the flip map, see `arc.data.labels`);
- testing, `crops=1`: shorter side to 256·S/224, centre crop S×S;
- testing, `crops=3`: shorter side to 256·S/224 and three full-resolution square crops of that side
  (left, centre, right; top, middle, bottom for portrait frames), so the views are 256·S/224 wide.
Then ImageNet normalisation.

The chain pre-scale → crop → resize is one affine map per frame, so it is computed as a box in the
original frame and applied as a single resampling (Pillow, bilinear with antialiasing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from arc.data.sampling import TEST_CROPS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCALES = (1.0, 0.875, 0.75, 0.66)
REFERENCE_SIZE = 224
TEST_SHORT_SIDE = 256
# crop positions in quarters of the free space (x, y)
CROP_POSITIONS = ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4),
                  (1, 1), (3, 1), (1, 3), (3, 3))

Box = tuple[float, float, float, float]   # (left, top, right, bottom) as fractions of the frame


def scaled(pixels: float, input_size: int) -> int:
    """A size given for input 224, at input size `input_size`."""
    return max(1, round(pixels * input_size / REFERENCE_SIZE))


def prescaled_size(width: int, height: int, prescale, input_size: int) -> tuple[int, int]:
    """(w, h) of a `width`×`height` frame after pre-scaling: `None` keeps it, an int sets the shorter
    side, a pair `(h, w)` sets both (sizes for input 224)."""
    if prescale is None:
        return width, height
    if isinstance(prescale, int):
        short = scaled(prescale, input_size)
        r = short / min(width, height)
        return max(1, round(width * r)), max(1, round(height * r))
    h, w = prescale
    return scaled(w, input_size), scaled(h, input_size)


def multiscale_crop_box(width: int, height: int, input_size: int, rng: np.random.Generator) -> Box:
    """A random TSM multi-scale crop of a `width`×`height` (pre-scaled) frame."""
    base = min(width, height)
    sizes = [int(base * s) for s in SCALES]
    sizes = [input_size if abs(s - input_size) < 3 else s for s in sizes]
    pairs = [(w, h) for i, w in enumerate(sizes) for j, h in enumerate(sizes) if abs(i - j) <= 1]
    cw, ch = pairs[rng.integers(len(pairs))]
    cw, ch = min(cw, width), min(ch, height)
    qx, qy = CROP_POSITIONS[rng.integers(len(CROP_POSITIONS))]
    x0, y0 = qx * ((width - cw) // 4), qy * ((height - ch) // 4)
    return (x0 / width, y0 / height, (x0 + cw) / width, (y0 + ch) / height)


def centre_crop_box(width: int, height: int, input_size: int) -> Box:
    """Shorter side to 256·S/224, then the centre S×S."""
    r = scaled(TEST_SHORT_SIDE, input_size) / min(width, height)
    cw, ch = min(input_size / r, width), min(input_size / r, height)
    x0, y0 = (width - cw) / 2, (height - ch) / 2
    return (x0 / width, y0 / height, (x0 + cw) / width, (y0 + ch) / height)


def three_crop_boxes(width: int, height: int) -> list[Box]:
    """Three square crops of the shorter side along the longer one (start, centre, end)."""
    side = min(width, height)
    fx, fy = side / width, side / height
    if width >= height:
        return [(a, 0.0, a + fx, 1.0) for a in (0.0, (1 - fx) / 2, 1 - fx)]
    return [(0.0, a, 1.0, a + fy) for a in (0.0, (1 - fy) / 2, 1 - fy)]


@dataclass
class ClipTransform:
    """Frames → normalised views `[V, T, 3, S, S]` (V = clips·crops; 1 in training) and the label.

    `flip_map[label]` is the label after a horizontal flip (-1: never flip); `None` disables flipping."""

    input_size: int = 224
    prescale: object = None
    train: bool = False
    crops: int = 1
    flip_map: np.ndarray | None = None

    def __post_init__(self):
        if self.crops not in TEST_CROPS:
            raise ValueError(f"crops must be one of {', '.join(map(str, TEST_CROPS))}, got {self.crops}")
        if self.input_size < 8:
            raise ValueError(f"input_size must be >= 8, got {self.input_size}")

    @property
    def output_size(self) -> int:
        if self.train or self.crops == 1:
            return self.input_size
        return scaled(TEST_SHORT_SIDE, self.input_size)

    def boxes(self, width: int, height: int, rng: np.random.Generator | None) -> list[Box]:
        w, h = prescaled_size(width, height, self.prescale, self.input_size)
        if self.train:
            return [multiscale_crop_box(w, h, self.input_size, rng)]
        if self.crops == 1:
            return [centre_crop_box(w, h, self.input_size)]
        return three_crop_boxes(w, h)

    def __call__(self, clips: list[list[Image.Image]], label: int,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, int]:
        """`clips`: the frames of each clip (RGB images). Returns the views and the (possibly flipped) label."""
        rng = rng if rng is not None else np.random.default_rng()
        boxes = self.boxes(*clips[0][0].size, rng)
        flip = False
        if self.train and self.flip_map is not None:
            coin = rng.random()
            target = int(self.flip_map[label]) if label >= 0 else -1
            if target >= 0 and coin < 0.5:
                flip, label = True, target
        s = self.output_size
        views = np.empty((len(clips) * len(boxes), len(clips[0]), s, s, 3), dtype=np.uint8)
        for c, frames in enumerate(clips):
            for b, (left, top, right, bottom) in enumerate(boxes):
                for t, img in enumerate(frames):
                    w, h = img.size
                    out = img.resize((s, s), Image.BILINEAR, box=(left * w, top * h, right * w, bottom * h))
                    if flip:
                        out = out.transpose(Image.FLIP_LEFT_RIGHT)
                    views[c * len(boxes) + b, t] = np.asarray(out)
        return normalise(views), label


def normalise(views: np.ndarray) -> torch.Tensor:
    """uint8 `[..., H, W, 3]` → float32 `[..., 3, H, W]` with ImageNet mean and std."""
    x = torch.from_numpy(views).movedim(-1, -3).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()
