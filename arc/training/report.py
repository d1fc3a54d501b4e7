"""What a training run says while it runs: a rich progress bar on a terminal, plain log lines otherwise (CI logs
stay readable); rank 0 alone speaks, except for warnings, which name their rank."""

from __future__ import annotations

import sys

from arc.runtime import distributed


class Reporter:
    """rich progress on a terminal, plain log lines otherwise; silent on ranks other than 0 (except warnings)."""

    def __init__(self, ctx: distributed.Context, progress: bool | None, log_every: int):
        self.ctx, self.log_every = ctx, log_every
        self.rich = ctx.main and (sys.stdout.isatty() if progress is None else progress)
        self.bar = None

    def info(self, text: str) -> None:
        if self.ctx.main and self.bar is not None:
            self.bar.console.print(text)
        elif self.ctx.main:
            print(text, flush=True)

    def warn(self, text: str) -> None:
        prefix = f"[rank {self.ctx.rank}] " if self.ctx.distributed else ""
        print(f"{prefix}warning: {text}", file=sys.stderr, flush=True)

    def start(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.every = self.log_every or max(1, total // 5)
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=done, epoch=f"{epoch}/{epochs}",
                                          status="")

    def log_point(self, batch: int) -> bool:
        """Whether batch `batch` of the epoch is one where the loss is read back and shown (every `log_every`
        batches, about five per epoch by default, and the last): the only places a step waits for the device."""
        return batch % self.every == 0 or batch == self.total

    def advance(self, batch: int) -> None:
        if self.ctx.main and self.bar:
            self.bar.update(self.task, completed=batch)

    def log(self, batch: int, loss: float, lr: float) -> None:
        if not self.ctx.main:
            return
        if self.bar:
            self.bar.update(self.task, completed=batch, status=f"loss {loss:.4f} lr {lr:.3g}")
        else:
            print(f"epoch {self.epoch}/{self.epochs} step {batch}/{self.total} loss {loss:.4f} lr {lr:.4g}",
                  flush=True)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()
            self.bar = None
