"""What can go wrong with data: a malformed index file (raised) and an unreadable sample (returned)."""

from __future__ import annotations

from dataclasses import dataclass


class DataError(ValueError):
    """Base of the data errors; a ValueError so callers may catch either."""


class DataFormatError(DataError):
    """A dataset index file (CSV, JSON, list) is missing or does not have the expected form.

    The message names the file, the line (or JSON entry) and what was expected."""

    def __init__(self, path, what: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.what = what
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {what}")


class MissingDataFile(DataFormatError):
    """A dataset index file (or the data root) that should exist does not."""


class MediaError(DataError):
    """A video file or frame folder cannot be read (missing, empty, corrupt)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class BadSample:
    """Returned by `ClipDataset.__getitem__` in place of a clip when its video or frames are unreadable.

    `collate_clips` drops it and hands it back, so the trainer can count and report it."""

    path: str
    reason: str
    index: int = -1
    also: tuple = ()     # further unreadable samples met while trying to replace this one
