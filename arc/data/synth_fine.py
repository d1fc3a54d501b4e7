"""The fine-grained synthetic family (`arc data synth --preset fine`, dataset `synthetic-fine`): twelve classes that
differ only in how a small arm moves on a moving body, among moving distractors, with camera shake.

Every video shows a *body* (a disc) drifting in a straight line across the middle of the frame, with an *arm* (a
bar ending in a knob) attached at its centre. The arm's angle relative to the body is `θ(τ) = θ0 + d·π·g(τ)` for
time `τ ∈ [0, 1]`: the class fixes the direction `d` (+1 clockwise on screen, −1 counterclockwise) and the pattern
`g`, and nothing else:

| classes (clockwise / counterclockwise)                  | g(τ)                                   |
|---------------------------------------------------------|----------------------------------------|
| Turning something …                                     | τ                                      |
| Swinging something … and back                           | out by τ = 1/2, back by τ = 1          |
| Swinging something … quickly and back slowly            | out by τ = 1/3, back by τ = 1          |
| Swinging something … slowly and back quickly            | out by τ = 2/3, back by τ = 1          |
| Shaking something in three strokes, … first             | three strokes over [0, 1], back and forth |
| Shaking something in four strokes, … first              | four strokes                           |

Classes come in near pairs (the same pattern in the two directions) and near groups (the three swings differ only
in when the arm turns back; three vs four strokes). Everything else is drawn from one distribution for every class,
in the same order from the video's generator, so that two videos drawn from the same seed differ only in the arm's
motion: the background, the body's colour, size and path, the arm's colour and length, the start angle `θ0`
(uniform on the circle), zero to two distractor shapes that drift and turn with a pattern and direction of their
own (drawn like a class's), and the camera shake (the whole frame moved by up to 2 % of its size, frame by frame).

Why a frame-averaging model is at chance: in any one frame the arm's angle is `θ0` plus something that does not
depend on `θ0`, and `θ0` is uniform on the circle, so the angle in a frame is uniform whatever the class and
independent of everything else in it; every other element of a frame has one distribution for all classes. So a
single frame carries no information about the class, and TSN, which scores frames one by one and averages the
scores, cannot do better than chance (1/12). Every `g` also spends equal time at every point of `[0, 1]`, so the
*set* of arm angles a video shows is the same half circle, evenly covered, for every class. What tells the classes
apart is the order of the arm's angles, on a body that moves: a model must find the arm and follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from arc.data.synth_draw import SUPERSAMPLE, background, colour, draw_shape, reduce

VERSION = 1
SPAN = np.pi                      # the arm turns through half a circle, whatever the class
BODY_RADIUS = (0.09, 0.11)        # fractions of the shorter side of the frame
ARM_LENGTH = (0.24, 0.28)         # centre of the body to the centre of the knob
ARM_WIDTH = 0.07
KNOB_RADIUS = 0.075
BODY_CENTRE = (0.42, 0.58)        # where the middle of the body's path lies, fractions of the width and height
BODY_TRAVEL = (0.0, 0.06)         # length of the body's path over the video
DISTRACTORS = 2                   # at most; 0, 1 or 2 with equal chance
DISTRACTOR_RADIUS = (0.06, 0.09)
DISTRACTOR_TRAVEL = (0.0, 0.25)
DISTRACTOR_SPIN = 0.0             # distractors turn through this fraction of the arm's half turn
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


_PATTERNS = {
    "Turning something {d}": strokes(1),
    "Swinging something {d} and back": swing(1 / 2),
    "Swinging something {d} quickly and back slowly": swing(1 / 3),
    "Swinging something {d} slowly and back quickly": swing(2 / 3),
    "Shaking something in three strokes, {d} first": strokes(3),
    "Shaking something in four strokes, {d} first": strokes(4),
}
#: class name → (pattern g, direction d)
MOTIONS = {name.format(d=word): (g, d) for name, g in _PATTERNS.items()
           for word, d in (("clockwise", 1), ("counterclockwise", -1))}
CLASSES = sorted(MOTIONS)


def start_angle(rng: np.random.Generator) -> float:
    """θ0: uniform on the circle — what makes the arm's angle in any one frame say nothing about the class."""
    return rng.uniform(0, 2 * np.pi)


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
    """Everything random about one video: background, distractors, the body and its arm, the camera shake."""

    background: Image.Image     # supersampled by SUPERSAMPLE, `margin` pixels wider on every side
    margin: int                 # in frame pixels
    size: tuple[int, int]       # (h, w) of the frames
    distractors: list[Shape]
    body: Shape
    arm_fill: tuple
    arm_length: float
    arm_angles: np.ndarray      # the arm's angle per frame (0 = pointing right; increasing = clockwise on screen)
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
    order for every class, so the same generator state gives the same scene with another arm motion."""
    g, direction = MOTIONS[label]
    h, w = size
    short = min(h, w)
    margin = int(np.ceil(SHAKE * short)) + 1
    bg, v_bg = background(rng, h + 2 * margin, w + 2 * margin)
    t = (np.arange(num_frames) + 0.5) / num_frames
    distractors, count = [], rng.integers(DISTRACTORS + 1)
    for i in range(DISTRACTORS):       # always drawn, so the draws after these do not depend on `count`
        shape = ("square", "triangle", "diamond")[rng.integers(3)]
        fill = _contrasting(rng, v_bg, rng.choice([-1.0, 1.0]))
        radius = rng.uniform(*DISTRACTOR_RADIUS) * short
        centre = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        xs, ys = _path(rng, centre, DISTRACTOR_TRAVEL, short, t)
        pattern, turn = MOTIONS[CLASSES[rng.integers(len(CLASSES))]]
        angles = start_angle(rng) + DISTRACTOR_SPIN * turn * SPAN * pattern(t)
        if i < count:
            distractors.append(Shape(shape, fill, radius, xs, ys, angles))
    side = rng.choice([-1.0, 1.0])
    body_fill = _contrasting(rng, v_bg, side)
    arm_fill = _contrasting(rng, v_bg, -side)
    body_radius = rng.uniform(*BODY_RADIUS) * short
    arm_length = rng.uniform(*ARM_LENGTH) * short
    centre = np.array([rng.uniform(*BODY_CENTRE) * w, rng.uniform(*BODY_CENTRE) * h])
    xs, ys = _path(rng, centre, BODY_TRAVEL, short, t)
    theta0 = start_angle(rng)
    shake = rng.uniform(-SHAKE, SHAKE, (num_frames, 2)) * short
    body = Shape("circle", body_fill, body_radius, xs, ys, np.zeros(num_frames))
    return FineScene(bg, margin, (h, w), distractors, body, arm_fill, arm_length,
                     theta0 + direction * SPAN * g(t), shake)


def draw_video(scene: FineScene) -> list[Image.Image]:
    """The frames of a scene (RGB, `scene.size`): distractors, then the arm, the body over the arm's root, the
    knob; seen through a window that the camera shake moves."""
    ss = SUPERSAMPLE
    h, w = scene.size
    short = min(h, w)
    body = scene.body
    frames = []
    for f in range(len(body.xs)):
        img = scene.background.copy()
        draw = ImageDraw.Draw(img)
        m = scene.margin
        for d in scene.distractors:
            draw_shape(draw, d.shape, (d.xs[f] + m) * ss, (d.ys[f] + m) * ss, d.radius * ss, d.fill, d.angles[f])
        x, y = (body.xs[f] + m) * ss, (body.ys[f] + m) * ss
        a = scene.arm_angles[f]
        tip = (x + scene.arm_length * ss * np.cos(a), y + scene.arm_length * ss * np.sin(a))
        draw.line([(x, y), tip], fill=scene.arm_fill, width=max(1, int(round(ARM_WIDTH * short * ss))))
        draw_shape(draw, "circle", x, y, body.radius * ss, body.fill)
        draw_shape(draw, "circle", *tip, KNOB_RADIUS * short * ss, scene.arm_fill)
        left = int(round((m + scene.shake[f, 0]) * ss))
        top = int(round((m + scene.shake[f, 1]) * ss))
        frames.append(reduce(img.crop((left, top, left + w * ss, top + h * ss))))
    return frames


def render_video(rng: np.random.Generator, label: str, num_frames: int,
                 size: tuple[int, int] = (48, 48)) -> list[Image.Image]:
    """Frames (RGB, `size` = (h, w)) of one video of class `label`; every random choice comes from `rng`."""
    return draw_video(plan_video(rng, label, num_frames, size))
