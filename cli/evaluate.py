"""`arc eval`: evaluate a checkpoint on a split of its dataset; per-video scores and a submission for the test split."""

from __future__ import annotations

import click

from arc.cli.errors import OneLineError, library_errors
from arc.cli.options import device_option
from arc.data.registry import SPLITS
from arc.data.sampling import TEST_CROPS
from arc.runtime import AMP_MODES


@click.command("eval")
@click.option("--checkpoint", type=click.Path(), required=True, help="A training checkpoint (best.pt).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset folder (default: the one the checkpoint was trained on).")
@click.option("--split", type=click.Choice(SPLITS), default="val", show_default=True,
              help="test: no labels needed; writes per-video scores and a submission file, no accuracy.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Frames per clip (default: what the model was trained with; an 8-frame model runs on 16).")
@click.option("--clips", type=click.IntRange(min=1), default=None,
              help="Clips per video, temporally shifted, scores averaged (default: the recipe's; Diving48 2).")
@click.option("--crops", type=click.Choice([str(c) for c in TEST_CROPS]), default="1", show_default=True,
              help="1 = centre crop after resize 256; 3 = three full-resolution crops.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True, help="Videos per batch.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@device_option()
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice; on a busy machine fewer are often faster).")
@click.option("--amp", type=click.Choice(AMP_MODES), default="auto", show_default=True,
              help="Mixed precision; auto = bf16 on GPUs that compute it natively, fp16 on older ones, none on CPU.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the files (scores .npz, predictions and submission .csv, confusion .npy, per-class "
                   ".csv), named <checkpoint>-<split>-…; default beside the checkpoint. Checked writable first.")
@click.option("--json", "as_json", is_flag=True,
              help='Print only {"num_classes","top1","top5","mean_class_acc","clips","crops","videos"} '
                   "(fractions in [0, 1]; null without labels).")
def eval_cmd(checkpoint, data_root, split, frames, clips, crops, batch_size, workers, device, threads, amp, out,
             as_json):
    """Top-1, top-5 and mean class accuracy of a checkpoint on a split; writes per-video scores, predictions, a
    submission file (SSv1 'id;class name' lines), the confusion matrix and per-class accuracy."""
    from arc.evaluation import evaluate, to_json
    from arc.runtime.device import cpu_threads
    from arc.training.checkpoint import CheckpointError

    log = lambda m: click.echo(m, err=True)  # warnings on stderr, so --json output stays one clean line
    with library_errors(), cpu_threads(threads):
        try:
            r = evaluate(checkpoint, data_root=data_root, split=split, frames=frames, clips=clips, crops=int(crops),
                         batch_size=batch_size, workers=workers, device=device, amp=amp, out_dir=out, log=log)
        except CheckpointError as e:
            raise OneLineError(f"--checkpoint: {e}") from None
    if as_json:
        click.echo(to_json(r))
    else:
        click.echo(f"{r['split']}: {r['videos']} videos, {r['num_classes']} classes, {r['frames']} frames × "
                   f"{r['clips']} clip(s) × {r['crops']} crop(s)")
        if r["top1"] is None:
            click.echo("no labels in this split: no accuracy (the submission file is for the benchmark server)")
        else:
            click.echo(f"top-1          {100 * r['top1']:6.2f}%")
            click.echo(f"top-5          {100 * r['top5']:6.2f}%")
            click.echo(f"mean class acc {100 * r['mean_class_acc']:6.2f}%")
        if r["bad"]:
            click.echo(f"skipped {len(r['bad'])} unreadable: " + "; ".join(r["bad"]))
        for name, path in r["files"].items():
            click.echo(f"{name.replace('_', '-')}: {path}")
    for why in r["failed"].values():
        click.echo(f"error: {why}", err=True)
    if r["failed"]:
        raise SystemExit(1)
