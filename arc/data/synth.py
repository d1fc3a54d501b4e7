"""The built-in synthetic fine-grained dataset: real files in the Something-Something V1 layout (JPEG frame
folders + CSVs), or the Diving48 layout (mp4 + JSON), deterministic from a seed, written in seconds.

Every video shows one object sliding along a horizontal stretch `[a, a + L]` of a static background.
The classes differ only in the *order* in which the stretch is visited, `x(τ) = a + L·g(τ)` for time
`τ ∈ [0, 1]`:

| class                                   | g(τ)                         |
|-----------------------------------------|------------------------------|
| Moving something from left to right     | τ                            |
| Moving something from right to left     | 1 − τ                        |
| Moving something to the right and back  | 1 − |2τ − 1|                 |
| Moving something to the left and back   | |2τ − 1|                     |
| Shaking something                       | two back-and-forths, either side first |

Every `g` spends equal time at every point of `[0, 1]`, and everything else (background, object,
`a`, `L`, height) is drawn from the same distribution for every class, so the *set* of frames of a video
has the same distribution whatever the class: any model that treats the frames as an unordered set —
averaging per-frame scores, as TSN does — is at chance (1/5). Telling the classes apart needs the order
(direction of motion, where the object turns), which a temporal model such as TSM or ARC can see.
"left"/"right" classes pair under the selective flip (a mirrored "left to right" video is a "right to
left" one); "Shaking something" flips into itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from arc.data import synth_fine
from arc.data.synth_draw import SHAPES, SUPERSAMPLE, background, colour, draw_shape, reduce

VERSION = 1
PATTERNS = {
    "Moving something from left to right": lambda t, s: t,
    "Moving something from right to left": lambda t, s: 1 - t,
    "Moving something to the right and back": lambda t, s: 1 - np.abs(2 * t - 1),
    "Moving something to the left and back": lambda t, s: np.abs(2 * t - 1),
    "Shaking something": lambda t, s: np.abs(s - (1 - np.abs(1 - 2 * ((2 * t) % 1.0)))),
}
CLASSES = sorted(PATTERNS)
DEFAULTS = dict(train_per_class=80, val_per_class=24, frames=(14, 18), size=(72, 96))
_SPLIT_CODE = {"train": 1, "val": 2}
X264_EXACT = "threads=1:lookahead-threads=1:asm=0"   # the same bytes on every run and machine (write_mp4)


@dataclass
class Scene:
    """Everything random about one video: the static background and the object's path."""

    background: Image.Image     # supersampled by SUPERSAMPLE
    shape: str
    fill: tuple
    radius: float
    xs: np.ndarray              # object centre per frame, in frame pixels
    ys: np.ndarray


def plan_video(rng: np.random.Generator, label: str, num_frames: int, size: tuple[int, int] = (72, 96)) -> Scene:
    """The scene of one video of class `label` (`size` = (h, w)); every random choice comes from `rng`."""
    h, w = size
    bg, v_bg = background(rng, h, w)
    # the moving object: contrasting brightness, random shape, colour, size, stretch and height
    v_obj = v_bg + rng.choice([-1, 1]) * rng.uniform(0.35, 0.5)
    v_obj = v_obj if 0.05 <= v_obj <= 0.95 else v_bg - np.sign(v_obj - v_bg) * 0.42
    fill = colour(rng.random(), rng.uniform(0.4, 0.9), float(np.clip(v_obj, 0.03, 0.97)))
    shape = SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.12, 0.17) * h
    length = rng.uniform(0.35, 0.55) * w
    left = rng.uniform(0.15 * w, 0.85 * w - length)
    height = rng.uniform(0.35, 0.65) * h
    start_side = rng.integers(2)
    t = (np.arange(num_frames) + 0.5) / num_frames
    xs = left + length * PATTERNS[label](t, start_side) + rng.uniform(-0.5, 0.5, num_frames)
    ys = height + rng.uniform(-0.5, 0.5, num_frames)
    return Scene(bg, shape, fill, radius, xs, ys)


def draw_video(scene: Scene) -> list[Image.Image]:
    """The frames of a scene (RGB, drawn supersampled and reduced, so the motion is sub-pixel smooth)."""
    ss = SUPERSAMPLE
    frames = []
    for x, y in zip(scene.xs, scene.ys, strict=True):
        img = scene.background.copy()
        draw_shape(ImageDraw.Draw(img), scene.shape, x * ss, y * ss, scene.radius * ss, scene.fill)
        frames.append(reduce(img))
    return frames


