"""Download one file over HTTP(S) with the standard library, resumably, and check it before it takes its name.

The bytes go to `<dest>.part`; beside it `<dest>.part.json` remembers the URL, the server's validator (ETag or
Last-Modified) and the size. A later call asks for the rest (`Range: bytes=<have>-`, with `If-Range`) only when a
validator was recorded and the server's answer carries the same one and the same size; otherwise the part is
dropped and the file fetched from the start, so two versions of a file are never spliced. A connection dropped
half-way is resumed the same way, `retries` times in one call; after that the error says to run the command again,
which resumes.

Only a complete file is renamed to `dest`. Complete means: as many bytes as the server said the file has. A server
that states no size (a `200` without `Content-Length`, a `206` with `Content-Range: …/*`) is asked once more for the
byte after the last one received, and its `416` must name that size; or the file's SHA-256 must match a known
digest. Then the SHA-256 of the whole file is computed and compared with `expect` (`arc.data.integrity`); a mismatch
deletes the file. Redirects may go from http to https, never from https to anything else (nor to `file:`, `ftp:`).
Proxies come from the usual environment variables (`https_proxy`, `http_proxy`, `no_proxy`).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from arc.data.errors import DataError
from arc.data.integrity import Digest, sha256_file
from arc.data.progress import BIG, Transfers, human_bytes
from arc.files import write_text

USER_AGENT = "arc-action (dataset download; Python urllib)"
CHUNK = 1 << 20


class DownloadError(DataError):
    """A file could not be downloaded; the message says what, where, and what to do next."""


class _Dropped(Exception):
    """The connection ended before the whole file came (resumable), or the part must be fetched anew."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, to http and https only (not `ftp:`, which urllib allows), and never down from https."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlparse(req.full_url).scheme, urllib.parse.urlparse(newurl).scheme
        if new not in ("http", "https") or (old == "https" and new != "https"):
            raise urllib.error.HTTPError(req.full_url, code, f"redirect from https to {newurl} refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_Redirects)


def fetch(url: str, dest, *, transfers: Transfers | None = None, label: str | None = None, retries: int = 3,
          wait: float = 2.0, timeout: float = 60.0, room: float = 0.0, hint: str = "", expect: Digest | None = None,
          max_bytes: int | None = None, on_complete: Callable[[str, int], None] | None = None) -> Path:
    """Download `url` to `dest` (resuming a `.part` file left by an earlier call) and return `dest`; an existing
    `dest` is returned as it is (the caller decides whether to trust it: `arc.data.download`).

    Checks before writing that the folder has room for the rest of the file plus `room` × its size (e.g. 1.0 to
    unpack it beside) and that the file is at most `max_bytes`; then that it is complete and, with `expect`, that
    its SHA-256 is the one expected. `on_complete(sha256, size)` is called with the file's digest before it is
    renamed. Raises `DownloadError` (one line; `hint` is added to HTTP errors, e.g. which `--url` key to point
    elsewhere); `transfers.stop()` ends it at the next block (`Stopped`), the part kept for a resume."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, meta_file = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")
    meta = _read_meta(meta_file)
    if meta.get("url") != url:
        meta = {"url": url}
        part.unlink(missing_ok=True)
    transfers = transfers or Transfers(rich=False, stream=None)
    label = label or dest.name
    sized = _with_retries(url, part, meta_file, meta, transfers, label, retries, wait, timeout, room, hint, max_bytes)
    _verify(url, part, meta_file, sized, expect, transfers, label, hint, on_complete)
    os.replace(part, dest)
    meta_file.unlink(missing_ok=True)
    return dest


def _with_retries(url, part: Path, meta_file: Path, meta: dict, transfers: Transfers, label: str, retries: int,
                  wait: float, timeout: float, room: float, hint: str, max_bytes: int | None) -> bool:
    """`_transfer` until the part is whole, resuming a dropped connection `retries` times with a growing wait; True
    when the server stated the size (or confirmed it by a 416 past the end), False when nothing did."""
    for attempt in range(retries + 1):
        try:
            if _transfer(url, part, meta_file, meta, transfers, label, timeout, room, hint, max_bytes):
                return True
            found = _probe(url, part.stat().st_size, meta, timeout)
            if found == "more":
                raise _Dropped("connection closed before the end of the file")
            return found == "complete"
        except _Dropped as e:
            have = part.stat().st_size if part.exists() else 0
            total = f" of {human_bytes(meta['total'])}" if meta.get("total") else ""
            if attempt == retries:
                kept = f"; {human_bytes(have)}{total} kept in {part}" if have else ""
                raise DownloadError(f"{url}: {e}, {retries + 1} tries{kept} — run the same command again to "
                                    f"{'resume' if have else 'retry'}") from None
            transfers.note(f"{label}: {e} at {human_bytes(have)}{total}; trying again ({attempt + 2} of "
                           f"{retries + 1})")
            time.sleep(wait * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _verify(url, part: Path, meta_file: Path, sized: bool, expect: Digest | None, transfers: Transfers, label: str,
            hint: str, on_complete) -> None:
    """A part whose size nothing stated is complete only by a known digest; a digest that differs deletes it."""
    size = part.stat().st_size
    if not sized and expect is None:
        raise DownloadError(f"{url}: the server did not say how large the file is, and the {human_bytes(size)} "
                            f"received (kept in {part}) cannot be told from a transfer cut short; pin its SHA-256 "
                            f"with --sha256 KEY=HEX, or use a server that states sizes (--mirror / --url)")
    task = transfers.task(f"{label}: SHA-256", size) if size >= BIG else None
    digest = sha256_file(part, task)
    if task is not None:
        task.close()
    if expect is not None and digest != expect.sha256:
        part.unlink()
        meta_file.unlink(missing_ok=True)
        raise DownloadError(f"{url}: SHA-256 {digest} is not the {expect.sha256} of {expect.source}; deleted the "
                            f"file — the server or a proxy sent other bytes ({_hint_for(expect, hint)})")
    if on_complete is not None:
        on_complete(digest, size)


def _hint_for(expect: Digest, hint: str) -> str:
    if expect.pinned:
        return f"check the digest you pinned; {hint}" if hint else "check the digest you pinned"
    return (f"{hint + ', or' if hint else ''} if the publisher really changed the file, check the new one and pin "
            f"it with --sha256 KEY=HEX")


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _open(url: str, headers: dict, timeout: float, hint: str):
    """The response to a GET, or `_Dropped` / `DownloadError`; an `HTTPError` (e.g. 416) is returned, not raised."""
    try:
        return _OPENER.open(urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                                 "Accept-Encoding": "identity", **headers}),
                            timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:
            return e
        e.close()
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}{'; ' + hint if hint else ''}") from None
    except urllib.error.URLError as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, ConnectionResetError, ConnectionAbortedError)):
            raise _Dropped(f"connection failed ({reason})") from None
        raise DownloadError(f"{url}: cannot connect ({reason}); check the network or proxy (https_proxy)"
                            f"{'; ' + hint if hint else ''}") from None
    except (TimeoutError, ConnectionResetError, ConnectionAbortedError, http.client.HTTPException) as e:
        raise _Dropped(f"connection failed ({e or type(e).__name__})") from None


def _total_of_416(response) -> int | None:
    m = re.fullmatch(r"bytes \*/(\d+)", (response.headers.get("Content-Range") or "").strip())
    return int(m.group(1)) if m else None


def _transfer(url, part: Path, meta_file: Path, meta: dict, transfers: Transfers, label: str, timeout: float,
              room: float, hint: str, max_bytes: int | None) -> bool:
    """Fetch what `part` lacks; True when the part now holds the size the server stated, False when it stated none
    (the whole body was read). `_Dropped` to resume or restart."""
    have = part.stat().st_size if part.exists() else 0
    if have and not meta.get("validator"):
        part.unlink()                     # nothing tells whether the server's file is still the one begun
        have = 0
    headers = {"Range": f"bytes={have}-", "If-Range": meta["validator"]} if have else {}
    response = _open(url, headers, timeout, hint)
    if response.status == 416:
        response.close()
        total = _total_of_416(response)
        if have and total == have and meta.get("total") in (None, have):
            return True                   # the part was already whole
        part.unlink(missing_ok=True)
        raise _Dropped("the server refused to resume (HTTP 416)")
    with response:
        start, total = _range(response)
        validator = _validator(response)
        if response.status == 206 and (start != have or validator != meta.get("validator")
                                       or (total is not None and total != meta.get("total"))):
            part.unlink(missing_ok=True)
            raise _Dropped(f"the server resumed at byte {start} of another version of the file, not at {have}; "
                           f"starting again")
        have = start    # 0 when the server sends the whole file (no ranges, or it changed since the part began)
        meta.update(validator=validator, total=total)
        write_text(meta_file, json.dumps(meta))
        if total is not None and max_bytes is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            meta_file.unlink(missing_ok=True)
            raise DownloadError(f"{url}: {human_bytes(total)}, more than the {human_bytes(max_bytes)} an index file "
                                f"may have; not downloaded{'; ' + hint if hint else ''}")
        if total is not None:
            check_room(part.parent, total - have + room * total)
        task = transfers.task(label, total, have)
        size = have + _copy_body(response, part, have, task, url, meta_file, max_bytes, hint)
        if total is not None and size < total:
            raise _Dropped("connection closed early")
        if total is not None and size > total:
            part.unlink()
            raise DownloadError(f"{url}: received {size} bytes, more than the {total} announced; deleted the "
                                f"part — run the command again")
        task.close()
        return total is not None


def _copy_body(response, part: Path, have: int, task, url, meta_file: Path, max_bytes: int | None, hint: str) -> int:
    """The response's body appended to the part's first `have` bytes, block by block (a stop request ends it at the
    next block, through `task.advance`); the bytes received. A drop is `_Dropped`; a failed write, or more than
    `max_bytes` in all, `DownloadError`."""
    received = 0
    with open(part, "ab" if have else "wb") as f:
        while True:
            try:
                block = response.read1(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                raise _Dropped(f"connection dropped ({e or type(e).__name__})") from None
            if not block:
                return received
            try:
                f.write(block)
            except OSError as e:
                raise DownloadError(f"{part}: cannot write ({e.strerror or e}); what came is kept — free some "
                                    f"space and run the same command again to resume") from None
            received += len(block)
            task.advance(len(block))
            if max_bytes is not None and have + received > max_bytes:
                f.close()
                part.unlink()
                meta_file.unlink(missing_ok=True)
                raise DownloadError(f"{url}: more than the {human_bytes(max_bytes)} an index file may have; "
                                    f"deleted what came{'; ' + hint if hint else ''}")


def _probe(url: str, size: int, meta: dict, timeout: float) -> str:
    """Ask a server that stated no size for the byte after the `size` received: "complete" when it answers 416
    naming `size` as the file's length, "more" when it sends bytes from there (206), else "unknown"."""
    headers = {"Range": f"bytes={size}-"}
    if meta.get("validator"):
        headers["If-Range"] = meta["validator"]
    try:
        response = _open(url, headers, timeout, "")
    except (_Dropped, DownloadError):
        return "unknown"
    response.close()
    if response.status == 416 and size and _total_of_416(response) == size:
        return "complete"
    return "more" if response.status == 206 and _range(response)[0] == size else "unknown"


def _range(response) -> tuple[int, int | None]:
    """(first byte of the body, size of the whole file or None) from a 200 or 206 response."""
    if response.status == 206:
        m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if m:
            return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))
        return -1, None
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _validator(response) -> str | None:
    """A strong ETag, else Last-Modified: what `If-Range` may carry."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def check_room(folder: Path, need: float) -> None:
    """`DownloadError` unless `folder` has `need` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DownloadError(f"{folder}: needs {human_bytes(need)} free, has {human_bytes(free)}; free some space, or "
                            f"put the data on a larger disk (ARC_DATA_ROOT or --data-root)")
