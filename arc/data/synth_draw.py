"""Drawing the synthetic scenes (`arc.data.synth`, `arc.data.synth_fine`): colours, shapes, backgrounds.

Scenes are drawn `SUPERSAMPLE` times larger and reduced with a box filter, so that motion is smooth below a pixel.
Every random choice comes from the `numpy.random.Generator` passed in, in a fixed order, so the same seed draws
the same pixels.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 2
SHAPES = ("circle", "square", "triangle", "diamond")


def colour(h: float, s: float, v: float) -> tuple[int, int, int]:
    """RGB in 0..255 of hue `h` (wrapped), saturation `s`, value `v`."""
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, r: float, fill, angle: float = 0.0):
    """`shape` of radius `r` centred at (x, y), turned by `angle` radians (clockwise on screen: y points down)."""
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        return
    if shape == "square" and angle == 0:
        draw.rectangle((x - 0.85 * r, y - 0.85 * r, x + 0.85 * r, y + 0.85 * r), fill=fill)
        return
    corners = {"square": [(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
               "triangle": [(0, -1), (1, 0.8), (-1, 0.8)],
               "diamond": [(0, -1), (1, 0), (0, 1), (-1, 0)]}[shape]
    c, s = np.cos(angle), np.sin(angle)
    draw.polygon([(x + r * (c * u - s * v), y + r * (s * u + c * v)) for u, v in corners], fill=fill)


def background(rng: np.random.Generator, height: int, width: int) -> tuple[Image.Image, float]:
    """A static background, supersampled: a vertical colour gradient and up to two small still blobs. Returns the
    image and its brightness (value 0..1), for drawing objects that stand out from it."""
    ss = SUPERSAMPLE
    hue, sat = rng.random(), rng.uniform(0.15, 0.6)
    v_bg = rng.uniform(0.25, 0.75)
    top = np.array(colour(hue, sat, min(v_bg + 0.1, 1)), dtype=np.float32)
    bottom = np.array(colour(hue + 0.05, sat, max(v_bg - 0.1, 0)), dtype=np.float32)
    ramp = np.linspace(0, 1, height * ss, dtype=np.float32)[:, None, None]
    bg = np.broadcast_to(top + (bottom - top) * ramp, (height * ss, width * ss, 3)).astype(np.uint8)
    image = Image.fromarray(bg)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):
        draw_shape(draw, SHAPES[rng.integers(len(SHAPES))], rng.uniform(0, width) * ss, rng.uniform(0, height) * ss,
                   rng.uniform(0.04, 0.08) * height * ss,
                   colour(rng.random(), rng.uniform(0.1, 0.4), np.clip(v_bg + rng.uniform(-0.2, 0.2), 0, 1)))
    return image, float(v_bg)


def reduce(image: Image.Image) -> Image.Image:
    """A supersampled frame at its final size (box filter)."""
    return image.resize((image.width // SUPERSAMPLE, image.height // SUPERSAMPLE), Image.BOX)
