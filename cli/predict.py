"""`arc predict`: the top-5 classes of one video file or frame folder."""

from __future__ import annotations

import click


@click.command("predict")
@click.argument("video", type=click.Path(exists=True))
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A training checkpoint (best.pt).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="How many classes to print.")
@click.option("--clips", type=click.IntRange(min=1), default=None, help="Clips averaged (default: the recipe's).")
@click.option("--device", default="auto", show_default=True)
def predict(video, checkpoint, top, clips, device):
    """Print the most likely classes of VIDEO (a video file or a folder of frames) with their probabilities."""
    from arc.evaluation import predict as run
    from arc.training.checkpoint import CheckpointError

    try:
        ranked = run(video, checkpoint, topk=top, clips=clips, device=device)
    except CheckpointError as e:
        raise click.BadParameter(str(e), param_hint="--checkpoint") from None
    except (ValueError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from None
    for rank, (name, prob) in enumerate(ranked, 1):
        click.echo(f"{rank}. {100 * prob:6.2f}%  {name}")
