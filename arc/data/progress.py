"""Progress of byte transfers (downloads, unpacking): a rich display on a terminal — bytes, rate, time left — and
plain lines otherwise (CI logs), at most one every `every` seconds per transfer. Safe to use from several threads.

The transfers of one command also stop together: `Transfers.stop()` (what the main thread calls on Ctrl-C or
SIGTERM) makes the next `Task.advance` of every transfer, in any thread, raise `Stopped` — the read loops of
downloads and unpacking advance at every block, so they end within one block.
"""

from __future__ import annotations

import sys
import threading
import time

BIG = 10**8     # plain output announces the size of transfers from this size on


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(s: float) -> str:
    s = int(round(s))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Stopped(Exception):
    """The command was asked to stop (`Transfers.stop`); a transfer ended at its next block."""


class Transfers:
    """`with Transfers() as t: task = t.task("Diving48_rgb.tar.gz", total, done)`, then `task.advance(n)` and
    `task.close()`. `rich`: None = when `stream` is a terminal; `stream=None` with `rich=False` is silent."""

    def __init__(self, *, rich: bool | None = None, stream=sys.stderr, every: float = 10.0):
        self.stream = stream
        self.rich = (stream is not None and stream.isatty()) if rich is None else rich
        self.every = every
        self.lock = threading.Lock()
        self._progress = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Make every transfer end at its next block (`Stopped`), in whichever thread it runs."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> Transfers:
        if self.rich:
            from rich import progress as rp
            from rich.console import Console

            self._progress = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.DownloadColumn(),
                                         rp.TransferSpeedColumn(), rp.TimeRemainingColumn(),
                                         console=Console(file=self.stream))
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        """One line of text, above the bars when they are shown."""
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        elif self.stream is not None:
            with self.lock:
                print(message, file=self.stream, flush=True)

    def task(self, label: str, total: int | None = None, done: int = 0) -> Task:
        return Task(self, label, total, done)


class Task:
    """One transfer: `done` of `total` bytes (total None: unknown). The rate counts this session's bytes only, so a
    resumed download does not report the bytes it already had as speed."""

    def __init__(self, owner: Transfers, label: str, total: int | None, done: int):
        self.owner, self.label, self.total, self.done = owner, label, total, done
        self.start_done, self.start = done, time.monotonic()
        self.last_line = self.start
        self.id = None
        if owner._progress is not None:
            self.id = owner._progress.add_task(label, total=total, completed=done)
        elif done and total:
            owner.note(f"{label}: resuming at {human_bytes(done)} of {human_bytes(total)}")
        elif total and total >= BIG:
            owner.note(f"{label}: {human_bytes(total)}")

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self.id is not None:
            self.owner._progress.update(self.id, total=total)

    def advance(self, n: int) -> None:
        """`n` more bytes; `Stopped` when the transfers were asked to stop."""
        if self.owner.stopping:
            raise Stopped(f"{self.label}: stopped at {human_bytes(self.done)}")
        self.done += n
        if self.id is not None:
            self.owner._progress.update(self.id, completed=self.done)
            return
        now = time.monotonic()
        if now - self.last_line >= self.owner.every:
            self.last_line = now
            self.owner.note(self.line(now))

    def rate(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self.start
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        rate = self.rate(now)
        if not self.total:
            return f"{self.label}: {human_bytes(self.done)}, {human_bytes(rate)}/s"
        left = human_seconds((self.total - self.done) / rate) if rate > 0 else "?"
        return (f"{self.label}: {human_bytes(self.done)} of {human_bytes(self.total)} "
                f"({100 * self.done / self.total:.0f}%), {human_bytes(rate)}/s, {left} left")

    def close(self) -> None:
        """Done: remove the bar (rich) or print the total, time and rate (plain)."""
        now = time.monotonic()
        if self.id is not None:
            self.owner._progress.remove_task(self.id)
            self.owner._progress.refresh()
        self.owner.note(f"{self.label}: {human_bytes(self.done)}, {human_seconds(now - self.start)}, "
                        f"{human_bytes(self.rate(now))}/s")
