"""`arc` — entry point. Sub-commands live one per module in `cli/` and load lazily,
so `arc --help` answers without importing torch."""

from __future__ import annotations

import importlib
import sys

import click

from arc.cli.errors import is_main_process, one_line

# command name -> (module under arc.cli, attribute, one-line help)
COMMANDS = {
    "train": ("train", "train", "Train ARC-TSM / TSM on a dataset (the paper's recipe by default)."),
    "eval": ("evaluate", "eval_cmd", "Evaluate a checkpoint: top-1/5, mean class accuracy, scores, submission."),
    "predict": ("predict", "predict", "Top-5 classes of video files or frame folders (--json: one line each)."),
    "export": ("export", "export", "Write a checkpoint's model as ONNX or TorchScript, to run without arc."),
    "overhead": ("overhead", "overhead", "FLOPs / parameters / memory of ARC: paper formulas vs measured."),
    "data": ("data", "data", "Datasets: where they live, download / prepare, check, the synthetic sets."),
    "bench": ("bench", "bench", "Benchmarks that print their figures (layer, reference, training, memory, accuracy)."),
    "viz": ("viz", "viz", "The paper's figures (attention, states, Grad-CAM, confusion groups) and curves."),
}


class LazyGroup(click.Group):
    """Loads a command's module when it is used, and prints every usage error as one `Error:` line (exit 2)."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as e:     # bad options and values, here or in any command
            if is_main_process():
                click.echo(f"Error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"arc.cli.{module}"), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arc-action")
def cli():
    """ARC: Adaptive Recursive Circle for fine-grained action recognition."""
