"""Writing files atomically: the one helper every command uses for what it writes (checkpoints, metrics, configs,
scores, figures, manifests, exported models).

The bytes go to a temporary file beside the target (same folder, so the rename stays on one file system), are
flushed and fsynced, then `os.replace`d over the target, and the folder is fsynced: a reader sees the old file or the
new one, never half of one, and a crash or a full disk leaves the previous file intact. A write that fails removes
its temporary file and raises `WriteError`, one line naming the file, the reason and the free space — also when the
library that writes (torch.save, numpy, matplotlib) reports the failed write in its own exception.

A temporary is named `.<target name>.<8 random characters>.tmp`; a process killed mid-write leaves one behind, and
`temporaries()` finds them (the run folder removes those of its files when the next run starts).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"(?P<target>.+)\.[a-z0-9_]{8}" + re.escape(TMP_SUFFIX) + "$")
# errors of a write that did not fit (full disk, quota, file-size limit) or failed on the device
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


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


def temporaries(folder: str | os.PathLike, names=None) -> list[Path]:
    """The temporaries `atomic_open` left in `folder` (a killed write), of the targets `names` (default: any)."""
    found = []
    for p in Path(folder).iterdir() if Path(folder).is_dir() else ():
        m = _TMP_NAME.match(p.name)
        if m and (names is None or m["target"] in names) and p.is_file():
            found.append(p)
    return sorted(found)


def _write_failure(e: BaseException) -> OSError | None:
    """The OSError behind `e`: `e` itself, or a failed write that a library turned into its own exception (torch.save
    raises `RuntimeError: [enforce fail at inline_container.cc…]` from the `OSError` its file's write raised)."""
    if isinstance(e, OSError):
        return e
    seen = e.__cause__ or e.__context__
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _WRITE_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (innermost first) while they are empty: those a failed write created."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


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

    `mode` is "w" or "wb" (plus `open`'s keyword arguments: `encoding`, `newline`). The folder is created, and
    removed again (with the parents created for it) when the write fails."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    created = [p for p in path.absolute().parents if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as e:
        _remove_empty(created)
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
        _remove_empty(created)
        failure = _write_failure(e)
        if failure is not None and not isinstance(failure, WriteError):
            raise WriteError(f"cannot write {path}: {failure.strerror or failure} (free space there: "
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
