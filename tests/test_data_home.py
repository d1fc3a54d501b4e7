"""The data home: datasets under `$ARC_DATA_ROOT/<folder>`, `--data-root` overriding it, errors that say where they
looked, what they expect and what to run; the synthetic set generated only where asked; unwritable folders refused
before any work. The command of the model card runs as written with Diving48 in the data home."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import arc.data.synth as synth
from arc.cli.main import cli
from arc.data import build_dataset
from arc.data.errors import MissingDataFile
from arc.data.home import check_writable, data_home, home_folder, resolve_data_root
from arc.data.registry import DATASETS
from arc.data.synth import write_synthetic

TINY = dict(train_per_class=2, val_per_class=1, frames=(6, 6), size=(24, 32))


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result, [line for line in result.output.splitlines() if line.startswith("Error:")]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARC_DATA_ROOT", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def tiny_diving48(tmp_path_factory) -> Path:
    """Diving48 V2 in its layout (rgb/*.mp4, JSON): 10 training and 5 test videos of 6 frames."""
    return write_synthetic(tmp_path_factory.mktemp("d48") / "diving48", layout="diving48", **TINY)


def test_the_data_home_is_ARC_DATA_ROOT_else_data_in_the_arc_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARC_DATA_ROOT", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    monkeypatch.delenv("ARC_DATA_ROOT")
    monkeypatch.setenv("ARC_CACHE", str(tmp_path / "cache"))
    assert data_home() == tmp_path / "cache" / "data"
    monkeypatch.delenv("ARC_CACHE")
    assert data_home() == Path.home() / ".cache" / "arc" / "data"


def test_each_distributed_dataset_has_its_fixed_folder_in_the_registry(home):
    folders = {name: spec.folder for name, spec in DATASETS.items() if spec.folder}
    assert folders == {"ssv1": "sthv1", "diving48": "diving48", "diving48-v1": "diving48", "k400": "kinetics400"}
    assert home_folder("k400") == home / "kinetics400"
    for name in folders:
        assert DATASETS[name].layout and DATASETS[name].get.startswith("arc data download ")
    with pytest.raises(ValueError, match="no folder in the data home"):
        home_folder("list")


def test_a_missing_dataset_error_says_where_it_looked_what_it_expects_and_what_to_run(home):
    with pytest.raises(MissingDataFile) as e:
        resolve_data_root("diving48", None)
    message = str(e.value)
    assert "\n" not in message
    assert str(home / "diving48") in message and "ARC_DATA_ROOT" in message
    assert "rgb/<vid_name>.mp4" in message and "Diving48_V2_{train,test}.json" in message
    assert "arc data download diving48" in message and "--data-root" in message
    with pytest.raises(MissingDataFile, match="--data-root is not a folder.*arc data download k400"):
        resolve_data_root("k400", str(home / "typo"))
    with pytest.raises(MissingDataFile, match=r"typo: --data-root is not a folder; see docs/data\.md$"):
        resolve_data_root("list", str(home / "typo"))
    assert "SPEC" not in message


def test_the_data_home_is_used_and_data_root_overrides_it(home, tiny_diving48, tmp_path):
    home.mkdir()
    os.symlink(tiny_diving48, home / "diving48")
    assert resolve_data_root("diving48", None) == home / "diving48"
    assert len(build_dataset("diving48", resolve_data_root("diving48", None), "train")) == 10
    assert resolve_data_root("diving48", str(tiny_diving48)) == tiny_diving48


def test_an_explicit_synthetic_root_that_does_not_exist_is_generated_only_when_asked(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(synth, "ensure_synthetic", lambda cache_dir=None, seed=0, preset="order":
                        calls.append(cache_dir) or Path(cache_dir or tmp_path / "default"))
    typo = tmp_path / "typo"
    with pytest.raises(MissingDataFile, match="no such folder.*arc data synth --out DIR.*--generate"):
        resolve_data_root("synthetic", str(typo))
    assert not typo.exists() and calls == []
    assert resolve_data_root("synthetic", str(typo), generate=True) == typo and calls == [typo]
    assert resolve_data_root("synthetic", None) == tmp_path / "default" and calls[-1] is None


def test_check_writable_refuses_a_folder_below_a_file_and_creates_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_writable(tmp_path / "file" / "out")
    assert check_writable(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


NOBODY = 65534


@contextlib.contextmanager
def held_to_permissions():
    """The block runs as a user whom the kernel holds to a folder's permissions. Root (the way CI runs) may write
    anywhere, so as root the effective user and group become `nobody` for the block and root again after it."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except OSError as e:      # a container without CAP_SETUID
        os.setegid(0)
        pytest.skip(f"root cannot become nobody here ({e})")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def read_only_folder():
    """A folder no one but root may write in (mode 0o555), in a folder anyone may write in (as root, `tmp_path`'s
    parents are root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="arc-read-only-"))
    base.chmod(0o777)
    locked = base / "locked"
    locked.mkdir(mode=0o555)
    yield locked
    locked.chmod(0o755)
    shutil.rmtree(base)


def test_synth_into_a_read_only_folder_is_one_error_line(read_only_folder, tmp_path):
    (tmp_path / "file").write_text("x")
    run("data", "synth", "--out", tmp_path / "file" / "s")   # refused at the same check: what it imports is loaded
    with held_to_permissions():                           # while root may read the interpreter's files
        result, errors = run("data", "synth", "--out", read_only_folder / "s")
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert errors[0].startswith(f"Error: --out: cannot write in {read_only_folder} (Permission denied)"), errors
    assert list(read_only_folder.iterdir()) == [] and "Traceback" not in result.output


def test_synth_where_files_cannot_be_created_is_one_error_line_before_any_work(tmp_path, monkeypatch):
    import arc.data.home

    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(arc.data.home.tempfile, "mkstemp", refuse)     # as a read-only folder does, even for root
    result, errors = run("data", "synth", "--out", tmp_path / "s")
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert errors[0].startswith("Error: --out: cannot write in") and str(tmp_path) in errors[0]
    assert not (tmp_path / "s").exists() and "Traceback" not in result.output


def test_synth_into_an_impossible_folder_is_one_error_line_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    result, errors = run("data", "synth", "--out", tmp_path / "file" / "s")
    assert result.exit_code == 2 and len(errors) == 1 and "--out" in errors[0], result.output
    assert "Traceback" not in result.output


def test_data_check_reads_the_data_home_without_data_root(home, tiny_diving48):
    result, errors = run("data", "check", "--dataset", "diving48")
    assert result.exit_code == 2 and len(errors) == 1 and "arc data download diving48" in errors[0]
    home.mkdir()
    os.symlink(tiny_diving48, home / "diving48")
    result, _ = run("data", "check", "--dataset", "diving48")
    assert result.exit_code == 0, result.output
    assert any(line.split()[:3] == ["train", "ok", "10"] for line in result.output.splitlines())
    result, _ = run("data", "home")
    assert str(home) in result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.split()}
    assert "present" in rows["diving48"] and "missing: arc data download k400" in rows["k400"]


@pytest.mark.slow
def test_the_card_command_runs_as_written_with_diving48_in_the_data_home(home, tiny_diving48, tmp_path):
    card = ["train", "--dataset", "diving48", "--backbone", "r18", "--n", "4"]
    result, errors = run(*card)
    assert result.exit_code == 2 and len(errors) == 1
    assert "arc data download diving48" in errors[0] and str(home / "diving48") in errors[0]
    home.mkdir()
    os.symlink(tiny_diving48, home / "diving48")
    small = ["--epochs", "1", "--frames", "2", "--input-size", "32", "--batch-size", "10", "--pretrained", "none",
             "--workers", "0", "--threads", "1", "--out", tmp_path / "run"]
    result, errors = run(*card, *small)
    assert result.exit_code == 0 and not errors, result.output
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "metrics.jsonl").is_file()
