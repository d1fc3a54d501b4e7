"""Download one file over HTTP(S) with the standard library, resumably.

The bytes go to `<dest>.part`; beside it `<dest>.part.json` remembers the URL, the server's validator (ETag or
Last-Modified) and the size. A later call asks for the rest (`Range: bytes=<have>-`, with `If-Range` so that a file
changed on the server is fetched anew rather than spliced). A connection dropped half-way is resumed the same way,
`retries` times in one call; after that the error says to run the command again, which resumes. Only a file whose
size matches the server's is renamed to `dest` — so an existing `dest` is complete and is not fetched again.
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
import urllib.request
from pathlib import Path

from arc.data.errors import DataError
from arc.data.progress import Transfers, human_bytes

USER_AGENT = "arc-action (dataset download; Python urllib)"
CHUNK = 1 << 20


class DownloadError(DataError):
    """A file could not be downloaded; the message says what, where, and what to do next."""


class _Dropped(Exception):
    """The connection ended before the whole file came (resumable)."""


def fetch(url: str, dest, *, transfers: Transfers | None = None, label: str | None = None, retries: int = 3,
          wait: float = 2.0, timeout: float = 60.0, room: float = 0.0, hint: str = "") -> Path:
    """Download `url` to `dest` (resuming a `.part` file left by an earlier call) and return `dest`.

    Checks before writing that the folder has room for the rest of the file plus `room` × its size (e.g. 1.0 to
    unpack it beside), and after that the bytes received are the size the server announced. Raises `DownloadError`
    (one line; `hint` is added to HTTP errors, e.g. which `--url` key to point elsewhere)."""
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
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, meta_file, meta, transfers, label, timeout, room, hint)
            break
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
    os.replace(part, dest)
    meta_file.unlink(missing_ok=True)
    return dest


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _transfer(url, part: Path, meta_file: Path, meta: dict, transfers: Transfers, label: str, timeout: float,
              room: float, hint: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and have and meta.get("total") == have:
            return                                            # the part was already whole
        if e.code == 416:
            part.unlink(missing_ok=True)
            raise _Dropped("the server refused to resume (HTTP 416)") from None
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}{'; ' + hint if hint else ''}") from None
    except urllib.error.URLError as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, ConnectionResetError, ConnectionAbortedError)):
            raise _Dropped(f"connection failed ({reason})") from None
        raise DownloadError(f"{url}: cannot connect ({reason}); check the network or proxy (https_proxy)"
                            f"{'; ' + hint if hint else ''}") from None
    except (TimeoutError, ConnectionResetError, ConnectionAbortedError, http.client.HTTPException) as e:
        raise _Dropped(f"connection failed ({e or type(e).__name__})") from None
    with response:
        start, total = _range(response, have)
        if response.status == 206 and start != have:
            part.unlink(missing_ok=True)
            raise _Dropped(f"the server resumed at byte {start}, not {have}")
        have = start    # 0 when the server sends the whole file (no ranges, or it changed since the part began)
        meta.update(validator=_validator(response), total=total)
        meta_file.write_text(json.dumps(meta))
        if total is not None:
            _check_room(part.parent, total - have + room * total)
        task = transfers.task(label, total, have)
        received = 0
        with open(part, "ab" if have else "wb") as f:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _Dropped(f"connection dropped ({e or type(e).__name__})") from None
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as e:
                    raise DownloadError(f"{part}: cannot write ({e.strerror or e}); what came is kept — free some "
                                        f"space and run the same command again to resume") from None
                received += len(block)
                task.advance(len(block))
        size = have + received
        if total is not None and size < total:
            raise _Dropped("connection closed early")
        if total is not None and size > total:
            part.unlink()
            raise DownloadError(f"{url}: received {size} bytes, more than the {total} announced; deleted the "
                                f"part — run the command again")
        task.close()


def _range(response, have: int) -> tuple[int, int | None]:
    """(first byte of the body, size of the whole file or None) from a 200 or 206 response."""
    if response.status == 206:
        m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if m:
            return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))
        return 0, None
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _validator(response) -> str | None:
    """A strong ETag, else Last-Modified: what `If-Range` may carry."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _check_room(folder: Path, need: float) -> None:
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DownloadError(f"{folder}: needs {human_bytes(need)} free, has {human_bytes(free)}; free some space, or "
                            f"put the data on a larger disk (ARC_DATA_ROOT or --data-root)")
