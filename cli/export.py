"""`arc export`: a trained model as an ONNX or TorchScript file that runs without this package."""

from __future__ import annotations

import click

from arc.cli.errors import OneLineError, library_errors


@click.command("export")
@click.option("--checkpoint", type=click.Path(), required=True, help="A training checkpoint (best.pt).")
@click.option("--format", "format_", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True,
              help="onnx (needs the onnx package: pip install 'arc-action[export]') or torchscript (torch.jit.trace).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Frames per clip, fixed in the file (default: what the model was trained with).")
@click.option("--out", type=click.Path(), default=None,
              help="The file to write (default beside the checkpoint: best-t8.onnx, best-t8.torchscript.pt); the "
                   "class names go to OUT.classes.txt.")
@click.option("--opset", type=click.IntRange(min=11), default=17, show_default=True, help="ONNX opset version (11+).")
@click.option("--no-check", is_flag=True,
              help="Skip running the written file against the PyTorch model (max abs difference on a random clip).")
def export(checkpoint, format_, frames, out, opset, no_check):
    """Write the model of a checkpoint as ONNX or TorchScript: input clips [B, T, 3, S, S] (normalised as arc eval
    does), output logits [B, classes]; the batch size B is free, T and S are fixed."""
    from arc.export import ExportError
    from arc.export import export as run
    from arc.training.checkpoint import CheckpointError

    with library_errors():
        try:
            r = run(checkpoint, out, format=format_, frames=frames, opset=opset, check=not no_check)
        except CheckpointError as e:
            raise OneLineError(f"--checkpoint: {e}") from None
        except ExportError as e:
            raise OneLineError(str(e)) from None
    click.echo(f"{r['format']}: {r['path']} ({r['bytes'] / 2**20:.1f} MiB, {r['seconds']:.1f} s); input clips "
               f"[B, {r['frames']}, 3, {r['input_size']}, {r['input_size']}], output logits [B, {r['num_classes']}]")
    click.echo(f"class names: {r['classes']}")
    if r["max_abs_diff"] is not None:
        click.echo(f"checked against PyTorch on a random clip: max abs difference {r['max_abs_diff']:.2e}")
    elif not no_check:
        click.echo("not checked: onnxruntime is not installed (pip install 'arc-action[export]')")
