"""Options that several commands share, declared once: `--device`, checked as it is parsed by the one device check
(`arc.runtime.device.pick_device`), so a bad or unavailable device is one `Error:` line (exit 2) before any work."""

from __future__ import annotations

import click

from arc.cli.errors import OneLineError


class Device(click.ParamType):
    """`auto`, `cpu`, `cuda` or `cuda:N`, checked against this machine; the value is passed on as typed."""

    name = "device"

    def convert(self, value, param, ctx):
        from arc.runtime.device import pick_device

        try:
            pick_device(value)
        except ValueError as e:
            raise OneLineError(str(e)) from None
        return value


def device_option(default: str = "auto", help: str = "auto (CUDA when present), cpu, cuda or cuda:N."):
    """The `--device` option of a command."""
    return click.option("--device", type=Device(), default=default, show_default=True, help=help)
