"""One table printer for the commands: a rich table on a terminal, plain aligned lines otherwise (CI logs)."""

from __future__ import annotations

import sys

import click


def fmt(value) -> str:
    """Integers with thousands separators, floats with 3 significant decimals, the rest as `str`."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def print_table(header: list[str], rows: list[list], title: str | None = None) -> None:
    """Print `rows` (lists of cells, formatted with `fmt`) under `header`."""
    cells = [[fmt(v) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    if title:
        click.echo(title)
    for row in [header, *cells]:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        click.echo("  ".join(padded))


def print_rows(rows: list[dict], title: str | None = None) -> None:
    """Print a list of dicts (e.g. benchmark rows) as a table; columns are the keys in first-seen order."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    print_table(header, [[row.get(k) for k in header] for row in rows], title)
