"""Unpack a gzip-compressed tar archive — one file, or the parts of a split archive read in order as one stream —
into a new staging folder, checking the whole of it on the way: the gzip magic first (an error page saved under the
archive's name is refused at once), then every tar header and member, and at the end the gzip trailer's CRC-32 and
length. Nothing is left in the staging folder unless all of it checks out; the caller then moves the result into
the dataset's layout, so a corrupt, cut-short or hostile archive never leaves half a dataset behind.

The tar headers are read here, not by `tarfile`, and no library filter is trusted: every member is checked before
any of its bytes is written, and refused (`UnsafeArchive`, naming the member and the reason) unless

- it is a regular file or a folder — no symbolic or hard links, devices, FIFOs or sparse files (videos and frames
  need none, and without links no later member can be written through one: the escape of CVE-2025-4517, which
  gets past `tarfile`'s "data" filter on Python before 3.11.13 / 3.12.11 / 3.13.4, has nothing to work with);
- its name, normalised, is a relative path inside the target: not absolute, no `..`, no NUL, UTF-8, each part at
  most 255 bytes and the whole at most `MAX_NAME` bytes;
- it does not repeat a member, put a file where a folder is or the other way round;
- the members so far stay within the caps (`Caps`): how many there are and how many bytes they unpack to.

Extended headers (POSIX pax, GNU long names) are capped at `MAX_EXTENDED` bytes and parsed here in linear time:
`tarfile`'s parser takes quadratic time on a crafted one before Python 3.11.10 (CVE-2024-6232). Files are written
one by one with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644 (folders 0755) whatever the archive says.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

from arc.data.errors import DataError
from arc.data.progress import Transfers

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
BLOCK = 512
MAX_EXTENDED = 64 * 1024       # bytes of one pax / GNU long-name header: a path is at most 4096
MAX_NAME = 1024                # bytes of a member's normalised name
UNPACK_RATIO = 3               # unpacked bytes per archive byte: videos and JPEGs barely compress
UNPACK_FLOOR = 64 * 2**20      # ... plus this much, for small archives of small files
FILE_MODE, FOLDER_MODE = 0o644, 0o755

_KINDS = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
          b"6": "a FIFO", b"S": "a sparse file", b"V": "a volume label", b"M": "a multi-volume continuation",
          b"D": "a GNU dump folder"}


class CorruptArchive(DataError):
    """An archive is not a gzip-compressed tar, or is damaged or cut short."""


class UnsafeArchive(DataError):
    """An archive holds a member that must not be unpacked (a link, a device, a name outside the target), or more
    members or bytes than its caps allow. Nothing of it was unpacked."""


@dataclass(frozen=True)
class Caps:
    """The most members and unpacked bytes an archive may hold (None: no cap)."""

    members: int | None = None
    bytes: int | None = None

    @staticmethod
    def derived(archive_bytes: int, *, files: int | None = None, size: int | None = None) -> Caps:
        """Caps for an archive of `archive_bytes` of a dataset whose source-table entry reports `files` files and a
        download of `size` bytes (None: unknown). Bytes: `UNPACK_RATIO` × the archive (+ `UNPACK_FLOOR`) and
        `UNPACK_RATIO` × the dataset's download; members: twice the dataset's files (+ 10,000 folders), or, where
        that is unknown, one per 256 archive bytes (+ 10,000)."""
        nbytes = UNPACK_RATIO * archive_bytes + UNPACK_FLOOR
        if size is not None:
            nbytes = min(nbytes, UNPACK_RATIO * size + UNPACK_FLOOR)
        members = 2 * files + 10_000 if files is not None else archive_bytes // 256 + 10_000
        return Caps(members, nbytes)

    def override(self, members: int | None = None, nbytes: int | None = None) -> Caps:
        return Caps(self.members if members is None else members, self.bytes if nbytes is None else nbytes)


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


class _Damaged(Exception):
    """A tar header that does not parse (the archive is damaged, not hostile)."""


class _Unsafe(Exception):
    """A member that must not be unpacked: (its name, the reason)."""

    def __init__(self, name: str, reason: str):
        super().__init__(name, reason)
        self.name, self.reason = name, reason


@dataclass
class _Member:
    name: str
    kind: bytes        # the tar type flag: b"0" a file, b"5" a folder, others refused
    size: int
    link: str = ""


def _number(field: bytes) -> int:
    """A header's numeric field: octal text, or base-256 when its first byte has the high bit set."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise _Damaged(f"a header field is not a number ({text[:20]!r})") from None


