"""The output folder of a run: refused when it holds another run (unless it is the run resumed, or overwritten),
locked against a second writer, cleaned of what a killed save left, checked writable before any work, and removed
again when the command created it and set-up failed before anything was written there.

What a run writes there (`RUN_FILES`) is all that `--overwrite` removes: the user's other files stay.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from arc.data.home import check_writable as writable_folder
from arc.files import temporaries

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json")
RUN_DIRS = ("tb",)
RUN_GLOBS = tuple(f"{ckpt}-*-{kind}" for ckpt in ("best", "last")
                  for kind in ("confusion.npy", "confusion.png", "per_class.csv", "scores.npz", "predictions.csv",
                               "submission.csv"))


class OutputError(ValueError):
    """The output folder cannot be used; the message says why and what to do."""


def run_files(out: Path) -> list[str]:
    """The files of a run that `out` holds (of last.pt, best.pt, metrics.jsonl)."""
    return [name for name in ("last.pt", "best.pt", "metrics.jsonl") if (out / name).exists()]


def holds_run(out: Path) -> bool:
    return bool(run_files(out))


def check_writable(folder: Path, option: str = "--out", create: bool = True) -> Path:
    """`folder` once it is proven writable (`arc.data.home.check_writable`), created when `create`; `OutputError`
    naming the option and the folder otherwise."""
    folder = Path(folder).expanduser()
    try:
        writable_folder(folder)
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} {folder}: cannot write there ({e.strerror or e})") from None
    return folder


class OutputDir:
    """OUT, held for the life of the run: `open()` checks, locks and cleans it, `close()` lets it go (rank 0 only).

    `resume` is the checkpoint a resumed run continues: OUT may hold that run (the checkpoint's own folder), not
    another one."""

    def __init__(self, path, *, resume: str | os.PathLike | None, overwrite: bool):
        self.path, self.overwrite = Path(path).expanduser(), overwrite
        self.resume = None if resume is None else Path(resume).expanduser()
        self._lock = None
        self._created: Path | None = None     # the topmost folder open() created, if any

    def open(self) -> list[str]:
        """Make OUT ready for this run; returns the notes to print. `OutputError` when it cannot be used."""
        missing = [p for p in (self.path.absolute(), *self.path.absolute().parents) if not p.exists()]
        check_writable(self.path)
        self._created = missing[-1] if missing else None
        self._take_lock()
        try:
            notes = self._remove_stale_temporaries()
            held = run_files(self.path)
            ours = self.resume is not None and self.resume.absolute().parent.resolve() == self.path.resolve()
            if held and not ours:
                if not self.overwrite:
                    raise OutputError(self._refusal(held))
                notes.append(f"--overwrite: removed the earlier run's files from {self.path} ({self.clear()} files)")
        except BaseException:
            self.close()
            raise
        return notes

    def _refusal(self, held: list[str]) -> str:
        if self.resume is None:
            return (f"--out {self.path} holds a run: --resume {self.path / 'last.pt'} continues it, --overwrite "
                    f"replaces it, or choose another --out")
        return (f"--out {self.path} holds another run ({', '.join(held)}) than the one --resume {self.resume} "
                f"continues: --overwrite replaces it, or choose another --out (without --out the run continues in "
                f"{self.resume.parent})")

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
        """The temporaries of the run's files that a killed save left (`arc.files`' names, and `NAME.tmp` of earlier
        versions); nothing else of the folder."""
        stale = temporaries(self.path, RUN_FILES) + [p for p in (self.path / f"{n}.tmp" for n in RUN_FILES)
                                                      if p.is_file()]
        for p in stale:
            p.unlink()
        return [f"removed {len(stale)} unfinished save(s) left by a killed run: "
                f"{', '.join(p.name for p in stale)}"] if stale else []

    def close(self) -> None:
        """Let OUT go; when `open()` created it and nothing but the lock is in it (set-up failed), remove it again,
        with the parents it created."""
        if self._lock is None:
            return
        lock = self.path / ".lock"
        empty = self._created is not None and [p.name for p in self.path.iterdir()] == [".lock"]
        if empty:
            lock.unlink(missing_ok=True)
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        os.close(self._lock)
        self._lock = None
        if empty:
            for folder in (self.path.absolute(), *self.path.absolute().parents):
                try:
                    folder.rmdir()
                except OSError:
                    break
                if folder == self._created:
                    break
