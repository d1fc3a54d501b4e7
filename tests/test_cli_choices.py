"""Every choice the command line offers is the library's list (`arc.nn.choices`, the data registry, …), every default
that is a fact is read from where the fact is stated, every `--device` goes through the one device check, and each
such fact is written once in the package."""

import ast
import inspect
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from arc.cli.main import COMMANDS, cli
from arc.cli.options import Device
from arc.data.registry import DATASETS, SPLITS
from arc.data.sampling import SAMPLINGS, TEST_CROPS
from arc.nn import choices
from arc.nn.choices import ARU_ACTS, BACKBONES, DEFAULT_STAGES, IMPLS, MOTIONS, POOLS, parse_stages
from arc.runtime import AMP_MODES
from arc.training.schedule import SCHEDULES

ROOT = Path(__file__).resolve().parents[1]

# option -> the list it must offer
CHOICES = {
    "--impl": IMPLS, "--pool": POOLS, "--backbone": tuple(BACKBONES), "--model": tuple(BACKBONES), "--amp": AMP_MODES,
    "--split": SPLITS, "--crops": tuple(str(c) for c in TEST_CROPS), "--dataset": tuple(DATASETS),
    "--aru-act": ARU_ACTS, "--motion": MOTIONS, "--sampling": SAMPLINGS, "--schedule": SCHEDULES,
    "--aru-terms": choices.ARU_NAMES, "--attention": choices.ATTENTIONS,
}


def commands():
    """(path, click command) of every command and subcommand of `arc`."""
    for name in sorted(COMMANDS):
        command = cli.get_command(None, name)
        if isinstance(command, click.Group):
            yield from ((f"{name} {sub}", c) for sub, c in sorted(command.commands.items()))
        else:
            yield name, command


def options(name: str):
    """(command path, option) of every option called `name`."""
    return [(path, p) for path, command in commands() for p in command.params if name in p.opts]


@pytest.mark.parametrize("flag", sorted(CHOICES))
def test_every_choice_option_offers_exactly_the_librarys_list(flag):
    found = options(flag)
    assert found, f"no command has {flag}"
    for path, option in found:
        if flag == "--dataset" and path.startswith("data "):
            continue   # `arc data download` offers the datasets it can download (arc.data.sources)
        assert isinstance(option.type, click.Choice), f"arc {path} {flag} is free text"
        assert tuple(option.type.choices) == CHOICES[flag], f"arc {path} {flag}"


def test_defaults_that_are_facts_are_read_from_where_the_fact_is_stated():
    from arc.nn.models import build_model
    from arc.training.config import TrainConfig

    for path, option in options("--stages"):
        assert option.default == ",".join(DEFAULT_STAGES), f"arc {path} --stages"
    assert parse_stages(TrainConfig().stages) == DEFAULT_STAGES and TrainConfig().resolve()[0].stages == DEFAULT_STAGES
    assert inspect.signature(build_model).parameters["stages"].default == DEFAULT_STAGES
    [(_, num_classes)] = options("--num-classes")
    assert num_classes.default == DATASETS["ssv1"].num_classes


DEVICE_COMMANDS = {   # every command with --device, and the arguments it needs to get as far as parsing --device
    "train": [], "eval": ["--checkpoint", "x.pt"], "predict": ["VIDEO", "--checkpoint", "x.pt"],
    "viz attention": ["--checkpoint", "x.pt"], "viz states": ["--checkpoint", "x.pt"],
    "viz cam": ["--checkpoint", "x.pt"], "bench layer": [], "bench train": [], "bench memory": [],
}


def test_every_device_option_is_the_one_checked_option():
    found = options("--device")
    assert {path for path, _ in found} == set(DEVICE_COMMANDS)
    assert all(isinstance(option.type, Device) for _, option in found)