def render_video(rng: np.random.Generator, label: str, num_frames: int,
                 size: tuple[int, int] = (72, 96)) -> list[Image.Image]:
    """Frames (RGB, `size` = (h, w)) of one video of class `label`; every random choice comes from `rng`."""
    return draw_video(plan_video(rng, label, num_frames, size))


@dataclass(frozen=True)
class Preset:
    """A family of synthetic datasets: its dataset name in the registry (and recipe), the version of its generator
    (a cached set is rewritten when it changes), its classes, how one video is drawn, and its default size. `order`:
    5 classes that differ in the order in which one object visits a stretch (make demo's set); `fine`: 12 classes
    that differ in how a small bead slides along a drifting rod (`arc.data.synth_fine`, docs/results.md)."""

    name: str
    dataset: str
    version: int
    classes: tuple[str, ...]
    render: Callable[..., list[Image.Image]]     # (rng, label, num_frames, size) -> frames
    defaults: dict


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("order", "synthetic", VERSION, tuple(CLASSES), render_video, DEFAULTS),
    Preset("fine", "synthetic-fine", synth_fine.VERSION, tuple(synth_fine.CLASSES), synth_fine.render_video,
           synth_fine.DEFAULTS),
)}


def get_preset(name: str) -> Preset:
    """The preset `name`; ValueError listing the presets otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_of(dataset: str) -> Preset | None:
    """The preset whose registry name is `dataset` (None for a dataset that is not synthetic)."""
    return next((p for p in PRESETS.values() if p.dataset == dataset), None)


def _videos(seed: int, split: str, per_class: int, frames: tuple[int, int], classes=CLASSES):
    """(video number, class name, frame count, rng) of every video of a split, classes interleaved at random."""
    order = np.random.default_rng((seed, _SPLIT_CODE[split], 0)).permutation(per_class * len(classes))
    for k, j in enumerate(order):
        rng = np.random.default_rng((seed, _SPLIT_CODE[split], 1, int(j)))
        yield k, classes[j % len(classes)], int(rng.integers(frames[0], frames[1] + 1)), rng


def write_mp4(path: Path, frames: list[Image.Image], fps: int = 12) -> Path:
    """H.264 in mp4, the same bytes on any machine with the same PyAV build: coded on one thread (x264's output
    depends on its thread count, which it takes from the CPU cores) and without x264's SIMD code (which reads
    bytes FFmpeg leaves uninitialised, so its output changed from run to run: about one run in three; plain C is
    about 1.7x slower here), no muxer version tag (`bitexact`)."""
    import av

    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as out:
        options = {"crf": "20", "preset": "fast", "x264-params": X264_EXACT}
        stream = out.add_stream("libx264", rate=fps, options=options)
        stream.codec_context.thread_count = 1
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _write(tmp: Path, preset: Preset, seed: int, layout: str, train_per_class: int, val_per_class: int,
           frames: tuple[int, int], size: tuple[int, int]) -> dict:
    classes = list(preset.classes)
    counts = {}
    if layout == "ssv1":
        (tmp / "something-something-v1-labels.csv").write_text("".join(f"{c}\n" for c in classes))
        video_dir = tmp / "20bn-something-something-v1"
    else:
        (tmp / "Diving48_vocab.json").write_text(json.dumps([c.split() for c in classes]))
        video_dir = tmp / "rgb"
    video_dir.mkdir()
    next_id = 1
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        lines, entries = [], []
        for _, label, n, rng in _videos(seed, split, per_class, frames, classes):
            vid = str(next_id) if layout == "ssv1" else f"synth_{next_id:05d}"
            next_id += 1
            images = preset.render(rng, label, n, size)
            if layout == "ssv1":
                (video_dir / vid).mkdir()
                for f, img in enumerate(images, 1):
                    img.save(video_dir / vid / f"{f:05d}.jpg", quality=90)
                lines.append(f"{vid};{label}\n")
            else:
                write_mp4(video_dir / f"{vid}.mp4", images)
                entries.append({"vid_name": vid, "label": classes.index(label), "start_frame": 0, "end_frame": n})
        if layout == "ssv1":
            name = {"train": "train", "val": "validation"}[split]
            (tmp / f"something-something-v1-{name}.csv").write_text("".join(lines))
        else:
            name = {"train": "train", "val": "test"}[split]
            (tmp / f"Diving48_V2_{name}.json").write_text(json.dumps(entries))
        counts[split] = per_class * len(classes)
    return counts


def write_synthetic(out, *, preset: str = "order", seed: int = 0, layout: str = "ssv1",
                    train_per_class: int | None = None, val_per_class: int | None = None,
                    frames: tuple[int, int] | None = None, size: tuple[int, int] | None = None) -> Path:
    """Write a synthetic dataset of the family `preset` ("order": `make demo`'s set; "fine": the fine-grained
    benchmark, `arc.data.synth_fine`) to the folder `out` (which must not exist or be empty) and return it.

    `layout` "ssv1": `20bn-something-something-v1/<id>/00001.jpg…` and the four SSv1 CSVs (train and
    validation splits); "diving48": `rgb/<vid>.mp4` (H.264 via PyAV), `Diving48_V2_{train,test}.json` and
    `Diving48_vocab.json`. `frames`: the range of frames per video; `size`: (h, w) of the frames; None: the preset's
    default. The folder is written beside `out` first and renamed into place, so it is never seen half-written."""
    p = get_preset(preset)
    params = resolve_params(preset, train_per_class=train_per_class, val_per_class=val_per_class, frames=frames,
                            size=size)
    train_per_class, val_per_class, frames, size = (params[k] for k in ("train_per_class", "val_per_class", "frames",
                                                                        "size"))
    if layout not in ("ssv1", "diving48"):
        raise ValueError(f"layout must be 'ssv1' or 'diving48', got {layout!r}")
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError("train_per_class and val_per_class must be >= 1")
    if not 1 <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be a range (lo, hi) with 1 <= lo <= hi, got {frames}")
    if min(size) < 8 or (layout == "diving48" and (size[0] % 2 or size[1] % 2)):
        raise ValueError(f"size must be at least 8x8 (and even for mp4), got {size}")
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder; remove it or choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        counts = _write(tmp, p, seed, layout, train_per_class, val_per_class, frames, size)
        manifest = dict(preset=p.name, version=p.version, seed=seed, layout=layout, train_per_class=train_per_class,
                        val_per_class=val_per_class, frames=list(frames), size=list(size), classes=list(p.classes),
                        videos=counts)
        (tmp / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def resolve_params(preset: str = "order", **given) -> dict:
    """The writing parameters of `preset` with every non-None value of `given` in place of its default."""
    params = {**get_preset(preset).defaults, **{k: v for k, v in given.items() if v is not None}}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def read_manifest(folder) -> dict | None:
    """The `synth.json` of a synthetic dataset folder (None when there is none or it cannot be read)."""
    try:
        return json.loads((Path(folder) / "synth.json").read_text())
    except (OSError, ValueError):
        return None


def is_complete(folder: Path, preset: str = "order", **params) -> bool:
    """Whether `folder` holds a finished synthetic dataset of `preset` written with `params` (checked via its
    manifest; a manifest without a preset is of the "order" family, the only one before there were presets)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    p = get_preset(preset)
    expected = dict(preset=p.name, version=p.version, **params)
    for key, value in expected.items():
        got = manifest.get(key, "order" if key == "preset" else None)
        if (list(value) if isinstance(value, tuple) else value) != got:
            return False
    videos = Path(folder) / ("20bn-something-something-v1" if manifest["layout"] == "ssv1" else "rgb")
    try:
        return len(os.listdir(videos)) == sum(manifest["videos"].values())
    except OSError:
        return False


def default_cache() -> Path:
    return Path(os.environ.get("ARC_CACHE") or Path.home() / ".cache" / "arc").expanduser()


def ensure_synthetic(cache_dir=None, seed: int = 0, preset: str = "order") -> Path:
    """The synthetic dataset of `preset` (SSv1 layout, its default size) in `cache_dir` (default `$ARC_CACHE` or
    `~/.cache/arc`), in the folder `<dataset>-v<version>-seed<seed>`, written when missing or incomplete. Safe when
    several processes (torchrun ranks, benchmark runs) call it at once."""
    p = get_preset(preset)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache()
    params = dict(seed=seed, layout="ssv1", **p.defaults)
    folder = cache / f"{p.dataset}-v{p.version}-seed{seed}"
    if is_complete(folder, preset, **params):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=cache))
    try:
        built = write_synthetic(staging / "data", preset=preset, **params)
        if folder.exists() and not is_complete(folder, preset, **params):
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale-", dir=cache))
            os.rename(folder, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(built, folder)
        except OSError:
            if not is_complete(folder, preset, **params):   # another process got there first, unless it failed
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
