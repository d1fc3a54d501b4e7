"""The manual says what the code does: every `from arc… import …` in README and docs/ imports, and every `arc`
command shown in a bash block is a command the CLI knows (with the options it shows)."""

import re
import shlex
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from arc.cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S)


def imports():
    for page in PAGES:
        for block in code_blocks(page, "python") + code_blocks(page, "bash"):
            for line in block.splitlines():
                m = re.search(r"(from (arc|reference)[\w.]* import [\w, ]+|import (arc|reference)[\w.]*)", line)
                if m:
                    yield pytest.param(m.group(1), id=f"{page.name}: {m.group(1)}")


@pytest.mark.parametrize("statement", list(imports()))
def test_every_import_shown_in_the_docs_works(statement):
    exec(statement, {})


def commands():
    for page in PAGES:
        for block in code_blocks(page, "bash"):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                m = re.search(r"(?:^|\s|/)arc (\w[\w-]*)((?: [^|;&]*)?)$", line)
                if m and not line.startswith(("git ", "cd ")):
                    yield pytest.param(m.group(1), m.group(2), id=f"{page.name}: arc {m.group(1)}{m.group(2)[:40]}")


@pytest.mark.parametrize("command, rest", list(commands()))
def test_every_arc_command_shown_in_the_docs_exists_with_its_options(command, rest):
    assert command in COMMANDS, f"arc {command} is not a command"
    words = shlex.split(rest)
    sub = [w for w in words if not w.startswith("-")][:1]
    args = [command] + (sub if sub and sub[0] in _subcommands(command) else []) + ["--help"]
    help_text = CliRunner().invoke(cli, args).output
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert re.search(rf"(^|\s|/){re.escape(option)}\b", help_text), f"arc {' '.join(args[:-1])}: no {option}"


def _subcommands(command: str) -> set[str]:
    group = cli.get_command(None, command)
    return set(getattr(group, "commands", {}))


def test_the_readme_python_block_runs_as_written():
    block = code_blocks(ROOT / "README.md", "python")[0]
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert tuple(scope["logits"].shape) == (1, 174)
    assert tuple(scope["layer"](torch.rand(8, 256, 14, 14)).shape) == (8, 256, 14, 14)