def _text(field: bytes) -> str:
    raw = field.split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsafe(raw.decode("utf-8", "replace"), "a name that is not UTF-8") from None


def _pax(data: bytes) -> dict[str, str]:
    """The records `"<length> <key>=<value>\\n"` of a pax extended header, parsed in one linear pass."""
    out, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] not in (b"\0", b""):
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise _Damaged("a malformed pax header")
        end = pos + int(data[pos:space])
        if end <= space or end > len(data) or data[end - 1:end] != b"\n":
            raise _Damaged("a malformed pax header")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise _Damaged("a malformed pax header")
        try:
            out[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unsafe(value.decode("utf-8", "replace"), "a name that is not UTF-8") from None
        pos = end
    return out


class _TarReader:
    """The members of an uncompressed tar stream, one header at a time; the caller reads or skips each member's
    data (`read`, `skip`) before asking for the next."""

    def __init__(self, stream):
        self.stream = stream
        self.left = 0          # bytes of the current member's data (and padding) not read yet

    def _exact(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def skip(self) -> None:
        while self.left:
            self.left -= len(self._exact(min(self.left, CHUNK)))

    def read(self, n: int) -> bytes:
        return self._exact(n)

    def next(self) -> _Member | None:
        """The next member, or None at the end of the archive (a zero block, or the end of the stream)."""
        self.skip()
        pax: dict[str, str] = {}
        long_name = long_link = None
        while True:
            header = self.stream.read(BLOCK)
            if not header or header == bytes(BLOCK):
                return None
            if len(header) < BLOCK:
                raise EOFError
            stored = _number(header[148:156])
            rest = header[:148] + header[156:]
            if stored not in (sum(rest) + 8 * 32, sum(b - 256 if b > 127 else b for b in rest) + 8 * 32):
                raise _Damaged("a tar header's checksum does not match")
            kind, size = header[156:157], _number(header[124:136])
            if size < 0:
                raise _Damaged("a negative member size")
            padded = size + (-size % BLOCK)
            if kind in (b"x", b"g", b"L", b"K"):
                if size > MAX_EXTENDED:
                    raise _Unsafe(_text(header[0:100]), f"an extended header of {size} bytes (at most "
                                                        f"{MAX_EXTENDED})")
                data = self._exact(padded)[:size]
                if kind == b"x":
                    pax = _pax(data)
                elif kind == b"g":
                    _pax(data)                           # checked, not applied: no member takes global names
                elif kind == b"L":
                    long_name = _text(data)
                else:
                    long_link = _text(data)
                continue
            name = _text(header[0:100])
            if header[257:263] == b"ustar\0" and header[345:346] != b"\0":
                name = _text(header[345:500]) + "/" + name
            name = pax.get("path", long_name if long_name is not None else name)
            link = pax.get("linkpath", long_link if long_link is not None else _text(header[157:257]))
            if "size" in pax:
                if not pax["size"].isdigit():
                    raise _Damaged(f"a pax size that is not a number ({pax['size'][:20]!r})")
                size = int(pax["size"])
                padded = size + (-size % BLOCK)
            if kind in (b"\0", b"7"):
                kind = b"5" if kind == b"\0" and name.endswith("/") else b"0"
            if any(k.startswith("GNU.sparse.") for k in pax):
                kind = b"S"                              # a pax sparse file: its data is a map, not the file
            self.left = padded
            return _Member(name, kind, size, link)


def _safe_name(member: _Member) -> str:
    """The member's normalised relative name, or `_Unsafe` saying why it cannot be unpacked."""
    name = member.name
    if member.kind != b"0" and member.kind != b"5":
        reason = _KINDS.get(member.kind, f"a member of unknown type {member.kind!r}")
        raise _Unsafe(name, reason + (f" (to {member.link})" if member.link and member.kind in b"12" else ""))
    if "\0" in name:
        raise _Unsafe(name.replace("\0", "\\0"), "a NUL in its name")
    if name.startswith("/"):
        raise _Unsafe(name, "an absolute path")
    if ".." in name.split("/"):
        raise _Unsafe(name, "'..' in its path")
    norm = posixpath.normpath(name)
    if len(norm.encode()) > MAX_NAME or any(len(p.encode()) > 255 for p in norm.split("/")):
        raise _Unsafe(name[:80] + "…", f"a name longer than {MAX_NAME} bytes or with a part longer than 255")
    return norm


def unpack(paths, into, *, transfers: Transfers | None = None, label: str | None = None,
           caps: Caps | None = None) -> Path:
    """Unpack the archive made of `paths` (in order) into the folder `into`, which must not exist; return it.

    `CorruptArchive` if any part of the archive is damaged or cut short, `UnsafeArchive` if a member must not be
    unpacked or the members exceed `caps` (default: `Caps.derived` from the archive's size) — with `into` removed
    either way. `transfers.stop()` ends it at the next block (`Stopped`), `into` removed too."""
    paths = [Path(p) for p in paths]
    into = Path(into)
    check_gzip(paths[0])
    transfers = transfers or Transfers(rich=False, stream=None)
    archive_bytes = sum(p.stat().st_size for p in paths)
    caps = caps or Caps.derived(archive_bytes)
    label = label or f"unpacking {paths[0].name}{f' (+{len(paths) - 1} parts)' if len(paths) > 1 else ''}"
    shown = f"{', '.join(p.name for p in paths[:3])}{' …' if len(paths) > 3 else ''}"
    task = transfers.task(label, archive_bytes)
    into.mkdir(parents=True)
    try:
        with io.BufferedReader(_Parts(paths, task.advance), CHUNK) as raw, gzip.GzipFile(fileobj=raw) as gz:
            _extract(_TarReader(gz), into, caps)
            while gz.read(CHUNK):      # to the end: the gzip trailer (CRC-32, length) is checked there
                pass
    except _Unsafe as e:
        shutil.rmtree(into, ignore_errors=True)
        raise UnsafeArchive(f"{shown}: unsafe member {e.name}: {e.reason}; nothing was unpacked") from None
    except (_Damaged, gzip.BadGzipFile, EOFError, zlib.error) as e:
        shutil.rmtree(into, ignore_errors=True)
        what = "cut short" if isinstance(e, EOFError) else f"damaged ({e})"
        raise CorruptArchive(f"{shown}: the archive is {what}") from None
    except OSError as e:
        shutil.rmtree(into, ignore_errors=True)
        raise DataError(f"unpacking {paths[0].name} into {into.parent}: {e.strerror or e}; the archive is kept — "
                        f"fix that (e.g. free some space) and run the command again") from None
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise
    task.close()
    return into


def _extract(tar: _TarReader, into: Path, caps: Caps) -> None:
    """Check every member, then write it; `_Unsafe` for the first that must not be unpacked."""
    count = total = 0
    while (member := tar.next()) is not None:
        name = _safe_name(member)
        count += 1
        total += member.size if member.kind == b"0" else 0
        if caps.members is not None and count > caps.members:
            raise _Unsafe(name, f"more than {caps.members:,} members (the cap for this archive)")
        if caps.bytes is not None and total > caps.bytes:
            raise _Unsafe(name, f"more than {caps.bytes:,} bytes unpacked (the cap for this archive)")
        if name == "." and member.kind == b"0":
            raise _Unsafe(member.name, "a file without a name")
        if name == ".":
            continue
        target = into / name
        if member.kind == b"5":
            if target.exists() and not target.is_dir():
                raise _Unsafe(name, "a folder where a file came before")
            _make_folders(target, name, into)
            continue
        _make_folders(target.parent, name, into)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:
            raise _Unsafe(name, "it repeats an earlier member") from None
        with os.fdopen(fd, "wb") as f:
            left = member.size
            while left:
                block = tar.read(min(left, CHUNK))
                f.write(block)
                left -= len(block)
        tar.left -= member.size


def _make_folders(folder: Path, name: str, into: Path) -> None:
    try:
        os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _Unsafe(name, "a file where its folder should be") from None
    if folder != into and folder.is_symlink():      # none is ever made here; refuse rather than follow one
        raise _Unsafe(name, "a symbolic link on its path")
