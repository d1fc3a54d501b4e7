"""`arc overhead`: FLOPs, parameters and training memory of ARC — paper formulas (Eqs. 8–10) vs measured."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from arc.cli.errors import OneLineError
from arc.cli.options import ablation_options
from arc.cli.table import print_table
from arc.data.registry import DATASETS
from arc.nn.choices import BACKBONES, DEFAULT_STAGES, MOTIONS, POOLS

LAYER_OPTIONS = ("C", "H", "W", "T", "K", "cin", "cout", "stride", "pool")
MODEL_OPTIONS = ("frames", "num_classes", "stages", "motion", "size")


def _given(ctx: click.Context, names) -> list[str]:
    """The options among `names` that the user typed (not defaults), as `--flag` strings."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


@click.command("overhead")
@click.option("--model", "model", type=click.Choice(list(BACKBONES)), default=None,
              help="Whole model instead of one layer: its backbone.")
@click.option("--frames", type=int, default=8, show_default=True, help="[model] Frames per clip (num_segments).")
@click.option("--num-classes", type=int, default=DATASETS["ssv1"].num_classes, show_default=True,
              help="[model] Classifier outputs (Something-Something V1's by default).")
@click.option("--size", type=int, default=224, show_default=True, help="[model] Frame size in pixels (square).")
@click.option("--stages", default=",".join(DEFAULT_STAGES), show_default=True,
              help="[model] Stages with ARC, comma-separated paper names res2..res5, or 'none'.")
@click.option("--motion", type=click.Choice(MOTIONS), default="none", show_default=True,
              help="[model] ms: MSN and ARC-MSN (MotionSqueeze after res3) beside the paper's Table 7.")
@click.option("--n", "n", type=int, default=4, show_default=True, help="Recursive steps of ARC (n=1: plain conv).")
@click.option("--C", "C", type=int, default=256, show_default=True, help="[layer] Channels, input = output.")
@click.option("--H", "H", type=int, default=14, show_default=True, help="[layer] Input height, pixels.")
@click.option("--W", "W", type=int, default=None, help="[layer] Input width, pixels.  [default: H]")
@click.option("--T", "T", type=int, default=8, show_default=True, help="[layer] Frames per clip.")
@click.option("--K", "K", type=int, default=3, show_default=True, help="[layer] Kernel size (odd; padding K//2).")
@click.option("--cin", type=int, default=None, help="[layer] Input channels (overrides --C).")
@click.option("--cout", type=int, default=None, help="[layer] Output channels (overrides --C).")
@click.option("--stride", type=int, default=1, show_default=True, help="[layer] Conv stride.")
@click.option("--pool", type=click.Choice(POOLS), default="max", show_default=True,
              help="[layer] ARC pooling: max (the paper) or mean (the authors' released code).")
@ablation_options("ARC's layers")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def overhead(ctx, model, frames, num_classes, size, stages, motion, n, C, H, W, T, K, cin, cout, stride, pool,
             aru_terms, attention, as_json):
    """Multiply-adds, parameters and training memory of ARC: formulas vs measured.

    One layer (default): `arc overhead --C 256 --H 14 --n 4`. Whole model (one clip at --size, 224 by default):
    `arc overhead --model r18 --frames 8 --num-classes 174`; with `--motion ms`, MSN and ARC-MSN beside the
    paper's Table 7. FLOPs are multiply-adds of one clip (N = 1),
    forward; memory is the elements kept for the backward of one clip (see docs/overhead.md).
    """
    from arc import overhead as oh

    if model is not None:
        mixed = _given(ctx, LAYER_OPTIONS)
        if mixed:
            raise OneLineError(f"{', '.join(mixed)}: layer option{'s' if len(mixed) > 1 else ''}, not valid with "
                               "--model (a model takes --frames, --num-classes, --size, --stages, --motion, --n)")
        report_of, table_of = (oh.motion_report, oh.motion_table) if motion == "ms" else \
            (oh.model_report, oh.model_table)
        try:
            report = report_of(model, frames, num_classes, stages, n, size, aru_terms=aru_terms, attention=attention)
        except ValueError as e:
            raise OneLineError(f"arc overhead --model: {e}") from None
        _show(report, table_of, as_json)
        return

    stray = _given(ctx, MODEL_OPTIONS)
    if stray:
        raise OneLineError(f"{', '.join(stray)}: valid only with --model BACKBONE")
    try:
        report = oh.layer_report(C=C, H=H, W=W, T=T, K=K, n=n, stride=stride, cin=cin, cout=cout, pool=pool,
                                 aru_terms=aru_terms, attention=attention)
    except ValueError as e:
        raise OneLineError(f"arc overhead: {e}") from None
    _show(report, oh.layer_table, as_json)


def _show(report: dict, table_of, as_json: bool) -> None:
    """The report as one JSON object, or as the library's table and notes."""
    if as_json:
        click.echo(json.dumps(report))
        return
    table = table_of(report)
    print_table(table.header, table.rows, table.title)
    for note in table.notes:
        click.echo(note)
