"""The fine-grained synthetic family (`arc data synth --preset fine`, dataset `synthetic-fine`): twelve classes that
differ only in how a small bead slides along a rod that drifts across the frame, among drifting distractors, with
camera shake.

Every video shows a *rod* (a bar, near horizontal) drifting in a straight line through the middle of the frame,
and a *bead* on it. The bead's place along the rod is `s(τ) = g(τ)` for time `τ ∈ [0, 1]`, from its left end (0)
to its right end (1); the class fixes `g` and nothing else:

| classes (right / left)                                   | g(τ) (right; left: 1 − g)                  |
|----------------------------------------------------------|--------------------------------------------|
| Sliding something from left to right / right to left     | τ                                          |
| Sliding something to the right and back                  | out by τ = 1/2, back by τ = 1              |
| Sliding something to the right quickly and back slowly   | out by τ = 0.4, back by τ = 1              |
| Sliding something to the right slowly and back quickly   | out by τ = 0.6, back by τ = 1              |
| Shaking something in three strokes, right first          | three strokes over [0, 1], back and forth  |
| Shaking something in four strokes, right first           | four strokes                               |

Classes come in mirror pairs (the same pattern starting to the right or to the left; the selective flip maps one
onto the other) and in near groups: the three back-and-forths differ only in when the bead turns (at 0.4, 0.5 or
0.6 of the video: less than a frame apart of the 8 a clip samples), three strokes from four by one more turn.
Everything else is drawn from one distribution for every class, in the same order from the video's generator, so
two videos drawn from the same seed differ only in the bead's motion: the background, the rod's
colour, length, tilt and path (its drift is as large as a fifth of the frame), the bead's colour and size, zero to
two distractor shapes that drift and turn at random, and the camera shake (the whole frame moved by up to 1.5 % of
its size, frame by frame).

Why a frame-averaging model is at chance: every `g` spends equal time at every point of `[0, 1]` (tested), so in
a frame taken at a uniformly random time the bead is at a uniformly random place along the rod, whatever the
class, independently of everything else in the frame. A single frame therefore carries no information about the
class, and TSN, which scores frames one by one and averages the scores, cannot do better than chance (1/12). The
*set* of places a video's frames show is the same, evenly covered rod for every class. What tells the classes
apart is the order of those places — where the bead goes first, when and how often it turns — on a rod that moves
on its own: a model must find the bead and follow it relative to the rod.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from arc.data.synth_draw import SUPERSAMPLE, background, colour, draw_shape, reduce

VERSION = 1
ROD_LENGTH = (0.45, 0.55)         # fractions of the shorter side of the frame
ROD_WIDTH = 0.06
ROD_TILT = np.pi / 12             # the rod's angle to the horizontal, uniform in ±this
BEAD_RADIUS = (0.085, 0.1)
ROD_CENTRE = (0.42, 0.58)         # where the middle of the rod's path lies, fractions of the width and height
ROD_TRAVEL = (0.05, 0.2)          # length of the rod's path over the video
DISTRACTORS = 2                   # at most; 0, 1 or 2 with equal chance
DISTRACTOR_RADIUS = (0.06, 0.09)
DISTRACTOR_TRAVEL = (0.0, 0.25)
DISTRACTOR_TURN = np.pi / 2       # distractors turn at a constant speed, at most this much over the video
SHAKE = 0.015                     # camera shake: the frame moves by up to this fraction per axis, frame by frame
DEFAULTS = dict(train_per_class=80, val_per_class=25, frames=(14, 18), size=(48, 48))


def strokes(k: int):
    """`k` strokes back and forth over [0, 1] at constant speed (k = 1: one sweep)."""
    def g(t):
        u = k * np.asarray(t, dtype=np.float64)
        i = np.minimum(np.floor(u), k - 1)
        return np.where(i % 2 == 0, u - i, 1 - (u - i))
    return g


def swing(turn: float):
    """Out from 0 to 1 by time `turn`, back to 0 by time 1; spends equal time at every point."""
    def g(t):
        t = np.asarray(t, dtype=np.float64)
        return np.where(t < turn, t / turn, (1 - t) / (1 - turn))
    return g


def _mirrored(g):
    return lambda t: 1 - g(t)


_PATTERNS = {   # the "right" member of each mirror pair
    ("Sliding something from left to right", "Sliding something from right to left"): strokes(1),
    ("Sliding something to the right and back", "Sliding something to the left and back"): swing(1 / 2),
    ("Sliding something to the right quickly and back slowly",
     "Sliding something to the left quickly and back slowly"): swing(0.4),
    ("Sliding something to the right slowly and back quickly",
     "Sliding something to the left slowly and back quickly"): swing(0.6),
    ("Shaking something in three strokes, right first", "Shaking something in three strokes, left first"): strokes(3),
    ("Shaking something in four strokes, right first", "Shaking something in four strokes, left first"): strokes(4),
}
#: class name → g: the bead's place along the rod over time, 0 at its left end, 1 at its right end
MOTIONS = {name: g if k == 0 else _mirrored(g) for names, g in _PATTERNS.items() for k, name in enumerate(names)}
CLASSES = sorted(MOTIONS)


def frame_times(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """When the `num_frames` frames are taken, in [0, 1]: evenly spaced, at a random phase. Without the phase a
    pattern of several strokes shows the bead at only a few places (four strokes over 16 frames: four places),
    which a single frame could tell from a sweep's sixteen; with it, frame `k` is at a uniform time in
    `[k/N, (k+1)/N)`, so a frame taken at random is at a uniform time and the bead at a uniform place."""
    return (np.arange(num_frames) + rng.random()) / num_frames


@dataclass
class Shape:
    """One drawn object per frame: centres `xs`, `ys` and angles `angles` (radians), in frame pixels."""

    shape: str
    fill: tuple
    radius: float
    xs: np.ndarray
    ys: np.ndarray
    angles: np.ndarray


@dataclass
class FineScene:
    """Everything random about one video: background, distractors, the rod and its bead, the camera shake."""

    background: Image.Image     # supersampled by SUPERSAMPLE, `margin` pixels wider on every side
    margin: int                 # in frame pixels
    size: tuple[int, int]       # (h, w) of the frames
    distractors: list[Shape]
    rod: Shape                  # `radius`: half its length; `angles`: its tilt
    rod_width: float
    bead: Shape                 # its centre per frame, on the rod
    places: np.ndarray          # the bead's place along the rod per frame, 0 (left end) to 1 (right end)
    shake: np.ndarray           # [frames, 2] camera offset (x, y) per frame, frame pixels


def _contrasting(rng: np.random.Generator, v_bg: float, side: float) -> tuple[int, int, int]:
    """A saturated colour whose brightness is 0.3-0.45 above (`side` +1) or below (-1) the background's."""
    v = float(np.clip(v_bg + side * rng.uniform(0.3, 0.45), 0.03, 0.97))
    return colour(rng.random(), rng.uniform(0.4, 0.9), v)


