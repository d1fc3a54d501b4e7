"""`arc eval` and `arc predict` after training, on a tiny model trained here: per-video scores, the test split's
submission file, more frames than trained, many videos as JSON lines, output folders that cannot be written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from arc.cli.main import cli
from arc.data.synth import write_synthetic
from arc.evaluation import evaluate, predict_many
from arc.training.config import TrainConfig
from arc.training.loop import train

FRAMES = 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """best.pt of one epoch of ARC-TSM-R18 (n=2, res4/res5, 4 frames of 32×32) on 10 synthetic videos, and a test
    list (ids only, as SSv1 ships it) naming the 10 validation videos."""
    base = tmp_path_factory.mktemp("eval")
    data = write_synthetic(base / "synth", seed=1, train_per_class=2, val_per_class=2, frames=(8, 10), size=(36, 48))
    ids = [line.split(";")[0] for line in (data / "something-something-v1-validation.csv").read_text().splitlines()]
    (data / "something-something-v1-test.csv").write_text("".join(f"{i}\n" for i in reversed(ids)))
    summary = train(TrainConfig(dataset="synthetic", data_root=str(data), out=str(base / "run"), backbone="r18", n=2,
                                stages="res4,res5", num_segments=FRAMES, input_size=32, epochs=1, batch_size=4,
                                workers=0, threads=1, pretrained="none", log_every=100))
    return Path(summary["best"])


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def data_root(checkpoint: Path) -> Path:
    return checkpoint.parent.parent / "synth"


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def val_videos(checkpoint: Path) -> list[Path]:
    root = data_root(checkpoint)
    return [root / "20bn-something-something-v1" / line.split(";")[0]
            for line in (root / "something-something-v1-validation.csv").read_text().splitlines()]


@pytest.fixture(scope="module")
def evaluated(trained, tmp_path_factory) -> tuple[dict, Path]:
    """`arc eval --json` on the validation split: the printed dict and the folder of the files."""
    out = tmp_path_factory.mktemp("val")
    result = run("eval", "--checkpoint", trained, "--out", out, "--workers", 0, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output), out


def test_val_scores_predictions_and_submission_agree_with_the_printed_accuracy(trained, evaluated):
    r, tmp_path = evaluated
    scores = np.load(tmp_path / "best-val-scores.npz")
    val = [line.split(";") for line in (data_root(trained) / "something-something-v1-validation.csv")
           .read_text().splitlines()]
    assert list(scores["ids"]) == [vid for vid, _ in val]          # the order of the index file
    assert [scores["classes"][y] for y in scores["labels"]] == [name for _, name in val]
    probs = scores["probs"]
    assert probs.shape == (10, 5) and np.allclose(probs.sum(1), 1, atol=1e-5)
    predicted = probs.argmax(1)
    assert r["top1"] == pytest.approx((predicted == scores["labels"]).mean())
    rows = rows_of(tmp_path / "best-val-predictions.csv")
    assert [int(row["predicted"]) for row in rows] == predicted.tolist()
    assert [int(row["label"]) for row in rows] == scores["labels"].tolist()
    lines = (tmp_path / "best-val-submission.csv").read_text().splitlines()
    assert lines == [f"{vid};{scores['classes'][k]}" for vid, k in zip(scores["ids"], predicted, strict=True)]
    assert np.load(tmp_path / "best-val-confusion.npy").trace() == round(10 * r["top1"])


def test_test_split_without_labels_gives_a_submission_and_no_accuracy(trained, tmp_path):
    result = run("eval", "--checkpoint", trained, "--split", "test", "--out", tmp_path, "--workers", 0, "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert (r["top1"], r["top5"], r["mean_class_acc"], r["videos"]) == (None, None, None, 10)
    ids = (data_root(trained) / "something-something-v1-test.csv").read_text().split()
    scores = np.load(tmp_path / "best-test-scores.npz")
    assert list(scores["ids"]) == ids and (scores["labels"] == -1).all()
    lines = (tmp_path / "best-test-submission.csv").read_text().splitlines()
    classes = list(scores["classes"])
    assert [line.split(";")[0] for line in lines] == ids
    assert [classes.index(line.split(";")[1]) for line in lines] == scores["probs"].argmax(1).tolist()
    assert not (tmp_path / "best-test-confusion.npy").exists()   # nothing to compare with
    rows = rows_of(tmp_path / "best-test-predictions.csv")
    assert {row["label"] for row in rows} == {""}


def test_frames_option_feeds_the_model_more_frames_than_it_was_trained_on(trained, evaluated, tmp_path):
    eight = evaluate(trained, out_dir=tmp_path, frames=2 * FRAMES)
    assert eight["frames"] == 2 * FRAMES
    p4 = np.load(evaluated[1] / "best-val-scores.npz")["probs"]
    p8 = np.load(eight["files"]["scores"])["probs"]
    assert p4.shape == p8.shape and not np.allclose(p4, p8, atol=1e-4)


def test_eval_frames_reaches_the_model_and_every_layer_that_reads_clips(trained, tmp_path, monkeypatch):
    """`arc eval --frames 8` on a 4-frame model: the model receives clips of 8 frames (a forward hook on the model
    `ckpt.load_model` gives), and the shift and ARC layers read their input as 8-frame clips when they run."""
    import arc.training.checkpoint as ckpt
    from arc import ARCConv2d, TemporalShift

    clips, layers = [], set()
    real = ckpt.load_model

    def hooked(*args, **kwargs):
        model, state = real(*args, **kwargs)
        model.register_forward_pre_hook(lambda m, inputs: clips.append(tuple(inputs[0].shape)))
        for m in model.modules():
            if isinstance(m, (TemporalShift, ARCConv2d)):
                m.register_forward_pre_hook(
                    lambda m, inputs: layers.add((type(m).__name__, m.num_segments, inputs[0].shape[0] % 8)))
        return model, state

    monkeypatch.setattr(ckpt, "load_model", hooked)
    result = run("eval", "--checkpoint", trained, "--frames", 2 * FRAMES, "--out", tmp_path, "--workers", 0,
                 "--batch-size", 4, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["videos"] == 10
    assert clips == [(4, 8, 3, 32, 32), (4, 8, 3, 32, 32), (2, 8, 3, 32, 32)]   # 10 videos, 1 view each
    assert layers == {("TemporalShift", 8, 0), ("ARCConv2d", 8, 0)}


def test_predict_json_gives_one_line_per_video_matching_eval_scores(trained, evaluated):
    scores = np.load(evaluated[1] / "best-val-scores.npz")
    frames = data_root(trained) / "20bn-something-something-v1"
    videos = [frames / vid for vid in scores["ids"][:2]]
    result = run("predict", *videos, "--checkpoint", trained, "--json", "--top", 3)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["video"] for line in lines] == [str(v) for v in videos]
    classes = list(scores["classes"])
    for line, probs in zip(lines, scores["probs"], strict=False):
        assert len(line["classes"]) == 3 and line["probs"] == sorted(line["probs"], reverse=True)
        assert line["probs"] == pytest.approx([probs[classes.index(c)] for c in line["classes"]], abs=1e-5)


def test_predict_reports_a_missing_or_unreadable_video_and_goes_on(trained, tmp_path):
    empty, missing = tmp_path / "empty", tmp_path / "missing.mp4"
    empty.mkdir()
    good = val_videos(trained)[0]
    result = run("predict", empty, missing, good, "--checkpoint", trained, "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert lines[0]["video"] == str(empty) and "error" in lines[0]
    assert lines[1] == {"video": str(missing), "error": f"{missing}: no such video file or frame folder"}
    assert lines[2]["video"] == str(good) and len(lines[2]["classes"]) == 5
    assert f"error: {missing}: no such video file or frame folder" in result.output
    assert "2 of 3 videos could not be read" in result.output


def test_unwritable_out_is_refused_before_any_work(trained, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the dataset was opened before --out was checked")

    monkeypatch.setattr("arc.data.registry.build_dataset", no_work)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run("eval", "--checkpoint", trained, "--out", blocker / "out")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --out") and str(blocker / "out") in result.output
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def test_metrics_are_printed_when_a_file_cannot_be_written_afterwards(trained, tmp_path):
    (tmp_path / "best-val-scores.npz").mkdir()         # in the way of one file only
    result = run("eval", "--checkpoint", trained, "--out", tmp_path, "--workers", 0)
    assert result.exit_code == 1
    assert "top-1" in result.output and "mean class acc" in result.output
    scores = tmp_path / "best-val-scores.npz"
    assert f"error: cannot write {scores}: Is a directory (free space there: " in result.output
    assert (tmp_path / "best-val-submission.csv").is_file() and (tmp_path / "best-val-confusion.npy").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]     # no temporary left behind


def test_eval_into_a_new_folder_that_fails_in_set_up_leaves_no_folder(trained, tmp_path):
    out = tmp_path / "new" / "eval"
    result = run("eval", "--checkpoint", trained, "--out", out, "--data-root", tmp_path / "no-data")
    assert result.exit_code == 2 and result.output.startswith("Error:"), result.output
    assert list(tmp_path.iterdir()) == []


def test_predict_many_loads_the_model_once_and_keeps_the_order(trained, monkeypatch):
    import arc.training.checkpoint as ckpt

    loads = []
    real = ckpt.load_model
    monkeypatch.setattr(ckpt, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    first, second, third = val_videos(trained)[:3]
    videos = [second, first, third]
    assert [path for path, _ in predict_many(videos, trained, device="cpu")] == videos
    assert len(loads) == 1
