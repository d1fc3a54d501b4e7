"""The fine-grained synthetic family: deterministic, balanced, classes that differ only in the arm's motion, and
frames that say nothing about the class (checked on generated frames, and shown able to catch a leaky generator)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_data_synth import files_of

import arc.data.synth_fine as fine
from arc.cli.data import data as data_cli
from arc.data import build_dataset, flip_map
from arc.data.errors import MissingDataFile
from arc.data.home import resolve_data_root
from arc.data.synth import ensure_synthetic, is_complete, write_synthetic

TINY = dict(train_per_class=2, val_per_class=1, frames=(6, 8), size=(32, 32))


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
    # a mirrored video shows the class with left and right swapped: every class has its twin
    twins = train.transform.flip_map
    assert sorted(twins.tolist()) == list(range(12)) and all(twins[twins[i]] == i != twins[i] for i in range(12))
    assert train[0][0].shape == (1, 4, 3, 32, 32)
    # the order set is not the fine one
    order = write_synthetic(tmp_path / "order", seed=0, train_per_class=1, val_per_class=1, frames=(4, 4),
                            size=(16, 16))
    with pytest.raises(MissingDataFile, match="holds the synthetic preset 'order'.*--preset fine"):
        resolve_data_root("synthetic-fine", str(order))
    assert resolve_data_root("synthetic-fine", str(root)) == root


def test_mirror_twins_move_the_bead_the_mirrored_way():
    t = np.linspace(0, 1, 97)
    for name, g in fine.MOTIONS.items():
        twin = fine.CLASSES[flip_map(fine.CLASSES)[fine.CLASSES.index(name)]]
        assert np.allclose(fine.MOTIONS[twin](t), 1 - g(t)), name


@pytest.mark.parametrize("n", [240, 480, 960])
def test_every_pattern_spends_equal_time_on_every_quarter_of_the_rod(n):
    # so that the set of places a video shows is the same for every class
    t = (np.arange(n) + 0.5) / n
    for name, g in fine.MOTIONS.items():
        counts = np.bincount(np.minimum((g(t) * 4).astype(int), 3), minlength=4)
        assert counts.tolist() == [n // 4] * 4, name


def test_patterns_go_and_turn_where_their_names_say():
    t = np.linspace(0, 1, 601)
    for name, g in fine.MOTIONS.items():
        steps = np.sign(np.diff(g(t)))
        turns = np.flatnonzero(np.diff(steps) != 0)
        strokes = 3 if "three" in name else 4 if "four" in name else 1 if " from " in name else 2
        assert len(turns) == strokes - 1, name
        right_first = "from left to right" in name or "to the right" in name or "right first" in name
        assert steps[0] == (1 if right_first else -1), name
        if "quickly and back" in name:
            assert abs(t[turns[0] + 1] - 0.4) < 0.01, name
        if "slowly and back" in name:
            assert abs(t[turns[0] + 1] - 0.6) < 0.01, name
        if name.endswith("and back"):
            assert abs(t[turns[0] + 1] - 0.5) < 0.01, name


def test_two_classes_drawn_from_one_seed_differ_only_in_the_bead_motion():
    a = fine.plan_video(np.random.default_rng(11), "Sliding something from left to right", 10)
    b = fine.plan_video(np.random.default_rng(11), "Shaking something in four strokes, left first", 10)
    assert np.array_equal(np.asarray(a.background), np.asarray(b.background))
    for key in ("xs", "ys", "angles"):
        assert (getattr(a.rod, key) == getattr(b.rod, key)).all()
    assert (a.rod.fill, a.rod.radius, a.bead.fill, a.bead.radius) == (b.rod.fill, b.rod.radius, b.bead.fill,
                                                                      b.bead.radius)
    assert (a.shake == b.shake).all() and a.rod_width == b.rod_width
    assert [(d.xs.tolist(), d.angles.tolist(), d.fill) for d in a.distractors] == \
        [(d.xs.tolist(), d.angles.tolist(), d.fill) for d in b.distractors]
    t = a.places                              # a sweep's place is its time: evenly spaced, at a random phase
    assert np.allclose(np.diff(t), 0.1) and 0 <= t[0] < 0.1
    assert np.allclose(b.places, 1 - fine.strokes(4)(t))


def test_frames_show_the_bead_where_the_plan_puts_it():
    scene = fine.plan_video(np.random.default_rng(5), "Sliding something to the left and back", 8, (48, 48))
    yy, xx = np.mgrid[0:48, 0:48]
    for f, img in enumerate(fine.draw_video(scene)):
        a = np.asarray(img).astype(int)
        sx, sy = scene.shake[f]
        bead = np.abs(a - scene.bead.fill).max(axis=2) <= 3   # its pixels (centres at index + ½), where planned
        assert abs(xx[bead].mean() + 0.5 - (scene.bead.xs[f] - sx)) < 0.5      # ± ¼ pixel: the shake is rounded
        assert abs(yy[bead].mean() + 0.5 - (scene.bead.ys[f] - sy)) < 0.5      # to the supersampled grid
        far = 0.8 if scene.places[f] < 0.5 else -0.8          # a point of the rod away from the bead
        x = scene.rod.xs[f] - sx + far * scene.rod.radius * np.cos(scene.rod.angles[f])
        y = scene.rod.ys[f] - sy + far * scene.rod.radius * np.sin(scene.rod.angles[f])
        assert np.abs(a[int(round(y)), int(round(x))] - scene.rod.fill).max() <= 3


def test_the_bead_of_a_frame_is_at_a_uniform_place_for_every_class():
    # in the plan: over many videos, a chi-square test per class against uniform, 16 bins
    for name in fine.CLASSES:
        places = np.concatenate([fine.plan_video(np.random.default_rng((3, k)), name, int(n), (16, 16)).places
                                 for k, n in enumerate(np.random.default_rng(9).integers(14, 19, 150))])
        counts = np.bincount(np.minimum((places * 16).astype(int), 15), minlength=16)
        expected = len(places) / 16
        assert ((counts - expected) ** 2 / expected).sum() < 37.7, (name, counts)   # 15 dof, p = 0.001


def measured_places(videos: int = 30, seed: int = 0) -> list[np.ndarray]:
    """Per class, the bead's place along the rod in every frame of `videos` videos, measured in the drawn frames
    (centroid of the pixels of the bead's colour near the rod, projected on the rod's axis)."""
    size = (48, 48)
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    out = []
    for c, label in enumerate(fine.CLASSES):
        mine = []
        for k in range(videos):
            rng = np.random.default_rng((seed, c, k))
            scene = fine.plan_video(rng, label, int(rng.integers(14, 19)), size)
            rod = scene.rod
            for f, img in enumerate(fine.draw_video(scene)):
                cx, cy = rod.xs[f] - scene.shake[f, 0], rod.ys[f] - scene.shake[f, 1]
                near = (xx - cx) ** 2 + (yy - cy) ** 2 <= (rod.radius + 2 * scene.bead.radius) ** 2
                mask = near & (np.abs(np.asarray(img).astype(int) - scene.bead.fill).max(axis=2) <= 12)
                along = ((xx[mask] - cx) * np.cos(rod.angles[f]) + (yy[mask] - cy) * np.sin(rod.angles[f])).mean()
                mine.append((along / rod.radius + 1) / 2)
        out.append(np.array(mine))
    return out


def homogeneity_chi2(places: list[np.ndarray], bins: int = 8) -> float:
    """Chi-square statistic of the classes × bins table of places (are the classes' distributions the same?)."""
    table = np.array([np.histogram(np.clip(p, 0, 1 - 1e-9), bins=bins, range=(0, 1))[0] for p in places], float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    return float(((table - expected) ** 2 / expected).sum())


LIMIT = 122.0    # 11 × 7 = 77 degrees of freedom, p = 0.001 (frames of one video are evenly spread: the real
                 # statistic is below its mean, 21-41 over seeds 0-2)


def test_in_the_drawn_frames_the_bead_is_at_the_same_places_for_every_class():
    places = measured_places()
    assert all(len(p) > 400 for p in places) and all(np.isfinite(p).all() for p in places)
    assert homogeneity_chi2(places) < LIMIT


@pytest.mark.parametrize("leak", ["accelerating", "no phase"])
def test_the_frame_statistics_catch_a_leaky_generator(monkeypatch, leak):
    # accelerating (t ↦ t²: positions not equalised, the bead dwells where it starts) and frames taken at the
    # middle of their slots (a pattern of several strokes shows the bead at a few places only)
    if leak == "accelerating":
        for name, g in dict(fine.MOTIONS).items():
            monkeypatch.setitem(fine.MOTIONS, name, lambda t, g=g: g(np.asarray(t) ** 2))
    else:
        monkeypatch.setattr(fine, "frame_times", lambda rng, n: (rng.random(), (np.arange(n) + 0.5) / n)[1])
    assert homogeneity_chi2(measured_places()) > LIMIT


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