def _path(rng: np.random.Generator, centre: np.ndarray, travel: tuple[float, float], short: float, t: np.ndarray):
    """A straight path at constant speed through `centre` (mid-video), random direction and length."""
    heading = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(*travel) * short
    step = length * np.array([np.cos(heading), np.sin(heading)])
    return centre[:, None] + step[:, None] * (t - 0.5)[None, :]


def plan_video(rng: np.random.Generator, label: str, num_frames: int, size: tuple[int, int] = (48, 48)) -> FineScene:
    """The scene of one video of class `label` (`size` = (h, w)). The draws from `rng` are the same in number and
    order for every class, so the same generator state gives the same scene with another bead motion."""
    g = MOTIONS[label]
    h, w = size
    short = min(h, w)
    margin = int(np.ceil(SHAKE * short)) + 1
    bg, v_bg = background(rng, h + 2 * margin, w + 2 * margin)
    t = frame_times(rng, num_frames)
    distractors, count = [], rng.integers(DISTRACTORS + 1)
    for i in range(DISTRACTORS):       # always drawn, so the draws after these do not depend on `count`
        shape = ("square", "triangle", "diamond")[rng.integers(3)]
        fill = _contrasting(rng, v_bg, rng.choice([-1.0, 1.0]))
        radius = rng.uniform(*DISTRACTOR_RADIUS) * short
        centre = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        xs, ys = _path(rng, centre, DISTRACTOR_TRAVEL, short, t)
        angles = rng.uniform(0, 2 * np.pi) + rng.uniform(-DISTRACTOR_TURN, DISTRACTOR_TURN) * t
        if i < count:
            distractors.append(Shape(shape, fill, radius, xs, ys, angles))
    side = rng.choice([-1.0, 1.0])
    rod_fill = _contrasting(rng, v_bg, side)
    bead_fill = _contrasting(rng, v_bg, -side)
    half = rng.uniform(*ROD_LENGTH) * short / 2
    tilt = rng.uniform(-ROD_TILT, ROD_TILT)
    bead_radius = rng.uniform(*BEAD_RADIUS) * short
    centre = np.array([rng.uniform(*ROD_CENTRE) * w, rng.uniform(*ROD_CENTRE) * h])
    xs, ys = _path(rng, centre, ROD_TRAVEL, short, t)
    shake = rng.uniform(-SHAKE, SHAKE, (num_frames, 2)) * short
    places = g(t)
    along = (2 * places - 1) * half
    rod = Shape("rod", rod_fill, half, xs, ys, np.full(num_frames, tilt))
    bead = Shape("circle", bead_fill, bead_radius, xs + along * np.cos(tilt), ys + along * np.sin(tilt),
                 np.zeros(num_frames))
    return FineScene(bg, margin, (h, w), distractors, rod, ROD_WIDTH * short, bead, places, shake)


