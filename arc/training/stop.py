"""Stopping a run gracefully: SIGINT (Ctrl-C) and SIGTERM (what SLURM and Kubernetes send before preemption) let the
current step finish; the loop then writes a resumable `last.pt` at that exact batch and raises `Interrupted`. A second
Ctrl-C aborts at once. Under torchrun every rank gets the signal; the ranks agree on the step to stop at
(`arc.runtime.distributed.Agreement`) and rank 0 writes."""

from __future__ import annotations

import signal
import threading

SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(RuntimeError):
    """The run stopped on a signal after saving; `exit_code` is 128 + the signal number (130 SIGINT, 143 SIGTERM)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopRequest:
    """Installs the handlers for the duration of a `with` block (main thread only; elsewhere it never fires)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt  # the second Ctrl-C: abort now
        self.signum = signum if self.signum is None else self.signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
