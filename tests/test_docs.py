"""The manual runs as written: every `arc …` command and every Python block of README.md and docs/*.md is run, page
by page, on tiny data this test makes; every `from arc… import` they show imports; every option they show exists.

What a page author does (any new page in docs/ is picked up):

- Every fenced block says what it is: ```bash (commands, run line by line) and ```python (run as one piece, a page's
  blocks sharing one namespace, as in a notebook) run; ```text (outputs, synopses, formulas, trees) and any other
  language do not. A fence without an info string is an error.
- A block that cannot run here says so just above it, with the reason: `<!-- not run: needs CUDA -->` skips the
  block; `<!-- not run `arc data download`, `torchrun`: a 10 GB download; 8 GPUs -->` skips only the lines of the
  block that start with a quoted text. A marker that skips nothing is an error.
- In a bash block every line is a command (`\\` joins lines, `#` starts a comment): `arc …` runs in this process
  (click's test runner) and must exit with 0; `torchrun … arc …` runs its `arc …` in one process. Any other
  program must be marked not run.
- A page runs top to bottom in a fresh folder: relative paths are the page's own, and what an earlier command
  wrote is there for a later one.

What the test gives a page (`World`), so that the commands run as written, small:

- a data home (`$ARC_DATA_ROOT`) with tiny copies of the datasets in their official layouts — `diving48/`
  (`--dataset diving48` and `diving48-v1`), `sthv1/` (`ssv1`, with a test list), `kinetics400/` (`k400`) — of the
  synthetic set's videos; `/data/Diving48`, `/data/sthv1`, `/data/kinetics400` in commands and in Python
  strings are those folders. `$ARC_CACHE` and `$TORCH_HOME` are empty folders of the test's.
- ImageNet weights: torchvision's untrained ResNets stand in for torchvision's files (nothing is downloaded).
- what a page reads but does not make: `data/synth` (the synthetic set, 2 training and 1 validation video a class);
  `runs/demo` (what `make demo` leaves: ARC-TSM-R18, evaluated), `runs/tsm`, `runs/tsn` (TSM, TSN), trained on it
  for one epoch; the video files `a.mp4`, `b.mp4`, `clip.mp4`, `dive.mp4`; `mydata/` (own videos for the list
  walk-through: `videos/clapping/clapping_000.mp4` … `_004` and the same for `waving`). Each is put in the page's
  folder when a command first names it and the folder has none.
- small sizes, set on the commands (`TINY`: an option given there is replaced): `arc train` 1 epoch of 2 frames at
  32 pixels, batch 2, no loader workers — `--epochs 2` on `--resume`, which continues a run of 1 —, on `data/synth`
  when the command trains on the default synthetic set; `arc data synth` 2 + 1 videos a class; `arc overhead
  --model` 2 frames at 32 pixels; `arc export` 2 frames; `arc bench` one timed run on small inputs. In Python
  blocks (`PYTHON`): `TrainConfig(…)` as `arc train`, clips `torch.rand(…, 224, 224)` and `size=112` or `224` at 32
  pixels. All of it in one torch thread.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torchvision
from click.testing import CliRunner

from arc.cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = ("bash", "python")

# -- reading a page ----------------------------------------------------------------------------------------------

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*not run(?P<prefixes>(?:\s*,?\s*`[^`]+`)*)\s*:\s*(?P<reason>.+?)\s*-->", re.S)


@dataclass
class Block:
    page: str
    line: int           # of the opening fence, 1-based
    info: str
    code: str
    skip_all: str = ""                       # the reason, when the whole block is not run
    skip: dict = field(default_factory=dict)   # line prefix -> reason

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks with the `not run` markers just above each."""
    text, found, end = page.read_text(), [], 0
    for m in FENCE.finditer(text):
        block = Block(page.name, text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        before = text[end:m.start()].rstrip()
        while before.endswith("-->"):
            start = before.rfind("<!--")
            marker = MARKER.fullmatch(before[start:])
            if marker is None:
                break
            prefixes = re.findall(r"`([^`]+)`", marker["prefixes"])
            for prefix in prefixes:
                block.skip[prefix] = marker["reason"]
            if not prefixes:
                block.skip_all = marker["reason"]
            before = before[:start].rstrip()
        found.append(block)
        end = m.end()
    return found


def command_lines(code: str) -> list[tuple[int, str]]:
    """(line offset, command) for each command of a bash block: continuations joined, comments and blank lines
    dropped."""
    out, pending, first = [], "", 0
    for k, line in enumerate(code.splitlines()):
        if not pending:
            first = k
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole, pending = (pending + line).strip(), ""
        if whole and not whole.startswith("#"):
            out.append((first, whole))
    return out


def arc_words(command: str) -> list[str] | None:
    """The `arc …` words a command runs (`torchrun … arc …` runs its `arc …`), or None for another program."""
    words = shlex.split(command, comments=True)
    if words[:1] == ["arc"]:
        return words
    if words[:1] == ["torchrun"] and "arc" in words:
        return words[words.index("arc"):]
    return None


def test_every_block_says_what_it_is_and_every_marker_skips_something():
    problems = []
    for page in PAGES:
        for b in blocks(page):
            if not b.info:
                problems.append(f"{b.where}: a fence without an info string (bash, python, text, …)")
            if b.info.split()[0:1] == ["bash"] and not b.skip_all:
                used = set()
                for _, command in command_lines(b.code):
                    hits = [p for p in b.skip if command.startswith(p)]
                    used.update(hits)
                    if not hits and arc_words(command) is None:
                        problems.append(f"{b.where}: {command[:60]!r} is not an arc command: mark it not run")
                problems += [f"{b.where}: the marker `{p}` skips no line" for p in set(b.skip) - used]
            elif b.skip and b.info.split()[0:1] != ["bash"]:
                problems.append(f"{b.where}: line markers only apply to bash blocks")
            if b.skip_all and b.info.split()[0:1] not in (["bash"], ["python"]):
                problems.append(f"{b.where}: a `not run` marker above a block that does not run")
    assert not problems, "\n".join(problems)


# -- what every page may show: imports and options ---------------------------------------------------------------


def imports():
    for page in PAGES:
        for b in blocks(page):
            for line in b.code.splitlines():
                m = re.search(r"(from (arc|reference)[\w.]* import [\w, ]+|import (arc|reference)[\w.]*)", line)
                if m and b.info in RUN:
                    yield pytest.param(m.group(1), id=f"{page.name}: {m.group(1)}")


@pytest.mark.parametrize("statement", list(imports()))
def test_every_import_shown_in_the_docs_works(statement):
    exec(statement, {})


def commands():
    """Every `arc` command shown, run or not, synopses (`text` blocks) included."""
    for page in PAGES:
        for b in blocks(page):
            if b.info == "python":
                continue
            for _, line in command_lines(b.code):
                line = line.split("  #")[0].strip()
                m = re.search(r"(?:^|\s|/)arc (\w[\w-]*)((?: [^|;&]*)?)$", line)
                if m and (b.info == "bash" or line.startswith("arc ")):
                    yield pytest.param(m.group(1), m.group(2), id=f"{page.name}: arc {m.group(1)}{m.group(2)[:40]}")


@pytest.mark.parametrize("command, rest", list(commands()))
def test_every_arc_command_shown_in_the_docs_exists_with_its_options(command, rest):
    assert command in COMMANDS, f"arc {command} is not a command"
    words = shlex.split(rest.replace("[", " ").replace("]", " "))
    sub = [w for w in words if not w.startswith("-")][:1]
    args = [command] + (sub if sub and sub[0] in _subcommands(command) else []) + ["--help"]
    help_text = CliRunner().invoke(cli, args).output
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert re.search(rf"(^|\s|/){re.escape(option)}\b", help_text), f"arc {' '.join(args[:-1])}: no {option}"


def _subcommands(command: str) -> set[str]:
    group = cli.get_command(None, command)
    return set(getattr(group, "commands", {}))


# -- the world a page runs in ------------------------------------------------------------------------------------

TRAIN = {"--epochs": "1", "--frames": "2", "--input-size": "32", "--batch-size": "2", "--workers": "0",
         "--threads": "1"}
TINY = [  # (the command's first words, an option that must be there to apply, options set)
    (("train",), "--resume", {"--epochs": "2", "--workers": "0", "--threads": "1"}),
    (("train",), None, TRAIN),
    (("eval",), None, {"--workers": "0", "--threads": "1"}),
    (("predict",), None, {"--threads": "1"}),
    (("data", "synth"), None, {"--train-per-class": "2", "--val-per-class": "1"}),
    (("data", "check"), None, {"--workers": "0"}),
    (("overhead",), "--model", {"--size": "32", "--frames": "2"}),
    (("export",), None, {"--frames": "2"}),
    (("bench", "layer"), None, {"--repeats": "1", "--warmup": "0"}),
    (("bench", "reference"), None, {"--repeats": "1"}),
    (("bench", "train"), None, {"--size": "32", "--frames": "2", "--batch-size": "1", "--steps": "1",
                                 "--warmup": "0", "--no-loader": None}),
]
TRAIN_CONFIG = dict(epochs=1, num_segments=2, input_size=32, batch_size=2, workers=0, threads=1)
PYTHON = [  # (what, what it becomes) in Python blocks: 224×224 clips and 112/224-pixel sizes at 32
    (r"(torch\.randn?\([^()]*?)\b224, 224\)", r"\g<1>32, 32)"),
    (r"\bsize=(112|224)\b", "size=32"),
    (r"\bTrainConfig\(", "_tiny_config(TrainConfig)("),
]
FOLDERS = {"/data/Diving48": "diving48", "/data/sthv1": "sthv1", "/data/kinetics400": "kinetics400"}
VIDEOS = ("a.mp4", "b.mp4", "clip.mp4", "dive.mp4")
MY_CLASSES = ("clapping", "waving")


def tiny(words: list[str], synth: Path) -> list[str]:
    """`arc …` with the sizes of `TINY` (options given there replaced) and, training on the default synthetic set,
    on the tiny one."""
    for first, needs, options in TINY:  # noqa: B007 (the match is used below)
        if tuple(words[1:1 + len(first)]) == first and (needs is None or needs in words):
            break
    else:
        return words
    kept, k = [], 0
    while k < len(words):
        name = words[k].split("=")[0]
        if name in options:
            k += 1 if options[name] is None or "=" in words[k] else 2
            continue
        kept.append(words[k])
        k += 1
    for name, value in options.items():
        kept += [name] if value is None else [name, value]
    synthetic = "--dataset" not in kept or kept[kept.index("--dataset") + 1] == "synthetic"
    if first == ("train",) and needs is None and synthetic and "--data-root" not in kept:
        kept += ["--data-root", str(synth)]
    return kept


def invoke(words: list[str], where: str):
    result = CliRunner().invoke(cli, words[1:], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"{where}: {shlex.join(words)} raised\n{trace}")
    assert result.exit_code == 0, f"{where}: {shlex.join(words)} exited with {result.exit_code}:\n" \
                                  f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def train_tiny(data: Path, out: Path, *extra: str) -> Path:
    invoke(tiny(["arc", "train", "--dataset", "synthetic", "--data-root", str(data), "--out", str(out), *extra],
                data), "given")
    return out


class World:
    """The data home, the given files and runs, made once and only when a page needs them."""

    def __init__(self, root: Path):
        self.root = root
        self.home, self.cache, self.torch_home = root / "home", root / "cache", root / "torch"
        for folder in (self.home, self.cache, self.torch_home):
            folder.mkdir()
        from arc.data.synth import write_synthetic

        small = dict(train_per_class=2, val_per_class=1, frames=(8, 10), size=(36, 48))
        self.synth = write_synthetic(root / "synth", seed=0, **small)
        videos = write_synthetic(root / "mp4", seed=1, layout="diving48", **small)
        self._diving48(videos)
        self._sthv1()
        self._kinetics400(videos)
        self.videos = sorted((videos / "rgb").glob("*.mp4"))
        self.given = {"data/synth": lambda: self.synth, "runs/demo": self._demo,
                      "runs/tsm": lambda: self._run("tsm", "--n", "1"),
                      "runs/tsn": lambda: self._run("tsn", "--n", "1", "--no-shift"),
                      "mydata": self._mydata, **{v: lambda: self.videos[0] for v in VIDEOS}}
        self.made: dict[str, Path] = {}

    def _diving48(self, videos: Path) -> None:
        shutil.copytree(videos, self.home / "diving48")
        for split in ("train", "test"):
            shutil.copy(videos / f"Diving48_V2_{split}.json", self.home / "diving48" / f"Diving48_{split}.json")

    def _sthv1(self) -> None:
        sthv1 = shutil.copytree(self.synth, self.home / "sthv1")
        val = (sthv1 / "something-something-v1-validation.csv").read_text().splitlines()
        (sthv1 / "something-something-v1-test.csv").write_text("".join(line.split(";")[0] + "\n" for line in val))

    def _kinetics400(self, videos: Path) -> None:
        k400 = self.home / "kinetics400"
        vocab = json.loads((videos / "Diving48_vocab.json").read_text())
        for split, source in (("train", "train"), ("val", "test"), ("test", "test")):
            rows = ["label,youtube_id,time_start,time_end,split"]
            for k, item in enumerate(json.loads((videos / f"Diving48_V2_{source}.json").read_text())):
                label, yid = vocab[item["label"]][0], f"{split}{k:08d}"
                rows.append(f"{label},{yid},0,10,{split}")
                (k400 / split).mkdir(parents=True, exist_ok=True)
                shutil.copy(videos / "rgb" / f"{item['vid_name']}.mp4", k400 / split / f"{yid}_000000_000010.mp4")
            (k400 / {"val": "validate"}.get(split, split)).with_suffix(".csv").write_text("\n".join(rows) + "\n")

    def _run(self, name: str, *extra: str) -> Path:
        return train_tiny(self.synth, self.root / "runs" / name, *extra)

    def _demo(self) -> Path:
        out = self._run("demo")
        invoke(tiny(["arc", "eval", "--checkpoint", str(out / "best.pt")], self.synth), "given")
        return out

    def _mydata(self) -> Path:
        for name in MY_CLASSES:
            for k in range(5):
                target = self.root / "mydata" / "videos" / name / f"{name}_{k:03d}.mp4"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.videos[k % len(self.videos)], target)
        return self.root / "mydata"

    def give(self, text: str, folder: Path, made: tuple[str, ...] = ()) -> None:
        """Put into `folder` what `text` names, was not made there, and the world has (not what is being `made`)."""
        for name, make in self.given.items():
            if (folder / name).exists() or name in made \
                    or not re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w.-])", text):
                continue
            if name not in self.made:
                self.made[name] = make()
            source, target = self.made[name], folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, copy_function=os.link)   # commands replace files, never edit them
            else:
                shutil.copy(source, target)

    def paths(self, text: str) -> str:
        for given, name in FOLDERS.items():
            text = re.sub(rf"{re.escape(given)}(?![\w.-])", str(self.home / name), text)
        return text


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture
def in_world(world, tmp_path, monkeypatch):
    from arc.nn import choices, weights

    for name, value in (("ARC_DATA_ROOT", world.home), ("ARC_CACHE", world.cache), ("TORCH_HOME", world.torch_home)):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(weights, "imagenet_state_dict",
                        lambda backbone, download=True: getattr(torchvision.models, choices.BACKBONES[backbone][0])()
                        .state_dict())
    monkeypatch.chdir(tmp_path)
    with torch.random.fork_rng():
        yield world


