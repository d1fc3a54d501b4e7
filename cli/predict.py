"""`arc predict`: the most likely classes of video files or frame folders."""

from __future__ import annotations

import click

from arc.cli.errors import OneLineError, library_errors, one_line
from arc.cli.options import device_option
from arc.data.sampling import TEST_CROPS
from arc.runtime import AMP_MODES


@click.command("predict")
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option("--checkpoint", type=click.Path(), required=True, help="A training checkpoint (best.pt).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="How many classes per video.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Frames per clip (default: what the model was trained with).")
@click.option("--clips", type=click.IntRange(min=1), default=None, help="Clips averaged (default: the recipe's).")
@click.option("--crops", type=click.Choice([str(c) for c in TEST_CROPS]), default="1", show_default=True,
              help="1 = centre crop after resize 256; 3 = three full-resolution crops.")
@device_option()
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice; on a busy machine fewer are often faster).")
@click.option("--amp", type=click.Choice(AMP_MODES), default="auto", show_default=True,
              help="Mixed precision; auto = bf16 on GPUs that compute it natively, none on CPU.")
@click.option("--json", "as_json", is_flag=True,
              help='One line per video: {"video", "classes", "probs"}, best first (probabilities in [0, 1]).')
def predict(videos, checkpoint, top, frames, clips, crops, device, threads, amp, as_json):
    """Print the most likely classes of each VIDEO (a video file or a folder of frames) with their probabilities.

    A missing or unreadable video is reported (stderr; with --json also as {"video", "error"}) and the others go on;
    the exit code is then 1."""
    import json

    from arc.evaluation import predict_many, prediction_json
    from arc.runtime.device import cpu_threads
    from arc.training.checkpoint import CheckpointError

    failed = []

    def on_error(path, error):
        failed.append(path)
        if as_json:
            click.echo(json.dumps({"video": str(path), "error": one_line(error)}))
        click.echo(f"error: {one_line(error)}", err=True)

    with library_errors(), cpu_threads(threads):
        try:
            for path, ranked in predict_many(videos, checkpoint, topk=top, frames=frames, clips=clips,
                                             crops=int(crops), device=device, amp=amp, on_error=on_error):
                if as_json:
                    click.echo(prediction_json(path, ranked))
                    continue
                if len(videos) > 1:
                    click.echo(str(path))
                for rank, (name, prob) in enumerate(ranked, 1):
                    click.echo(f"{rank}. {100 * prob:6.2f}%  {name}")
        except CheckpointError as e:
            raise OneLineError(f"--checkpoint: {e}") from None
    if failed:
        click.echo(f"{len(failed)} of {len(videos)} videos could not be read", err=True)
        raise SystemExit(1)
