"""The built-in synthetic dataset: deterministic, order-only classes, real files through the real loaders."""

import dataclasses
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import arc.data.synth as synth
from arc.cli.data import data as data_cli
from arc.data import build_dataset, flip_map
from arc.data.synth import CLASSES, PATTERNS, draw_video, ensure_synthetic, is_complete, plan_video, write_synthetic

TINY = dict(train_per_class=2, val_per_class=1, frames=(6, 8), size=(24, 32))


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synthetic_is_deterministic_by_seed(tmp_path):
    a = files_of(write_synthetic(tmp_path / "a", seed=7, **TINY))
    b = files_of(write_synthetic(tmp_path / "b", seed=7, **TINY))
    c = files_of(write_synthetic(tmp_path / "c", seed=8, **TINY))
    assert a == b
    frames = [k for k in a if k.endswith(".jpg")]
    assert len(frames) >= 10 * 6
    assert sum(a[k] != c.get(k) for k in frames) > len(frames) // 2


@pytest.mark.parametrize("n", [16, 32, 48])
def test_every_synthetic_class_spends_equal_time_on_every_quarter_of_the_stretch(n):
    # the reason a frame-averaging model is at chance: all classes visit the stretch [0, 1] alike
    t = (np.arange(n) + 0.5) / n
    for name, g in PATTERNS.items():
        for side in (0, 1):
            counts = np.bincount(np.minimum((g(t, side) * 4).astype(int), 3), minlength=4)
            assert counts.tolist() == [n // 4] * 4, name


def test_synthetic_classes_differ_in_the_order_of_motion():
    start = {name: (g(np.array([0.0]), 0)[0], g(np.array([0.5]), 0)[0], g(np.array([1.0]), 0)[0])
             for name, g in PATTERNS.items()}
    assert start["Moving something from left to right"] == (0, 0.5, 1)
    assert start["Moving something from right to left"] == (1, 0.5, 0)
    assert start["Moving something to the right and back"] == (0, 1, 0)
    assert start["Moving something to the left and back"] == (1, 0, 1)
    t = np.linspace(0, 1, 81)
    turns = np.sum(np.diff(np.sign(np.diff(PATTERNS["Shaking something"](t, 1)))) != 0)
    assert turns == 3


def test_synthetic_frames_show_the_object_where_the_plan_puts_it():
    rng = np.random.default_rng(3)
    scene = plan_video(rng, "Moving something from left to right", 12, (72, 96))
    assert np.all(np.diff(scene.xs) > 0)
    frames = draw_video(scene)
    assert len(frames) == 12 and frames[0].size == (96, 72)
    for img, x, y in zip(frames, scene.xs, scene.ys, strict=True):
        pixel = np.asarray(img)[int(round(y)), int(round(x))]
        assert np.abs(pixel.astype(int) - scene.fill).max() <= 2


def test_synthetic_loads_through_the_ssv1_and_diving48_loaders(tmp_path):
    ssv1 = write_synthetic(tmp_path / "ssv1", seed=0, **TINY)
    train = build_dataset("synthetic", ssv1, "train", num_segments=4, input_size=32, seed=0)
    val = build_dataset("synthetic", ssv1, "val", num_segments=4, input_size=32)
    assert train.classes == CLASSES and len(train) == 10 and len(val) == 5
    assert np.bincount(train.labels).tolist() == [2] * 5 and sorted(val.labels.tolist()) == [0, 1, 2, 3, 4]
    # "left to right" <-> "right to left", "to the left and back" <-> "to the right and back", shaking: itself
    assert flip_map(CLASSES).tolist() == [1, 0, 3, 2, 4]
    assert train[0][0].shape == (1, 4, 3, 32, 32)
    mp4 = write_synthetic(tmp_path / "d48", seed=0, layout="diving48", **TINY)
    d_train = build_dataset("diving48", mp4, "train", num_segments=4, input_size=32)
    assert d_train.classes == CLASSES and d_train.labels.tolist() == train.labels.tolist()
    clip, label, *_ = d_train[3]
    assert clip.shape == (1, 4, 3, 32, 32) and label == train.labels[3]
    assert len(build_dataset("diving48", mp4, "val", num_segments=4, input_size=32)) == 5


def test_write_synthetic_refuses_a_used_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        write_synthetic(tmp_path / "x", **TINY)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_ensure_synthetic_writes_once_repairs_and_survives_interruption(tmp_path, monkeypatch):
    order = synth.PRESETS["order"]
    # an interrupted generation leaves no folder that could pass for the dataset
    calls = []

    def failing_render(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return order.render(*args, **kwargs)

    monkeypatch.setitem(synth.PRESETS, "order", dataclasses.replace(order, defaults=TINY, render=failing_render))
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(tmp_path, seed=0)
    assert not any(p.name.startswith("synthetic") for p in tmp_path.iterdir())
    monkeypatch.setitem(synth.PRESETS, "order", dataclasses.replace(order, defaults=TINY))

    folder = ensure_synthetic(tmp_path, seed=0)
    assert folder.name == f"synthetic-v{synth.VERSION}-seed0" and is_complete(folder, seed=0, layout="ssv1", **TINY)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]     # no staging left behind
    stamp = (folder / "synth.json").stat().st_mtime_ns
    assert ensure_synthetic(tmp_path, seed=0) == folder
    assert (folder / "synth.json").stat().st_mtime_ns == stamp      # not rewritten
    # a damaged copy is regenerated
    victim = next((folder / "20bn-something-something-v1").iterdir())
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    assert not is_complete(folder, seed=0, layout="ssv1", **TINY)
    assert ensure_synthetic(tmp_path, seed=0) == folder and victim.is_dir()
    assert json.loads((folder / "synth.json").read_text())["videos"] == {"train": 10, "val": 5}
    # a set written before there were presets (no "preset" in its manifest) is the order set
    manifest = json.loads((folder / "synth.json").read_text())
    del manifest["preset"]
    (folder / "synth.json").write_text(json.dumps(manifest))
    assert is_complete(folder, seed=0, layout="ssv1", **TINY) and not is_complete(folder, "fine", seed=0)


def test_ensure_synthetic_uses_arc_cache(tmp_path, monkeypatch):
    monkeypatch.setitem(synth.PRESETS, "order", dataclasses.replace(synth.PRESETS["order"], defaults=TINY))
    monkeypatch.setenv("ARC_CACHE", str(tmp_path / "cache"))
    assert ensure_synthetic(seed=2).parent == tmp_path / "cache"


def test_cli_synth_writes_a_dataset_that_data_check_reads_ok(tmp_path):
    runner = CliRunner()
    out = tmp_path / "s"
    r = runner.invoke(data_cli, ["synth", "--out", str(out), "--train-per-class", "2", "--val-per-class", "1",
                                 "--min-frames", "6", "--max-frames", "8", "--height", "24", "--width", "32"])
    assert r.exit_code == 0, r.output
    assert "10 train + 5 val videos" in r.output
    r = runner.invoke(data_cli, ["check", "--dataset", "synthetic", "--data-root", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    # split status videos classes missing unreadable short: every video decoded
    assert any(line.split()[:7] == ["train", "ok", "10", "5", "0", "0", "0"] for line in lines), r.output
    assert any(line.split()[:2] == ["test", "absent"] for line in lines), r.output
    r = runner.invoke(data_cli, ["synth", "--out", str(out)])
    assert r.exit_code == 2 and "--out" in r.output


def test_cli_check_reports_problems(tmp_path):
    out = write_synthetic(tmp_path / "s", **TINY)
    (out / "something-something-v1-validation.csv").write_text("999;Shaking something\n16;Not a class\n")
    runner = CliRunner()
    r = runner.invoke(data_cli, ["check", "--dataset", "synthetic", "--data-root", str(out)])
    assert r.exit_code == 1
    assert "something-something-v1-validation.csv, line 2: class 'Not a class'" in r.output
    (out / "something-something-v1-validation.csv").write_text("999;Shaking something\n")
    r = runner.invoke(data_cli, ["check", "--dataset", "synthetic", "--data-root", str(out), "--workers", "0"])
    assert r.exit_code == 1
    assert f"val: missing: {out / '20bn-something-something-v1' / '999'}: not on disk" in r.stdout.splitlines()
    r = runner.invoke(data_cli, ["check", "--dataset", "ssv1", "--data-root", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "is not a folder" in r.output


@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: ())(0)) < 2, reason="needs two CPU cores")
def test_synthetic_mp4_files_do_not_depend_on_the_number_of_cores(tmp_path):
    # x264 picks its thread count from the cores it may use, and its output depends on that count: the frames
    # must be coded on one thread. 128 rows of pixels are enough for x264 to use two.
    params = dict(TINY, size=(128, 160), layout="diving48")
    cores = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(cores)})
        one = files_of(write_synthetic(tmp_path / "one", seed=3, **params))
    finally:
        os.sched_setaffinity(0, cores)
    many = files_of(write_synthetic(tmp_path / "many", seed=3, **params))
    assert sum(k.endswith(".mp4") for k in one) == 15
    assert one == many
