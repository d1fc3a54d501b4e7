"""The fine-grained synthetic family: deterministic, balanced, classes that differ only in the arm's motion, and
frames that say nothing about the class (checked on generated frames, and shown able to catch a leaky generator)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import arc.data.synth_fine as fine
from arc.data import build_dataset
from arc.data.errors import MissingDataFile
from arc.data.home import resolve_data_root
from arc.data.synth import ensure_synthetic, is_complete, write_synthetic
from cli.data import data as data_cli

TINY = dict(train_per_class=2, val_per_class=1, frames=(6, 8), size=(32, 32))


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["ssv1", "diving48"])
def test_fine_is_the_same_bytes_from_the_same_seed(tmp_path, layout):
    a = files_of(write_synthetic(tmp_path / "a", preset="fine", seed=4, layout=layout, **TINY))
    b = files_of(write_synthetic(tmp_path / "b", preset="fine", seed=4, layout=layout, **TINY))
    c = files_of(write_synthetic(tmp_path / "c", preset="fine", seed=5, layout=layout, **TINY))
    assert a == b
    videos = [k for k in a if k.endswith((".jpg", ".mp4"))]
    assert len(videos) >= 36
    assert sum(a[k] != c.get(k) for k in videos) > len(videos) // 2
    manifest = json.loads(a["synth.json"])
    assert manifest["preset"] == "fine" and manifest["version"] == fine.VERSION and manifest["classes"] == fine.CLASSES


def test_fine_is_balanced_and_reads_as_its_own_dataset(tmp_path):
    root = write_synthetic(tmp_path / "s", preset="fine", seed=0, **TINY)
    train = build_dataset("synthetic-fine", root, "train", num_segments=4, input_size=32, seed=0)
    val = build_dataset("synthetic-fine", root, "val", num_segments=4, input_size=32)
    assert train.classes == fine.CLASSES and len(fine.CLASSES) == 12
    assert np.bincount(train.labels, minlength=12).tolist() == [2] * 12
    assert np.bincount(val.labels, minlength=12).tolist() == [1] * 12
    assert train.transform.flip_map is None or (train.transform.flip_map == -1).all()  # a mirror turns cw into ccw
    assert train[0][0].shape == (1, 4, 3, 32, 32)
    # the order set is not the fine one
    order = write_synthetic(tmp_path / "order", seed=0, train_per_class=1, val_per_class=1, frames=(4, 4),
                            size=(16, 16))
    with pytest.raises(MissingDataFile, match="holds the synthetic preset 'order'.*--preset fine"):
        resolve_data_root("synthetic-fine", str(order))
    assert resolve_data_root("synthetic-fine", str(root)) == root


def test_classes_come_in_mirror_pairs():
    for name, (g, d) in fine.MOTIONS.items():
        twin = name.replace("counterclockwise", "@").replace("clockwise", "counterclockwise").replace("@", "clockwise")
        assert fine.MOTIONS[twin] == (g, -d)


@pytest.mark.parametrize("n", [48, 96, 144])
def test_every_pattern_spends_equal_time_at_every_part_of_the_half_turn(n):
    # so that the set of arm angles a video shows is the same for every class
    t = (np.arange(n) + 0.5) / n
    for name, (g, _) in fine.MOTIONS.items():
        counts = np.bincount(np.minimum((g(t) * 4).astype(int), 3), minlength=4)
        assert counts.tolist() == [n // 4] * 4, name


def test_patterns_turn_where_their_names_say():
    t = np.linspace(0, 1, 601)
    for name, (g, d) in fine.MOTIONS.items():
        theta = d * fine.SPAN * g(t)
        steps = np.sign(np.diff(theta))
        turns = np.flatnonzero(np.diff(steps) != 0)
        strokes = 3 if "three" in name else 4 if "four" in name else 1 if name.startswith("Turning") else 2
        assert len(turns) == strokes - 1, name
        first = "counterclockwise" if "counterclockwise" in name else "clockwise"
        assert steps[0] == (1 if first == "clockwise" else -1), name          # clockwise on screen: angle grows
        if "quickly and back" in name:
            assert abs(t[turns[0] + 1] - 1 / 3) < 0.01, name
        if "slowly and back" in name:
            assert abs(t[turns[0] + 1] - 2 / 3) < 0.01, name


def test_two_classes_drawn_from_one_seed_differ_only_in_the_arm_motion():
    a = fine.plan_video(np.random.default_rng(11), "Turning something clockwise", 10)
    b = fine.plan_video(np.random.default_rng(11), "Shaking something in four strokes, counterclockwise first", 10)
    assert np.array_equal(np.asarray(a.background), np.asarray(b.background))
    assert (a.body.xs == b.body.xs).all() and (a.body.ys == b.body.ys).all() and a.body.fill == b.body.fill
    assert (a.shake == b.shake).all() and a.arm_fill == b.arm_fill and a.arm_length == b.arm_length
    assert [(d.xs.tolist(), d.angles.tolist()) for d in a.distractors] == \
        [(d.xs.tolist(), d.angles.tolist()) for d in b.distractors]
    assert a.arm_angles[0] != b.arm_angles[0] or a.arm_angles[-1] != b.arm_angles[-1]
    assert np.isclose(a.arm_angles[0] - fine.SPAN * (0.5 / 10), b.arm_angles[0] + fine.SPAN * (4 * 0.5 / 10))


def test_frames_show_the_knob_where_the_plan_puts_it():
    scene = fine.plan_video(np.random.default_rng(5), "Turning something counterclockwise", 8, (48, 48))
    for img, x, y, a, (sx, sy) in zip(fine.draw_video(scene), scene.body.xs, scene.body.ys, scene.arm_angles,
                                      scene.shake, strict=True):
        tip = (x - sx + scene.arm_length * np.cos(a), y - sy + scene.arm_length * np.sin(a))
        pixel = np.asarray(img)[int(round(tip[1])), int(round(tip[0]))].astype(int)
        assert np.abs(pixel - scene.arm_fill).max() <= 3
        centre = np.asarray(img)[int(round(y - sy)), int(round(x - sx))].astype(int)
        assert np.abs(centre - scene.body.fill).max() <= 3


def test_the_arm_angle_of_a_frame_is_uniform_for_every_class():
    # θ0 uniform makes the angle in any frame uniform whatever the pattern: a chi-square test per class
    bins = 8
    for name in fine.CLASSES:
        angles = np.concatenate([fine.plan_video(np.random.default_rng((3, k)), name, 6, (16, 16)).arm_angles
                                 for k in range(200)]) % (2 * np.pi)
        counts = np.bincount((angles / (2 * np.pi) * bins).astype(int), minlength=bins)
        expected = len(angles) / bins
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 24.3, (name, counts)          # 7 degrees of freedom, p = 0.001


def _frame_features(videos: int, seed: int, frames: int = 10, size=(32, 32)):
    """Per frame, brightness-free features (|grey − the frame's median|): the whole frame pooled to 8×8, and a
    16×16 window around the body pooled to 8×8 (where a leak in the arm's angle would show)."""
    features, labels, video = [], [], []
    for c, label in enumerate(fine.CLASSES):
        for k in range(videos):
            scene = fine.plan_video(np.random.default_rng((seed, c, k)), label, frames, size)
            for i, img in enumerate(fine.draw_video(scene)):
                grey = np.asarray(img, dtype=np.float32).mean(axis=2)
                d = np.abs(grey - np.median(grey))
                whole = d.reshape(8, size[0] // 8, 8, size[1] // 8).mean(axis=(1, 3)).ravel()
                cx = int(round(scene.body.xs[i] - scene.shake[i, 0]))
                cy = int(round(scene.body.ys[i] - scene.shake[i, 1]))
                near = np.pad(d, 8)[cy:cy + 16, cx:cx + 16].reshape(8, 2, 8, 2).mean(axis=(1, 3)).ravel()
                features.append(np.concatenate([whole, near]))
                labels.append(c)
                video.append(k)
    return np.array(features), np.array(labels), np.array(video)


def frame_classifier_accuracy(videos: int = 40, seed: int = 0) -> float:
    """Held-out accuracy of a per-frame linear classifier (ridge, one-vs-rest) trained on the frames of half the
    videos of every class, tested on the frames of the other half."""
    x, y, v = _frame_features(videos, seed)
    train, test = v < videos // 2, v >= videos // 2
    z = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
    targets = np.eye(len(fine.CLASSES))[y[train]]
    w = np.linalg.solve(z[train].T @ z[train] + 10 * np.eye(z.shape[1]), z[train].T @ targets)
    return float(((z[test] @ w).argmax(1) == y[test]).mean())


def test_a_frame_classifier_is_at_chance():
    # 12 classes: chance 8.3 %; 2,400 held-out frames (240 videos)
    assert frame_classifier_accuracy() < 1 / 12 + 0.045


def test_the_frame_classifier_catches_a_generator_whose_start_angle_is_fixed(monkeypatch):
    # the leak a generator gets when θ0 is not drawn: clockwise arms then sweep the lower half, the others the upper
    real = fine.start_angle
    monkeypatch.setattr(fine, "start_angle", lambda rng: real(rng) * 0)
    assert frame_classifier_accuracy() > 1 / 12 + 0.08


def test_cli_synth_preset_fine_and_its_cache(tmp_path, monkeypatch):
    out = tmp_path / "s"
    r = CliRunner().invoke(data_cli, ["synth", "--preset", "fine", "--out", str(out), "--train-per-class", "1",
                                      "--val-per-class", "1", "--min-frames", "4", "--max-frames", "4",
                                      "--height", "16", "--width", "16"])
    assert r.exit_code == 0, r.output
    assert "12 train + 12 val videos" in r.output and "--dataset synthetic-fine" in r.output
    assert json.loads((out / "synth.json").read_text())["size"] == [16, 16]
    r = CliRunner().invoke(data_cli, ["synth", "--preset", "nope", "--out", str(tmp_path / "t")])
    assert r.exit_code == 2 and "nope" in r.output
    monkeypatch.setitem(fine.DEFAULTS, "train_per_class", 1)
    monkeypatch.setitem(fine.DEFAULTS, "val_per_class", 1)
    monkeypatch.setitem(fine.DEFAULTS, "frames", (4, 4))
    monkeypatch.setitem(fine.DEFAULTS, "size", (16, 16))
    folder = ensure_synthetic(tmp_path / "cache", seed=1, preset="fine")
    assert folder.name == f"synthetic-fine-v{fine.VERSION}-seed1"
    assert is_complete(folder, "fine", seed=1, layout="ssv1", **fine.DEFAULTS)
    assert not is_complete(folder, "order", seed=1, layout="ssv1", **fine.DEFAULTS)
