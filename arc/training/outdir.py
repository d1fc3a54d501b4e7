"""The output folder of a run: refused when it holds another run (unless resumed or overwritten), locked against a
second writer, cleaned of what a killed save left, checked writable before any work.

What a run writes there (`RUN_FILES`) is all that `--overwrite` removes: the user's other files stay.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from arc.data.home import check_writable as writable_folder

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json")
RUN_DIRS = ("tb",)
RUN_GLOBS = tuple(f"{ckpt}-*-{kind}" for ckpt in ("best", "last")
                  for kind in ("confusion.npy", "confusion.png", "per_class.csv", "scores.npz", "predictions.csv",
                               "submission.csv"))


class OutputError(ValueError):
    """The output folder cannot be used; the message says why and what to do."""


def holds_run(out: Path) -> bool:
    return any((out / name).exists() for name in ("last.pt", "best.pt", "metrics.jsonl"))


def check_writable(folder: Path, option: str = "--out") -> Path:
    """Create `folder` if needed once it is proven writable (`arc.data.home.check_writable`); `OutputError` naming
    the option and the folder otherwise."""
    folder = Path(folder).expanduser()
    try:
        writable_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} {folder}: cannot write there ({e.strerror or e})") from None
    return folder


class OutputDir:
    """OUT, held for the life of the run: `open()` checks, locks and cleans it (rank 0 only)."""

    def __init__(self, path, *, resume: bool, overwrite: bool):
        self.path, self.resume, self.overwrite = Path(path).expanduser(), resume, overwrite
        self._lock = None

    def open(self) -> list[str]:
        """Make OUT ready for this run; returns the notes to print. `OutputError` when it cannot be used."""
        check_writable(self.path)
        self._take_lock()
        try:
            notes = self._remove_stale_temporaries()
            if holds_run(self.path) and not self.resume:
                if not self.overwrite:
                    raise OutputError(f"--out {self.path} holds a run: --resume {self.path / 'last.pt'} continues "
                                      f"it, --overwrite replaces it, or choose another --out")
                notes.append(f"--overwrite: removed the earlier run's files from {self.path} ({self.clear()} files)")
        except BaseException:
            self.close()
            raise
        return notes

    def clear(self) -> int:
        """Remove what an earlier run wrote (nothing else); returns how many entries went."""
        gone = [self.path / n for n in RUN_FILES] + [self.path / d for d in RUN_DIRS]
        gone += [p for pattern in RUN_GLOBS for p in self.path.glob(pattern)]
        count = 0
        for p in gone:
            if p.is_dir():
                shutil.rmtree(p)
                count += 1
            elif p.exists():
                p.unlink()
                count += 1
        return count

    def _take_lock(self) -> None:
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(f"--out {self.path} is in use by another arc train (pid {holder}): wait for it, or "
                              f"choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    def _remove_stale_temporaries(self) -> list[str]:
        stale = sorted(self.path.glob("*.tmp"))
        for p in stale:
            p.unlink()
        return [f"removed {len(stale)} unfinished save(s) left by a killed run: "
                f"{', '.join(p.name for p in stale)}"] if stale else []

    def close(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None
