"""Reading the few frames a clip needs, from a video file (PyAV) or a folder of frame images (Pillow).

A video is first *demuxed* (packets only, no decoding) to learn its frame timestamps and keyframes; then
each requested frame is reached by seeking to the keyframe before it — unless the decoder is already
inside that group of pictures — and decoding forward from there. Frames between two requested ones in
the same group must be decoded (that is how inter-frame codecs work), but they are never converted to
RGB, and groups that hold no requested frame are skipped entirely.

A video whose file holds fewer frames than its container declares (an mp4 with its index at the front, cut short)
is refused with `TruncatedVideo` rather than read as a shorter video.

Every file is input from a stranger: a path that is not a regular file (a FIFO, which would block the open forever,
a device, a socket) is refused from its `stat` before anything opens it; a frame larger than `MAX_FRAME_PIXELS` is
refused from its header before it is decoded (a 69-byte PNG can claim 40000×40000 pixels); and every decoder error
is a `MediaError`, the unreadable-sample path (training replaces the sample and counts it against
`--max-bad-fraction`, evaluation leaves it out, `arc predict` reports it in one line).
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from pathlib import Path

import av
from PIL import Image

from arc.data.errors import MediaError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_FORMATS = ("JPEG", "PNG", "MPO")     # the decoders Pillow may use for them (MPO: a camera's multi-picture JPEG)
MAX_FRAME_PIXELS = 4096 * 4096             # per frame: 4K UHD (3840 × 2160) fits twice; 16.8 M pixels, 50 MB as RGB
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")
# optical-flow images that MMAction2 / TSN extraction tools write beside the RGB frames
_FLOW_PREFIXES = ("flow", "x_", "y_")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
# what PyAV raises on broken files (FFmpeg errors; bad metadata encodings; truncated streams)
_AV_ERRORS = (av.FFmpegError, OSError, EOFError, ValueError)
_DURATION_TAG = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d*)?)")
_DURATION_SLACK = 0.5   # seconds a Matroska track may fall short of its DURATION tag (timestamp rounding)


class TruncatedVideo(MediaError):
    """A video with fewer frames than its container declares, or whose frames cannot all be decoded."""


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path, what: str) -> os.stat_result:
    """`stat` of `path` (links followed), or `MediaError` unless it is a regular file — decided without opening it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MediaError(path, f"{what} not found") from None
    except (OSError, ValueError) as e:
        raise MediaError(path, f"cannot read {what}: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a file")
        raise MediaError(path, f"{what} is not a regular file ({kind})")
    return st


def _open_image(path: Path):
    """A regular file opened for reading — `O_NONBLOCK` and a second `fstat`, so that a file swapped for a FIFO
    after the first `stat` is refused, not waited on."""
    regular_file(path, f"frame image {path.name}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MediaError(path.parent, f"frame image {path.name} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def check_pixels(width: int, height: int, path, what: str) -> None:
    """`MediaError` for a frame over the pixel budget `MAX_FRAME_PIXELS`, before it is decoded."""
    if width * height > MAX_FRAME_PIXELS:
        raise MediaError(path, f"{what} is {width}×{height} pixels, more than the {MAX_FRAME_PIXELS:,} a frame may "
                               f"have (arc.data.video.MAX_FRAME_PIXELS)")


def _frame_key(path: Path):
    m = _LAST_NUMBER.search(path.stem)
    return (path.stem[: m.start()] if m else path.stem, int(m.group(1)) if m else -1, path.name)


def frame_number(path: Path) -> tuple[str, int] | None:
    """The numbering of a frame image's name: its stem with the last number replaced by `#`, and that number
    (`img_00017.jpg` → `("img_#", 17)`); None without a number."""
    stem = Path(path).stem
    m = _LAST_NUMBER.search(stem)
    return (stem[: m.start()] + "#" + stem[m.end():], int(m.group(1))) if m else None


def list_frames(folder: Path) -> list[Path]:
    """Frame images of a folder in temporal order: by the last number in the name (`00001.jpg`,
    `img_00001.jpg`, `image_1.png`), optical-flow images (`flow_*`, `x_*`, `y_*`) left out."""
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.lower().startswith(_FLOW_PREFIXES)]
    return sorted(files, key=_frame_key)


