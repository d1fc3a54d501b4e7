"""Options that several commands share, declared once: `--device`, checked as it is parsed by the one device check
(`arc.runtime.device.pick_device`), so a bad or unavailable device is one `Error:` line (exit 2) before any work;
ARC's ablation options, `--aru-terms` and `--attention`."""

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


class TermList(click.Choice):
    """A comma list of some of `choices`, or `none`: `fuse,attend` → `("fuse", "attend")`, in the choices' order,
    checked by the library's `parse` (a ValueError is the option's error)."""

    name = "terms"

    def __init__(self, choices, parse):
        super().__init__(choices)
        self.parse = parse

    def convert(self, value, param, ctx):
        try:
            return self.parse(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)

    def get_metavar(self, param, ctx=None) -> str:
        return f"[{','.join(self.choices)}|none]"


def ablation_options(what: str = "ARC"):
    """`--aru-terms` and `--attention`: which ARU terms `what`'s layers keep and which pooled views the attention
    uses (the paper's Table 5 ablations; docs/layer.md, "Ablations")."""
    from arc.nn.choices import ARU_NAMES, ATTENTIONS, parse_aru_terms

    terms = click.option(
        "--aru-terms", type=TermList(ARU_NAMES, parse_aru_terms), default=",".join(ARU_NAMES), show_default=True,
        help=f"{what}: the ARU terms kept, a comma list, or 'none': embed (E = X0 + We X0), fuse (the adaptive fusion "
             "F_i), attend (the backward attention A_i); a term left out has no parameters and computes as 0 "
             "(E = X0). The paper's Table 5(a).")
    attention = click.option(
        "--attention", type=click.Choice(ATTENTIONS), default="both", show_default=True,
        help=f"{what}: the pooled views of the backward attention: both (PoolS ⊕ PoolT, the paper), space (PoolS "
             "alone) or time (PoolT alone). The paper's Table 5(d), with --pool.")
    return lambda command: terms(attention(command))
