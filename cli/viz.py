"""`arc viz`: the paper's interpretation figures and training curves, one subcommand per figure (docs/viz.md).
Each calls one function of `arc.viz` that returns the figure, writes it (`--out`, format by suffix) and prints
the path."""

from __future__ import annotations

from pathlib import Path

import click

from arc.cli.errors import library_errors
from arc.cli.options import device_option
from arc.data.registry import SPLITS

_CHECKPOINT = click.option("--checkpoint", type=click.Path(dir_okay=False), required=True,
                           help="A checkpoint written by arc train (best.pt).")
_OUT = click.option("--out", type=click.Path(dir_okay=False), default=None,
                    help="Image file; .png, .pdf or .svg by its suffix (default: beside the checkpoint).")
_VIDEO = click.option("--video", type=click.Path(exists=True), default=None,
                      help="A video file or frame folder (default: a video of the validation split).")
_DATA_ROOT = click.option("--data-root", type=click.Path(file_okay=False), default=None,
                          help="Dataset folder for validation videos (default: the checkpoint's).")
_INDEX = click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
                      help="Which validation video, when no --video is given.")
_DEVICE = device_option("cpu", "cpu, cuda, cuda:N, or auto (CUDA when present).")


def _write(fig, out, default: Path) -> None:
    from arc.viz.common import save

    with library_errors("--out"):
        path = save(fig, out or default)
    click.echo(str(path))


def _check_out(out) -> None:
    """A bad --out suffix is refused before any work."""
    if out is not None:
        from arc.viz.common import check_suffix

        with library_errors("--out"):
            check_suffix(out)


def _tag(video, index: int) -> str:
    return Path(video).stem if video is not None else f"val{index}"


@click.group("viz")
def viz():
    """The paper's figures for your model and videos (attention, states, cam, confusion) and training curves."""


@viz.command("attention", short_help="Backward attention per step and channel (paper Fig. 3).")
@_CHECKPOINT
@click.option("--layer", "layers", multiple=True,
              help="An ARC layer, e.g. res3-block1-conv2 or layer2.1.conv2; repeat for several (default: the "
                   "first ARC conv of each ARC stage).")
@_VIDEO
@click.option("--clips", type=click.IntRange(min=1), default=8, show_default=True,
              help="Validation clips averaged, when no --video is given.")
@_DATA_ROOT
@_DEVICE
@_OUT
def attention(checkpoint, layers, video, clips, data_root, device, out):
    """Fig. 3: backward attention per recursive step (rows) and input channel (columns)."""
    from arc.viz.attention import plot_attention
    from arc.viz.common import default_out

    _check_out(out)
    with library_errors():
        fig = plot_attention(checkpoint, video=video, layers=layers or None, data_root=data_root, clips=clips,
                             device=device)
    _write(fig, out, default_out(checkpoint, "attention" + (f"-{_tag(video, 0)}" if video else "")))


@viz.command("states", short_help="States Z_i of one ARC layer per step and frame (paper Fig. 6).")
@_CHECKPOINT
@click.option("--layer", default="res3-block1-conv2", show_default=True,
              help="The ARC layer (the paper's: second 3x3 conv of the second block of res3 = layer2.1.conv2).")
@click.option("--change", is_flag=True, help="Draw Z_i - Z_1 (what the recursion added) on a symmetric scale.")
@_VIDEO
@_INDEX
@_DATA_ROOT
@_DEVICE
@_OUT
def states(checkpoint, layer, change, video, index, data_root, device, out):
    """Fig. 6: the input states Z_1..Z_n of one ARC layer, mean over channels, per frame, under the RGB frames."""
    from arc.viz.common import default_out
    from arc.viz.states import plot_states

    _check_out(out)
    with library_errors():
        fig = plot_states(checkpoint, video=video, layer=layer, data_root=data_root, index=index, change=change,
                          device=device)
    _write(fig, out, default_out(checkpoint, f"states{'-change' if change else ''}-{_tag(video, index)}"))


@viz.command("cam", short_help="Grad-CAM on the frames, baseline vs ARC (paper Fig. 5).")
@_CHECKPOINT
@click.option("--baseline", type=click.Path(dir_okay=False), default=None,
              help="A baseline checkpoint (e.g. TSM) shown in the row above.")
@click.option("--layer", default="res3", show_default=True,
              help="Whose output is explained: a stage (res2..res5), a block (res3-block1) or a module name.")
@click.option("--class", "target", default=None,
              help="Class to explain: index or exact name (default: each model's predicted class).")
@_VIDEO
@_INDEX
@_DATA_ROOT
@_DEVICE
@_OUT
def cam(checkpoint, baseline, layer, target, video, index, data_root, device, out):
    """Fig. 5: Grad-CAM on the frames, RGB / baseline / ARC rows."""
    from arc.viz.cam import plot_cam
    from arc.viz.common import default_out

    _check_out(out)
    with library_errors():
        fig = plot_cam(checkpoint, video=video, baseline=baseline, layer=layer, target=target, data_root=data_root,
                       index=index, device=device)
    _write(fig, out, default_out(checkpoint, f"cam-{_tag(video, index)}"))


@viz.command("confusion", short_help="Confusion within groups of similar classes, baseline vs ARC (paper Fig. 4).")
@_CHECKPOINT
@click.option("--baseline", type=click.Path(dir_okay=False), default=None,
              help="A baseline checkpoint, shown beside (its confusion matrix from arc eval, too).")
@click.option("--groups", "groups_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Groups of classes: one a line, class names or indices separated by ';' (default: classes "
                   "sharing a leading template; on SSv1 the paper's four).")
@click.option("--split", type=click.Choice(SPLITS), default="val", show_default=True,
              help="Whose confusion matrix: <checkpoint>-<split>-confusion.npy, written by arc eval.")
@click.option("--max-groups", type=click.IntRange(min=1), default=4, show_default=True,
              help="Most default groups shown (largest first).")
@_OUT
def confusion(checkpoint, baseline, groups_file, split, max_groups, out):
    """Fig. 4: confusion sub-matrices of groups of similar classes, baseline beside ARC (from arc eval's .npy)."""
    from arc.viz.common import default_out
    from arc.viz.confusion import plot_groups

    _check_out(out)
    with library_errors():
        fig = plot_groups(checkpoint, baseline=baseline, groups_file=groups_file, split=split,
                          max_groups=max_groups)
    _write(fig, out, default_out(checkpoint, f"{split}-groups"))


@viz.command("curves", short_help="Loss, top-1/5 and lr per epoch of one or more runs.")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--name", "names", multiple=True,
              help="A name per run folder, in order (default: the folder names).")
@_OUT
def curves(run_dirs, names, out):
    """Loss, top-1/5 and lr per epoch from RUN_DIR/metrics.jsonl; several runs overlaid."""
    from arc.viz.curves import plot_curves

    _check_out(out)
    with library_errors():
        fig = plot_curves(run_dirs, names=names or None)
    _write(fig, out, Path(run_dirs[0]) / "curves.png")