class FrameFolder:
    """A video stored as one image per frame."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise MediaError(self.path, "frame folder not found")
        self.files = list_frames(self.path)
        if not self.files:
            raise MediaError(self.path, "no frame images (.jpg/.jpeg/.png) in the folder")

    @property
    def num_frames(self) -> int:
        return len(self.files)

    def read(self, indices, strict: bool = False) -> list[Image.Image]:
        """RGB images of the frames at `indices` (0-based, repeats allowed), fully decoded (`strict`: as
        `VideoFile.read`; every image is decoded in full either way)."""
        cache: dict[int, Image.Image] = {}
        for i in sorted(set(int(i) for i in indices)):
            f = self.files[i]
            try:
                with _open_image(f) as file, Image.open(file, formats=IMAGE_FORMATS) as img:
                    check_pixels(img.width, img.height, self.path, f"frame image {f.name}")
                    cache[i] = img.convert("RGB")
            except MediaError as e:
                raise MediaError(self.path, e.reason) from None
            except Exception as e:     # Pillow's decoders raise many kinds (DecompressionBombError, SyntaxError, …)
                raise MediaError(self.path, f"corrupt frame image {f.name}: {e}") from None
        return [cache[int(i)] for i in indices]

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoFile:
    """A video file read with PyAV; `num_frames` counts the packets of its first video stream, `decoded`
    the frames decoded so far, `declared_frames` the count its container declares (None when it declares none,
    as Matroska / WebM do).

    Raises `TruncatedVideo` when the file holds fewer packets than declared, its last packet is cut short, or — where
    no frame count is declared — its frames end more than half a second before the track's `DURATION` tag."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.decoded = 0
        self.declared_frames = None
        if regular_file(self.path, "video file").st_size == 0:
            raise MediaError(self.path, "empty file (0 bytes)")
        try:
            self.container = av.open(str(self.path))
        except _AV_ERRORS as e:
            raise MediaError(self.path, f"cannot open video: {_av_message(e)}") from None
        try:
            if not self.container.streams.video:
                raise MediaError(self.path, "no video stream in the file")
            self.stream = self.container.streams.video[0]
            check_pixels(self.stream.codec_context.width or 0, self.stream.codec_context.height or 0, self.path,
                         "the video's frame")
            self.declared_frames = self.stream.frames or None
            self._index()
        except BaseException:
            self.container.close()
            raise

    def _index(self):
        """Presentation timestamps of all frames (sorted) and of the keyframes, from the packets alone; the check
        against the declared frame count (empty packets, which some AVI files use for repeated frames, count)."""
        pts, keys = [], []
        packets, cut, end = 0, False, None
        try:
            for packet in self.container.demux(self.stream):
                t = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0:
                    packets += t is not None      # the demuxer's final flush packet has no timestamp
                    continue
                if t is None:
                    raise MediaError(self.path, "video packets carry no timestamps")
                packets += 1
                cut = packet.is_corrupt          # a read that ended inside the packet's data
                end = max(end if end is not None else t, t + (packet.duration or 0))
                pts.append(t)
                if packet.is_keyframe:
                    keys.append(t)
        except MediaError:
            raise
        except _AV_ERRORS as e:
            raise MediaError(self.path, f"corrupt video (while demuxing): {_av_message(e)}") from None
        if self.declared_frames is not None and packets < self.declared_frames:
            raise TruncatedVideo(self.path, f"truncated: the container declares {self.declared_frames} frames, "
                                            f"the file holds {packets}")
        declared_seconds = _declared_seconds(self.stream)
        if self.declared_frames is None and declared_seconds is not None and pts:
            held = float((end - min(pts)) * self.stream.time_base)
            if held < declared_seconds - _DURATION_SLACK:
                raise TruncatedVideo(self.path, f"truncated: the container declares {declared_seconds:.2f} s of "
                                                f"video, the file holds {held:.2f} s")
        if cut:
            raise TruncatedVideo(self.path, f"truncated: the data of its last frame ({packets} of "
                                            f"{self.declared_frames or packets}) is cut short")
        if not pts:
            raise MediaError(self.path, "no video frames in the file")
        self.pts = sorted(pts)
        self.keys = sorted(keys) or self.pts[:1]

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    def read(self, indices, strict: bool = False) -> list[Image.Image]:
        """RGB images of the frames at `indices` (0-based, repeats allowed).

        For each wanted timestamp the first decoded frame at or after it is taken. When decoding ends before a
        wanted frame (the decoder may drop a damaged packet) the last decoded frame stands in for it, or, with
        `strict`, `TruncatedVideo` says where decoding stopped."""
        wanted = sorted(set(int(i) for i in indices))
        images: dict[int, Image.Image] = {}
        frames = None          # the decoding generator, positioned after `current`
        current = None         # the last decoded frame
        current_image = None
        exhausted = False
        try:
            for i in wanted:
                target = self.pts[i]
                if current is not None and current.pts is not None and current.pts >= target:
                    if current_image is None:
                        check_pixels(current.width, current.height, self.path, f"frame {i + 1}")
                        current_image = current.to_image()
                    images[i] = current_image
                    continue
                key = self.keys[max(bisect.bisect_right(self.keys, target) - 1, 0)]
                if not exhausted and (frames is None or current is None or current.pts is None
                                      or key > current.pts):
                    self.container.seek(key, stream=self.stream, backward=True, any_frame=False)
                    frames = self.container.decode(self.stream)
                found = False
                if not exhausted:
                    for frame in frames:
                        current, current_image = frame, None
                        self.decoded += 1
                        if frame.pts is not None and frame.pts >= target:
                            found = True
                            break
                    else:
                        exhausted = True
                if current is None:
                    raise MediaError(self.path, "no frame could be decoded")
                if not found and strict:
                    last = bisect.bisect_right(self.pts, current.pts if current.pts is not None else -1)
                    raise TruncatedVideo(self.path, f"decoding stops after frame {last} of {self.num_frames}; "
                                                    f"frame {i + 1} cannot be decoded")
                if current_image is None:
                    check_pixels(current.width, current.height, self.path, f"frame {i + 1}")
                    current_image = current.to_image()
                images[i] = current_image
                if not found:
                    exhausted = True
        except MediaError:
            raise
        except _AV_ERRORS as e:
            raise MediaError(self.path, f"corrupt video (while decoding): {_av_message(e)}") from None
        return [images[int(i)] for i in indices]

    def close(self):
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _av_message(e: Exception) -> str:
    """An FFmpeg error's own words, without the errno and the file name PyAV adds (the caller names the file)."""
    return getattr(e, "strerror", None) or str(e)


def _declared_seconds(stream) -> float | None:
    """A video track's own duration where the container declares no frame count: the `DURATION` tag FFmpeg's
    Matroska / WebM muxer writes (`HH:MM:SS.fraction`); None without one."""
    m = _DURATION_TAG.fullmatch(str(stream.metadata.get("DURATION", "")).strip())
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


def open_media(path) -> FrameFolder | VideoFile:
    """A reader for `path`: a folder of frame images, or a video file (anything else PyAV can open)."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if not path.exists():
        raise MediaError(path, "no such video file or frame folder")
    return VideoFile(path)