@pytest.mark.parametrize("command", sorted(DEVICE_COMMANDS))
@pytest.mark.parametrize("device,says", [
    ("bogus", "Error: --device 'bogus': expected auto, cpu, cuda or cuda:N"),
    pytest.param("cuda", "Error: --device cuda: CUDA is not available on this machine (torch sees no GPU)",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="for machines without CUDA")),
])
def test_a_bad_or_unavailable_device_is_one_error_line_and_exit_2_for_every_command(command, device, says, tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    args = [str(video) if a == "VIDEO" else a for a in DEVICE_COMMANDS[command]]
    result = CliRunner().invoke(cli, [*command.split(), "--device", device, *args])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [says]


@pytest.mark.skipif(torch.cuda.is_available(), reason="for machines without CUDA")
def test_the_library_checks_the_device_before_any_work():
    from arc.bench.layer import time_layer
    from arc.bench.memory import peak_memory
    from arc.viz.attention import plot_attention
    from arc.viz.cam import plot_cam
    from arc.viz.states import plot_states

    for call in (lambda: plot_attention("missing.pt", device="cuda"), lambda: plot_states("missing.pt", device="cuda"),
                 lambda: plot_cam("missing.pt", device="cuda"), lambda: time_layer(device="cuda"),
                 lambda: peak_memory(device="cuda")):
        with pytest.raises(ValueError, match="--device cuda: CUDA is not available"):
            call()


# -- each fact written once ----------------------------------------------------------------------------------

FACTS = {   # what a literal in the package's code may not spell out again, and the one file that states it as one
            # (None: stated otherwise, e.g. as the keys of a table)
    "backbones": (set(BACKBONES), None), "stages": (set(DEFAULT_STAGES), "arc/nn/choices.py"),
    "pools": (set(POOLS), "arc/nn/choices.py"), "ARU activations": (set(ARU_ACTS), "arc/nn/choices.py"),
    "motions": (set(MOTIONS), "arc/nn/choices.py"), "implementations": (set(IMPLS), "arc/nn/choices.py"),
    "ARU terms": (set(choices.ARU_NAMES), "arc/nn/choices.py"), "attention views": (set(choices.ATTENTIONS), None),
    "AMP modes": (set(AMP_MODES), "arc/runtime/__init__.py"),
    "AMP modes but auto": (set(AMP_MODES) - {"auto"}, None), "splits": (set(SPLITS), "arc/data/registry.py"),
    "samplings": (set(SAMPLINGS), "arc/data/sampling.py"), "test crops": (set(TEST_CROPS), "arc/data/sampling.py"),
    "test crops as text": ({str(c) for c in TEST_CROPS}, None),
    "schedules": (set(SCHEDULES), "arc/training/schedule.py"),
    "datasets": (set(DATASETS), None),
}


def literals(path: Path):
    """(line, value) of every constant tuple / list / set in `path` that is not an element of another (crop
    positions are pairs inside a table), every int and every string."""
    tree = ast.parse(path.read_text())
    inner = {id(e) for node in ast.walk(tree) if isinstance(node, (ast.Tuple, ast.List, ast.Set)) for e in node.elts}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and id(node) not in inner \
                and all(isinstance(e, ast.Constant) for e in node.elts):
            yield node.lineno, {e.value for e in node.elts}
        elif isinstance(node, ast.Constant) and type(node.value) in (int, str):
            yield node.lineno, node.value


def test_each_choice_list_and_fact_is_written_once_in_the_package():
    files = sorted(p for folder in ("arc", "cli") for p in (ROOT / folder).rglob("*.py"))
    found = {}
    for path in files:
        where = path.relative_to(ROOT).as_posix()
        for line, value in literals(path):
            if isinstance(value, set):
                names = [name for name, (fact, _) in FACTS.items() if value == fact]
            elif value == 174 and type(value) is int:
                names = ["Something-Something V1's class count"]
            else:
                names = ["the default stages as text"] if value == ",".join(DEFAULT_STAGES) else []
            for name in names:
                found.setdefault(name, []).append(f"{where}:{line}")
    expected = {name: [home] for name, (_, home) in FACTS.items() if home}
    expected["Something-Something V1's class count"] = ["arc/data/registry.py"]
    assert {name: [w.split(":")[0] for w in at] for name, at in found.items()} == expected, found
