"""What a downloaded file must be: its SHA-256, where one is known (docs/data.md, "Integrity and safety").

A digest comes from, in this order: `--sha256 KEY=HEX` (pinned by hand), the source table (`arc.data.sources`,
for publishers that state one), or the data home's manifest (`<data home>/manifest.json`), where the first complete
download of a file that has no published digest records its size, SHA-256 and URL. Every later download of the
file, and every reuse of a copy left in a dataset's `.downloads/`, is checked against it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from arc.data.errors import DataError
from arc.data.home import data_home
from arc.files import write_text

MANIFEST = "manifest.json"
_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Digest:
    """The SHA-256 (lower-case hex) a file must have, and where that came from (for messages): "--sha256", "the
    source table" or "the manifest <path> (recorded <date> from <url>)". `url` is where a recorded digest was first
    downloaded from (None for a pinned one)."""

    sha256: str
    source: str
    url: str | None = None

    @property
    def pinned(self) -> bool:
        return self.url is None


def sha256_file(path, task=None) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (`task.advance` after each: progress, and a stop request)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
            if task is not None:
                task.advance(len(block))
    return h.hexdigest()


def parse_pins(pairs) -> dict[str, str]:
    """`["videos=<64 hex digits>", …]` (from `--sha256 KEY=HEX`) as a dict; ValueError for a malformed pair."""
    out = {}
    for pair in pairs or ():
        key, sep, hexdigest = pair.partition("=")
        hexdigest = hexdigest.strip().lower()
        if not sep or not key.strip() or not _HEX.fullmatch(hexdigest):
            raise ValueError(f"--sha256 {pair!r}: expected KEY=HEX with HEX the 64 hexadecimal digits of a SHA-256 "
                             f"(sha256sum prints them), e.g. videos=9f86d08…")
        out[key.strip()] = hexdigest
    return out


class Manifest:
    """The digests recorded by first downloads: `{"files": {name: {"size", "sha256", "url", "recorded"}}}` in
    `path` (default `<data home>/manifest.json`), names `<dataset>/<file>`. Safe from several threads of one
    process; written atomically (`arc.files`)."""

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else data_home() / MANIFEST
        self.lock = threading.Lock()

    def _read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            files = json.loads(text)["files"]
            if not isinstance(files, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise DataError(f"{self.path}: not a manifest of recorded digests (expected JSON {{\"files\": {{…}}}}); "
                            f"move it away to start a new one") from None
        return files

    def get(self, name: str) -> Digest | None:
        with self.lock:
            entry = self._read().get(name)
        if not isinstance(entry, dict) or not _HEX.fullmatch(str(entry.get("sha256", ""))):
            return None
        return Digest(entry["sha256"], f"the manifest {self.path} (recorded {entry.get('recorded', '?')} from "
                                       f"{entry.get('url', '?')})", str(entry.get("url", "")))

    def record(self, name: str, url: str, size: int, sha256: str) -> None:
        with self.lock:
            files = self._read()
            files[name] = {"size": size, "sha256": sha256, "url": url,
                           "recorded": time.strftime("%Y-%m-%d %H:%M:%S")}
            write_text(self.path, json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n")