def draw_video(scene: FineScene) -> list[Image.Image]:
    """The frames of a scene (RGB, `scene.size`): distractors, the rod, the bead; seen through a window that the
    camera shake moves."""
    ss, m = SUPERSAMPLE, scene.margin
    h, w = scene.size
    rod, bead = scene.rod, scene.bead
    frames = []
    for f in range(len(rod.xs)):
        img = scene.background.copy()
        draw = ImageDraw.Draw(img)
        for d in scene.distractors:
            draw_shape(draw, d.shape, (d.xs[f] + m) * ss, (d.ys[f] + m) * ss, d.radius * ss, d.fill, d.angles[f])
        x, y, a = (rod.xs[f] + m) * ss, (rod.ys[f] + m) * ss, rod.angles[f]
        dx, dy = rod.radius * ss * np.cos(a), rod.radius * ss * np.sin(a)
        width = max(1, int(round(scene.rod_width * ss)))
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=rod.fill, width=width)
        for end in (-1, 1):
            draw_shape(draw, "circle", x + end * dx, y + end * dy, width / 2, rod.fill)
        draw_shape(draw, "circle", (bead.xs[f] + m) * ss, (bead.ys[f] + m) * ss, bead.radius * ss, bead.fill)
        left = int(round((m + scene.shake[f, 0]) * ss))
        top = int(round((m + scene.shake[f, 1]) * ss))
        frames.append(reduce(img.crop((left, top, left + w * ss, top + h * ss))))
    return frames


def render_video(rng: np.random.Generator, label: str, num_frames: int,
                 size: tuple[int, int] = (48, 48)) -> list[Image.Image]:
    """Frames (RGB, `size` = (h, w)) of one video of class `label`; every random choice comes from `rng`."""
    return draw_video(plan_video(rng, label, num_frames, size))
