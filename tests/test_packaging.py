"""Installed as a package, not only as a checkout: the wheel holds one top-level package, `arc` (the repository's
cli/ and reference/ folders inside it as `arc.cli` and `arc.reference`), and works from a fresh virtual environment
outside the checkout, as a user would run it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"cli": "arc.cli", "reference": "arc.reference"}   # repository folder -> the package it installs as


def test_the_build_lists_every_package_of_the_tree_under_arc():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()}
    in_tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "arc").rglob("__init__.py")}
    assert sorted(setuptools["packages"]) == sorted(in_tree | set(FOLDERS.values()))
    assert config["project"]["scripts"] == {"arc": "arc.cli.main:cli"}


def test_the_folders_import_one_another_by_their_installed_names():
    """cli/ imports itself as `arc.cli`, reference/ itself relatively: nothing names a top-level `cli` or
    `reference`, which the wheel does not install."""
    for folder in FOLDERS:
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and not node.level else []
                assert not [m for m in names if m and m.split(".")[0] in FOLDERS], \
                    f"{path.relative_to(ROOT)}, line {node.lineno}: imports {names}"


def _run(args, cwd, env, timeout=300):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a new virtual environment outside it; the packages it
    depends on (torch, …) come from this interpreter's site-packages through a path file, as `pip install` of the
    wheel alone would leave them to the index."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", tmp / "dist",
          ROOT], cwd=tmp, env=os.environ.copy())
    (wheel,) = (tmp / "dist").glob("arc_action-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp, env=os.environ.copy())
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp,
                        os.environ.copy()).strip())
    # a plain path line: this interpreter's own .pth files (its editable install of the checkout) are not read
    (purelib / "zz_dependencies.pth").write_text("".join(f"{p}\n" for p in sys.path if p.endswith("site-packages")))
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
         cwd=tmp, env=os.environ.copy())
    empty = tmp / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", ARC_CACHE=str(tmp / "cache"),
               ARC_DATA_ROOT=str(tmp / "data"), OMP_NUM_THREADS="1")
    return dict(wheel=wheel, venv=venv, python=python, empty=empty, env=env)


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"arc"}
    assert {"arc/cli/main.py", "arc/reference/layer.py", "arc/__main__.py"} <= set(names)
    assert not any(n.startswith(("tests/", "docs/")) for n in names)


@pytest.mark.slow
def test_the_installed_command_works_from_an_empty_folder(installed):
    run = lambda *args, timeout=300: _run(args, installed["empty"], installed["env"], timeout)
    code = ("import arc, arc.cli.main, arc.reference, importlib.util as u; "
            "print(arc.__file__); print(u.find_spec('cli'), u.find_spec('reference'))")
    where, tops = run(installed["python"], "-c", code).splitlines()
    assert not where.startswith(str(ROOT)) and "site-packages" in where
    assert tops == "None None"
    assert run("arc", "--version").startswith("arc, version ")
    assert "train" in run(installed["python"], "-m", "arc", "--help")
    overhead = run("arc", "overhead", "--C", "256", "--H", "14", "--n", "4")
    assert "Eq. 8" in overhead and "Eq. 9" in overhead
    synth = installed["empty"] / "synth"
    run("arc", "data", "synth", "--out", synth, "--train-per-class", "2", "--val-per-class", "1")
    assert (synth / "something-something-v1-train.csv").is_file()
    out = installed["empty"] / "run"
    run("arc", "train", "--dataset", "synthetic", "--data-root", synth, "--epochs", "1", "--batch-size", "4",
        "--frames", "4", "--device", "cpu", "--workers", "0", "--threads", "1", "--out", out, timeout=600)
    assert (out / "best.pt").is_file() and (out / "metrics.jsonl").is_file()
    assert sysconfig.get_paths()["purelib"] not in where
