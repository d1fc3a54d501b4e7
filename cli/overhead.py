"""`arc overhead`: FLOPs, parameters and training memory of ARC — paper formulas (Eqs. 8–10) vs measured."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from arc.nn.choices import MOTIONS
from cli.errors import OneLineError
from cli.table import print_table

LAYER_OPTIONS = ("C", "H", "W", "T", "K", "cin", "cout", "stride", "pool")
MODEL_OPTIONS = ("frames", "num_classes", "stages", "motion", "size")


def _given(ctx: click.Context, names) -> list[str]:
    """The options among `names` that the user typed (not defaults), as `--flag` strings."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


@click.command("overhead")
@click.option("--model", "model", metavar="BACKBONE", help="Whole model instead of one layer: r18, r34, r50 or r101.")
@click.option("--frames", type=int, default=8, show_default=True, help="[model] Frames per clip (num_segments).")
@click.option("--num-classes", type=int, default=174, show_default=True, help="[model] Classifier outputs.")
@click.option("--size", type=int, default=224, show_default=True, help="[model] Frame size in pixels (square).")
@click.option("--stages", default="res3,res4,res5", show_default=True,
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
@click.option("--pool", default="max", show_default=True, help="[layer] ARC pooling: max (paper) or mean.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def overhead(ctx, model, frames, num_classes, size, stages, motion, n, C, H, W, T, K, cin, cout, stride, pool, as_json):
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
        try:
            stages = oh.check_model_args(model, frames, num_classes, stages, n)
            if size < 32:
                raise ValueError(f"size must be at least 32 pixels (ResNet's stride), got {size}")
            report_of = oh.motion_report if motion == "ms" else oh.model_report
            report = report_of(model, frames, num_classes, stages, n, size)
        except ValueError as e:
            raise OneLineError(f"arc overhead --model: {e}") from None
        if as_json:
            click.echo(json.dumps(report))
        elif motion == "ms":
            _print_motion(report, model, frames, num_classes, stages, n, size)
        else:
            _print_model(report, model, frames, num_classes, stages, n, size)
        return

    stray = _given(ctx, MODEL_OPTIONS)
    if stray:
        raise OneLineError(f"{', '.join(stray)}: valid only with --model BACKBONE")
    args = dict(C=C, H=H, W=W, T=T, K=K, n=n, stride=stride, cin=cin, cout=cout)
    try:
        report = oh.layer_report(**args, pool=pool)
    except ValueError as e:
        raise OneLineError(f"arc overhead: {e}") from None
    if as_json:
        click.echo(json.dumps(report))
        return
    args.pop("n")
    _print_layer(report, oh.plain_memory(**args), cin or C, cout or C, H, W or H, T, K, n, stride)


def _print_layer(report: dict, plain_mem: int, cin, cout, H, W, T, K, n, stride) -> None:
    f, m, p = report["formula"], report["measured"], report["plain"]
    square = cin == cout and stride == 1
    print_table(
        ["", "formula" if square else "formula (generalised)", "measured", "plain conv", "ARC / plain"],
        [
            ["multiply-adds, Eq. 8", f["flops"], m["flops"], p["flops"], m["flops"] / p["flops"]],
            ["parameters, Eq. 9 corrected", f["params"], m["params"], p["params"], m["params"] / p["params"]],
            ["parameters, Eq. 9 as printed", f["params_printed"], None, p["params"], f["params_printed"] / p["params"]],
            ["training memory (elements), Eq. 10", f["memory_elements"], m["memory_elements"], plain_mem,
             m["memory_elements"] / plain_mem],
            ["  the same, autograd definition", None, m["memory_elements_autograd"], plain_mem,
             m["memory_elements_autograd"] / plain_mem],
        ],
        title=f"ARC conv layer: Cin={cin}, Cout={cout}, {H}×{W}, T={T}, K={K}, n={n}, stride {stride}; "
              "one clip (N=1), multiply-adds of the forward",
    )
    if m["flops"] != f["flops"] or m["params"] != f["params"]:
        click.echo("Warning: the measured counts differ from the formulas: the layer does not execute what "
                   "Eqs. 8–9 describe (please report it).")
    if n == 1:
        click.echo("n = 1: ARC is the plain conv (no ARU parameters).")
        return
    c = cout // n
    click.echo(
        f"Eq. 9 as printed, K²C² + C² + C²(n-1)/n = {f['params_printed']:,}, counts one set of maps. The layer holds "
        f"n-1 = {n - 1} fusion AND {n - 1} attention maps of {cin}×{c} each, i.e. "
        f"{f['params'] - f['params_printed']:,} parameters more: {f['params']:,}, which is what the layer has."
    )
    click.echo(
        f"Memory: Eq. 10 counts the input, the embedded map, n-1 states and the two attention maps. The layer keeps "
        f"its input and output and rebuilds the rest in the backward: {m['memory_elements'] / f['memory_elements']:.2f}"
        f"× Eq. 10. Its autograd definition keeps the input and, per step, the part Y_i, its two pooled maps, "
        f"σ(E + A_i) and the state Z_i: {m['memory_elements_autograd'] / f['memory_elements']:.2f}× Eq. 10."
    )
    if not square:
        click.echo("Cin ≠ Cout or stride > 1: the formulas are Eqs. 8–10 generalised to what the layer executes "
                   "(1×1 maps at the output resolution).")


def _print_model(report: dict, backbone, frames, num_classes, stages, n, size) -> None:
    tsm, arc = report["tsm"], report["arc"]
    print_table(
        ["", "multiply-adds (G)", "parameters (M)", "training memory (M elements)"],
        [
            ["TSM", tsm["flops"] / 1e9, tsm["params"] / 1e6, tsm["memory_elements"] / 1e6],
            ["ARC-TSM", arc["flops"] / 1e9, arc["params"] / 1e6, arc["memory_elements"] / 1e6],
            ["ARC − TSM", (arc["flops"] - tsm["flops"]) / 1e9, (arc["params"] - tsm["params"]) / 1e6,
             (arc["memory_elements"] - tsm["memory_elements"]) / 1e6],
            ["ARC / TSM", arc["flops"] / tsm["flops"], arc["params"] / tsm["params"],
             arc["memory_elements"] / tsm["memory_elements"]],
        ],
        title=f"{backbone}, {frames} frames at {size}×{size}, {num_classes} classes, ARC in "
              f"{','.join(stages) or 'no stage'} with n={n}; one clip: forward multiply-adds, "
              "elements kept for the backward in training",
    )


def _print_motion(report: dict, backbone, frames, num_classes, stages, n, size) -> None:
    paper, module = report["paper"] or {}, report["module"]
    rows = [["TSM", report["tsm"]["flops"] / 1e9, report["tsm"]["params"] / 1e6, None, None, None]]
    for label, key in (("MSN", "msn"), (f"ARC-MSN (n={n})", "arc_msn")):
        printed = [str(paper[key][k]) for k in ("top1", "gflops", "mparams")] if key in paper else [None] * 3
        rows.append([label, report[key]["flops"] / 1e9, report[key]["params"] / 1e6, *printed])
    rows.append(["MS module alone", module["flops"] / 1e9, module["params"] / 1e6, None, None, None])
    print_table(
        ["", "multiply-adds (G)", "parameters (M)", "paper: SSv1 top-1 %", "paper: GFLOPs", "paper: params (M)"],
        rows,
        title=f"{backbone}, {frames} frames at {size}×{size}, {num_classes} classes, ARC in "
              f"{','.join(stages) or 'no stage'}; one clip, forward; beside the paper's Table 7 (SSv1, 8 frames)",
    )
    click.echo(f"The MS module: {module['params']:,} parameters, {module['flops'] / 1e9:.3f} G multiply-adds, of "
               f"which {module['correlation_flops'] / 1e9:.3f} G the 15×15 correlation (counted as its window).")
    if "msn" not in paper:
        click.echo(f"The paper's Table 7 has no {backbone} row (it reports r18 and r50).")
        return
    tsm, msn = report["tsm"]["params"] / 1e6, report["msn"]["params"] / 1e6
    arc_added = (report["arc_msn"]["params"] - report["msn"]["params"]) / 1e6
    click.echo(
        f"Parameters: MSN = TSM {tsm:.2f} M + the MS module {module['params'] / 1e6:.3f} M = {msn:.2f} M. The paper's "
        f"{paper['msn']['mparams']} M does not follow from the module ({paper['msn']['mparams'] - msn:+.2f} M "
        f"unaccounted for); ARC adds {arc_added:.2f} M here, "
        f"{paper['arc_msn']['mparams'] - paper['msn']['mparams']:.1f} M in the paper."
    )
