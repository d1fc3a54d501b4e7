"""`arc train`: parse the options, call `arc.training.loop.train`, report."""

from __future__ import annotations

import click

from arc.cli.errors import OneLineError, is_main_process, one_line
from arc.cli.options import ablation_options, device_option
from arc.data.registry import DATASETS
from arc.data.sampling import SAMPLINGS
from arc.nn.choices import ARU_ACTS, BACKBONES, DEFAULT_STAGES, MOTIONS, POOLS
from arc.runtime import AMP_MODES
from arc.training.schedule import SCHEDULES

PRESET = "(default: the dataset's recipe)"


@click.command("train")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default="synthetic", show_default=True,
              help="Dataset and its recipe (the paper's Table 1, docs/training.md); 'synthetic' is generated into "
                   "a cache when missing.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset folder as distributed (default: its folder in the data home, $ARC_DATA_ROOT, see "
                   "`arc data home`; synthetic: the cache folder).")
@click.option("--generate", is_flag=True,
              help="--dataset synthetic: write the synthetic set into a --data-root that does not exist yet.")
@click.option("--train-list", type=click.Path(dir_okay=False), default=None,
              help="--dataset list: training list ('path num_frames label' or 'path label').")
@click.option("--val-list", type=click.Path(dir_okay=False), default=None, help="--dataset list: validation list.")
@click.option("--backbone", type=click.Choice(list(BACKBONES)), default="r18", show_default=True)
@click.option("--n", type=click.IntRange(min=1), default=4, show_default=True,
              help="ARC recursive steps; 1 = plain TSM.")
@click.option("--stages", default=",".join(DEFAULT_STAGES), show_default=True,
              help="Stages with ARC, comma list of res2..res5, or 'none' (= TSM).")
@click.option("--no-shift", is_flag=True, help="No temporal shift: TSN (a frame-averaging baseline).")
@click.option("--pool", type=click.Choice(POOLS), default="max", show_default=True,
              help="ARC pooling of the backward attention: max (the paper) or mean (the authors' released code).")
@click.option("--aru-act", type=click.Choice(ARU_ACTS), default="relu", show_default=True,
              help="σ of the ARU: relu (the paper) or leaky_relu, slope 0.01 (the authors' released code).")
@ablation_options()
@click.option("--sampling", type=click.Choice(SAMPLINGS), default=None,
              help="Frames of a clip: tsm = TSM's sampler (the authors'; the last N mod T frames are never drawn in "
                   "training, 2 test clips = TSM's twice_sample), uniform = segments that cover every frame. "
                   "[default: the recipe's: tsm; uniform for synthetic]")
@click.option("--motion", type=click.Choice(MOTIONS), default="none", show_default=True,
              help="ms: the MotionSqueeze module after res3 (MSNet; ARC-MSN, or plain MSN with --n 1).")
@click.option("--frames", "num_segments", type=click.IntRange(min=1), default=None,
              help=f"Frames per clip T {PRESET}: 8.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help=f"Epochs {PRESET}.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Global batch over all processes {PRESET}; changing it scales the lr linearly unless --lr.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help=f"Initial lr {PRESET}.")
@click.option("--wd", "weight_decay", type=click.FloatRange(min=0), default=None, help=f"Weight decay {PRESET}.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None,
              help=f"Dropout before the classifier {PRESET}: 0.5.")
@click.option("--clip-grad", type=click.FloatRange(min=0), default=None,
              help="Max gradient norm, 0 = off (default 20, TSM's; the ARC SSv1 script used 200).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=None, help=f"LR schedule {PRESET}.")
@click.option("--milestones", default=None, help="Multistep: epochs where the lr drops ×0.1, e.g. 30,40.")
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=None, help="Cosine: linear warm-up epochs.")
@click.option("--test-clips", type=click.IntRange(min=1), default=None,
              help="Clips per video when validating (and arc eval's default) (default: the dataset's test "
                   "protocol: 2 for Diving48, else 1).")
@click.option("--input-size", type=click.IntRange(min=16), default=None,
              help=f"Crop size in pixels {PRESET}: 224, synthetic 32.")
@click.option("--pretrained", default=None,
              help="'imagenet', a checkpoint path, or 'none' (default: imagenet; synthetic: none).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Data-loading processes per rank "
              "(default: the CPUs shared among this machine's ranks, less one each, at most 16).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads per process (default: torch's; on a busy machine 1 is often fastest).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default runs/<dataset>-<backbone>-<arch>, where <arch> is tsn, tsm, msn or arcN "
                   "followed by each ARC option not at its default, e.g. arc4-aru-terms-fuse-attend; on --resume the "
                   "checkpoint's folder).")
@click.option("--resume", type=click.Path(dir_okay=False), default=None,
              help="Continue the run saved in this checkpoint (e.g. OUT/last.pt), at the exact batch.")
@click.option("--save-every", default="0", show_default=True,
              help="Also write last.pt every N steps (500), or every so much time (10m, 30s, 1h); 0: once per "
                   "epoch. SIGINT/SIGTERM always save before stopping.")
@click.option("--overwrite", is_flag=True,
              help="Replace the run found in --out (its checkpoints, metrics, config; nothing else there).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms (slower; exact resumes).")
@device_option()
@click.option("--amp", type=click.Choice(AMP_MODES), default="auto", show_default=True,
              help="Mixed precision; auto = bf16 on GPUs that compute it natively (Ampere and later), fp16 with a "
                   "gradient scaler on older GPUs, none on the CPU.")
@click.option("--channels-last/--no-channels-last", default=None,
              help="channels-last memory format (default: on CUDA).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--max-bad-fraction", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Stop when more than this fraction of samples cannot be read.")
@click.option("--log-every", type=click.IntRange(min=0), default=0,
              help="Plain-log line every this many steps (0: about 5 per epoch).")
def train(no_shift, compile_, **options):
    """Train ARC-TSM (or TSM with --n 1, TSN with --no-shift) with the paper's recipe.

    Outputs in OUT: last.pt (every epoch, every --save-every, and on SIGINT/SIGTERM), best.pt, metrics.jsonl (one
    line per epoch), config.json, and TensorBoard events in tb/ (always on: tensorboard --logdir OUT/tb). An OUT
    that holds a run needs --resume or --overwrite. Ctrl-C or SIGTERM finish
    the step, save and print the command that resumes (exit 130 / 143); a second Ctrl-C aborts at once.
    Distributed: torchrun --nproc_per_node K --no-python -- arc train … (the -- keeps torchrun from reading --n as
    one of its own options).
    """
    from arc.files import WriteError
    from arc.training.checkpoint import CheckpointError
    from arc.training.config import ConfigError, TrainConfig
    from arc.training.loop import TrainingStopped
    from arc.training.loop import train as run
    from arc.training.stop import Interrupted

    cfg = TrainConfig(shift=not no_shift, compile=compile_, **options)
    try:
        summary = run(cfg)
    except CheckpointError as e:
        raise OneLineError(f"--resume: {one_line(e)}") from None
    except (ConfigError, WriteError) as e:
        raise OneLineError(one_line(e)) from None
    except TrainingStopped as e:
        if is_main_process():
            click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    except Interrupted as e:
        if is_main_process():
            click.echo(str(e), err=True)
        raise SystemExit(e.exit_code) from None
    if is_main_process():
        click.echo(f"done: best top-1 {100 * summary['best_top1']:.2f}%; checkpoints {summary['last']}, "
                   f"{summary['best']}; metrics {summary['metrics']}")
