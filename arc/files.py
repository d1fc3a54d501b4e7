"""Writing files atomically: the one helper every command uses for what it writes (checkpoints, metrics, configs,
scores, figures, manifests, exported models).

The bytes go to a temporary file beside the target (same folder, so the rename stays on one file system), are
flushed and fsynced, then `os.replace`d over the target, and the folder is fsynced: a reader sees the old file or the
new one, never half of one, and a crash or a full disk leaves the previous file intact. A write that fails removes
its temporary file and raises `WriteError`, one line naming the file, the reason and the free space.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


class WriteError(OSError):
    """A file could not be written; the message names it, says why and how much room its folder has."""


def _free(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if free < 1000 or unit == "TB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1000
    return str(free)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()     # read once, at import: os.umask is process-wide and not thread-safe


def fsync_folder(folder: Path) -> None:
    """Make a rename inside `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """`open(path, mode)` whose content replaces `path` only when the block ends without an error.

    `mode` is "w" or "wb" (plus `open`'s keyword arguments: `encoding`, `newline`). The folder is created."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e} (free space there: {_free(path.parent)})") from None
    tmp = Path(tmp_name)
    try:
        os.chmod(fd, 0o666 & ~_UMASK)     # mkstemp makes 0600; a written file gets what open() would give it
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(f"cannot write {path}: {e.strerror or e} (free space there: "
                             f"{_free(path.parent)}); the previous file, if any, is intact") from None
        raise
    fsync_folder(path.parent)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically; return the path."""
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_with(path: str | os.PathLike, writer: Callable, *, binary: bool = True) -> Path:
    """Atomically write what `writer(f)` writes to the open file `f` (e.g. `torch.save`, `fig.savefig`)."""
    with atomic_open(path, "wb" if binary else "w") as f:
        writer(f)
    return Path(path)
