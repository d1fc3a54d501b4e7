"""`arc eval`: evaluate a checkpoint on its dataset's validation split."""

from __future__ import annotations

import click


@click.command("eval")
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A training checkpoint (best.pt).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset folder (default: the one the checkpoint was trained on).")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True)
@click.option("--clips", type=click.IntRange(min=1), default=None,
              help="Clips per video, temporally shifted, scores averaged (default: the recipe's; Diving48 2).")
@click.option("--crops", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="1 = centre crop after resize 256; 3 = three full-resolution crops.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--amp", type=click.Choice(["none", "bf16", "fp16"]), default="none", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the confusion matrix (.npy) and per-class accuracy (.csv); default beside the "
                   "checkpoint.")
@click.option("--json", "as_json", is_flag=True,
              help='Print only {"num_classes","top1","top5","mean_class_acc","clips","crops","videos"} '
                   "(fractions in [0, 1]).")
def eval_cmd(checkpoint, data_root, split, clips, crops, batch_size, workers, device, amp, out, as_json):
    """Top-1, top-5 and mean class accuracy of a checkpoint; writes the confusion matrix and per-class accuracy."""
    from arc.evaluation import evaluate, to_json
    from arc.training.checkpoint import CheckpointError

    log = lambda m: click.echo(m, err=True)  # warnings on stderr, so --json output stays one clean line
    try:
        r = evaluate(checkpoint, data_root=data_root, split=split, clips=clips, crops=int(crops),
                     batch_size=batch_size, workers=workers, device=device, amp=amp, out_dir=out, log=log)
    except CheckpointError as e:
        raise click.BadParameter(str(e), param_hint="--checkpoint") from None
    except (ValueError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(to_json(r))
        return
    click.echo(f"{r['videos']} videos, {r['num_classes']} classes, {r['clips']} clip(s) × {r['crops']} crop(s)")
    click.echo(f"top-1          {100 * r['top1']:6.2f}%")
    click.echo(f"top-5          {100 * r['top5']:6.2f}%")
    click.echo(f"mean class acc {100 * r['mean_class_acc']:6.2f}%")
    if r["bad"]:
        click.echo(f"skipped {len(r['bad'])} unreadable: " + "; ".join(r["bad"]))
    click.echo(f"confusion matrix: {r['confusion']}\nper-class accuracy: {r['per_class']}")
