"""Tiny real media files for the data tests: frames that encode their own index, as JPEG folders or
H.264 videos written with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

# frame k: grey levels 16 + 9·(k mod 26) above and 16 + 9·(k div 26) below, recoverable after lossy coding
LEVEL0, LEVEL_STEP, BASE = 16, 9, 26


def frame(k: int, size=(48, 64)) -> Image.Image:
    """Frame number `k` (< 676), with a white square in the left quarter (to see flips)."""
    h, w = size
    a = np.empty((h, w, 3), dtype=np.uint8)
    a[: h // 2] = LEVEL0 + LEVEL_STEP * (k % BASE)
    a[h // 2:] = LEVEL0 + LEVEL_STEP * (k // BASE)
    a[h // 8: h // 8 + h // 4, w // 16: w // 16 + h // 4] = 255
    return Image.fromarray(a)


def index_of(img: Image.Image) -> int:
    """The `k` of a decoded (possibly resized) `frame(k)`, read from its right half, away from the square."""
    a = np.asarray(img.convert("L"), dtype=np.float64)
    h, w = a.shape
    low = round((np.median(a[: h // 2 - 2, w // 2:]) - LEVEL0) / LEVEL_STEP)
    high = round((np.median(a[h // 2 + 2:, w // 2:]) - LEVEL0) / LEVEL_STEP)
    return int(high * BASE + low)


def write_frames(folder: Path, n: int, size=(48, 64), name="{:05d}.jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        frame(k, size).save(folder / name.format(k + 1), quality=95)
    return folder


def write_video(path: Path, n: int, size=(48, 64), fps: int = 10, gop: int | None = None) -> Path:
    """An H.264 mp4 of `frame(0) … frame(n-1)`; `gop` sets the keyframe interval."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        options = {"crf": "10"} | ({"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"} if gop else {})
        stream = out.add_stream("libx264", rate=fps, options=options)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for k in range(n):
            for packet in stream.encode(av.VideoFrame.from_image(frame(k, size))):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_faststart(path: Path, n: int, size=(48, 64)) -> Path:
    """An H.264 mp4 of `frame(0) … frame(n-1)` in noise (so the frames, not the index, fill the file) with its index
    (moov) before the data, as streaming sites serve it: cut short, it still opens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).integers(0, 24, (n, *size, 3), dtype=np.uint8)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10, options={"crf": "10"})
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for k in range(n):
            image = Image.fromarray(np.asarray(frame(k, size)) + noise[k])
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut(path: Path, fraction: float) -> Path:
    """Keep the first `fraction` of the file's bytes, as an interrupted download does."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path
