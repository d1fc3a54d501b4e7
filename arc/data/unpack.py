"""Unpack a gzip-compressed tar archive — one file, or the parts of a split archive read in order as one stream —
into a new staging folder, checking the whole of it on the way: the gzip magic first (an error page saved under the
archive's name is refused at once), then every tar header and member, and at the end the gzip trailer's CRC-32 and
length. Nothing is left in the staging folder unless all of it checks out; the caller then moves the result into
the dataset's layout, so a corrupt or cut-short archive never leaves half a dataset behind.

Members are extracted with tarfile's "data" filter: no absolute paths, no `..`, no links leaving the folder, no
device files.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zlib
from pathlib import Path

from arc.data.errors import DataError
from arc.data.progress import Transfers

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


class CorruptArchive(DataError):
    """An archive is not a gzip-compressed tar, or is damaged or cut short."""


class _Parts(io.RawIOBase):
    """Several files read as one stream (`cat part-00 part-01 …`), reporting bytes read to `on_read`."""

    def __init__(self, paths, on_read=None):
        self.paths, self.on_read, self.k, self.f = list(paths), on_read, 0, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.k < len(self.paths):
            if self.f is None:
                self.f = open(self.paths[self.k], "rb")  # noqa: SIM115 (closed when read through, or by close)
            n = self.f.readinto(buffer)
            if n:
                if self.on_read:
                    self.on_read(n)
                return n
            self.f.close()
            self.f, self.k = None, self.k + 1
        return 0

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
        super().close()


def check_gzip(path) -> None:
    """`CorruptArchive` unless `path` starts like a gzip file (what an HTML error page does not)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(GZIP_MAGIC):
        text = head[:40].decode("latin-1").replace("\n", " ").strip()
        raise CorruptArchive(f"{path}: not a gzip archive (it begins {text!r}); a server or proxy may have sent a "
                             f"page instead of the file")


def unpack(paths, into, *, transfers: Transfers | None = None, label: str | None = None) -> Path:
    """Unpack the archive made of `paths` (in order) into the folder `into`, which must not exist; return it.
    `CorruptArchive` (with `into` removed) if any part of the archive is damaged, cut short or unsafe."""
    paths = [Path(p) for p in paths]
    into = Path(into)
    check_gzip(paths[0])
    transfers = transfers or Transfers(rich=False, stream=None)
    label = label or f"unpacking {paths[0].name}{f' (+{len(paths) - 1} parts)' if len(paths) > 1 else ''}"
    task = transfers.task(label, sum(p.stat().st_size for p in paths))
    into.mkdir(parents=True)
    try:
        with io.BufferedReader(_Parts(paths, task.advance), CHUNK) as raw, gzip.GzipFile(fileobj=raw) as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                tar.extractall(into, filter="data")
            while gz.read(CHUNK):      # to the end: the gzip trailer (CRC-32, length) is checked there
                pass
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as e:
        shutil.rmtree(into, ignore_errors=True)
        what = "cut short" if isinstance(e, EOFError) else f"damaged ({e})"
        raise CorruptArchive(f"{', '.join(p.name for p in paths[:3])}{' …' if len(paths) > 3 else ''}: the archive "
                             f"is {what}") from None
    except OSError as e:
        shutil.rmtree(into, ignore_errors=True)
        raise DataError(f"unpacking {paths[0].name} into {into.parent}: {e.strerror or e}; the archive is kept — "
                        f"fix that (e.g. free some space) and run the command again") from None
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise
    task.close()
    return into

