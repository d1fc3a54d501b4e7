"""One error style for every command: `Error: <what, where, what was expected>` on one line, exit code 2, printed
by rank 0 only under torchrun. The root group (`arc.cli.main`) turns every usage error into that line; commands raise
`OneLineError` (or any `click.UsageError`) and wrap library calls in `library_errors()`."""

from __future__ import annotations

import os
from contextlib import contextmanager

import click


class OneLineError(click.UsageError):
    """A usage error (exit code 2) shown as the single line `Error: …`, without the usage banner."""

    def show(self, file=None) -> None:
        if is_main_process():
            click.echo(f"Error: {self.format_message()}", err=True, file=file)


def is_main_process() -> bool:
    """False on the torchrun ranks other than 0, which stay silent about errors rank 0 reports."""
    return os.environ.get("RANK", "0") == "0"


def one_line(message: str) -> str:
    """`message` on one line (a library message may hold a list on several)."""
    return " ".join(part.strip() for part in str(message).strip().splitlines() if part.strip())


@contextmanager
def library_errors(hint: str | None = None):
    """Library errors that are the user's to fix — a bad value (ValueError and its kin: config, data format,
    pretrained weights), a checkpoint that cannot be read, a missing or unwritable file, a write that failed (a full
    disk: `arc.files.WriteError`) — become `OneLineError`; `hint` (e.g. "--checkpoint") prefixes the message when it
    does not name the option itself."""
    from arc.files import WriteError
    from arc.training.checkpoint import CheckpointError

    try:
        yield
    except (ValueError, CheckpointError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError, WriteError) as e:
        message = one_line(e)
        if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in message:
            message = f"{e.filename}: {message}"
        if hint and hint not in message:
            message = f"{hint}: {message}"
        raise OneLineError(message) from None
