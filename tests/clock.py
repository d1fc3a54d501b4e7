"""A stand-in for `time.perf_counter` in benchmarks that moves only when the timed work runs, so that a test knows
what every interval a benchmark measures must be — whatever its timing code does — and can check its figures
(medians, rates, ratios, units) against numbers derived by hand."""

from __future__ import annotations

from types import SimpleNamespace


class WorkClock:
    """`time.perf_counter` for a benchmark (`monkeypatch.setattr("<module>.time", clock.time)`) that stands still
    except when `charge(what)` is called — by a hook on the work, each time `what` runs — and then moves by the next
    of `costs[what]`, the seconds of each run of `what` in order; a run more than planned raises IndexError."""

    def __init__(self, costs: dict[str, list[float]]):
        self.costs = {what: list(seconds) for what, seconds in costs.items()}
        self.now = 1000.0
        self.time = SimpleNamespace(perf_counter=lambda: self.now)

    def charge(self, what: str) -> None:
        if not self.costs[what]:
            raise IndexError(f"{what} ran more often than planned")
        self.now += self.costs[what].pop(0)

    @property
    def used_up(self) -> bool:
        return not any(self.costs.values())

    def charging_forwards(self, what):
        """A context in which every module's forward charges `what(module)` (None: no time passes)."""
        import contextlib

        import torch

        def hook(module, inputs, output) -> None:
            label = what(module)
            if label is not None:
                self.charge(label)

        @contextlib.contextmanager
        def hooked():
            handle = torch.nn.modules.module.register_module_forward_hook(hook)
            try:
                yield self
            finally:
                handle.remove()

        return hooked()