def run_block(block: Block, world: World, folder: Path, scope: dict) -> list[tuple[str, float]]:
    """Run what `block` holds that may run; returns where each command or Python block is and its seconds."""
    if block.info not in RUN or block.skip_all:
        return []
    if block.info == "python":
        start = time.perf_counter()
        world.give(block.code, folder)
        code = world.paths(block.code)
        for pattern, replacement in PYTHON:
            code = re.sub(pattern, replacement, code)
        scope["_tiny_config"] = lambda cls: lambda *a, **kw: cls(*a, **{**kw, **TRAIN_CONFIG})
        exec(compile(code, block.where, "exec"), scope)
        return [(block.where, time.perf_counter() - start)]
    ran = []
    for offset, command in command_lines(block.code):
        if any(command.startswith(p) for p in block.skip):
            continue
        start, where = time.perf_counter(), f"{block.page}:{block.line + 1 + offset}"
        words = [world.paths(w) for w in arc_words(command)]
        outs = tuple(v for o, v in zip(words, words[1:], strict=False) if o == "--out")
        world.give(" ".join(words), folder, made=outs)
        invoke(tiny(words, world.synth), where)
        ran.append((f"{where} {shlex.join(words[:3])}", time.perf_counter() - start))
    return ran


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_runnable_command_and_python_block_of_the_page_runs(page, in_world, tmp_path):
    scope: dict = {"__name__": "__docs__"}
    ran = [r for block in blocks(page) for r in run_block(block, in_world, tmp_path, scope)]
    if page.name == "README.md":            # its comment says what the model returns
        assert tuple(scope["logits"].shape) == (1, 174)
    print(f"{page.name}: {len(ran)} commands and blocks in {sum(s for _, s in ran):.1f} s; "
          + ", ".join(f"{w} {s:.1f} s" for w, s in sorted(ran, key=lambda r: -r[1])[:4]))
