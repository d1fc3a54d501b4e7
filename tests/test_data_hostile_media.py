"""Media that must neither crash nor hang a command: decompression bombs (a 65-byte PNG, a JPEG whose header says
40000×40000), frames over the pixel budget, FIFOs and devices where a frame or video should be. Each takes the
unreadable-sample path: training replaces it and counts it, evaluation leaves it out, `arc predict` reports it in one
line and goes on. A FIFO is never opened (it would block for ever): these tests run under a time limit."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from datafiles import write_frames, write_video
from hostile import jpeg_bomb, png_bomb

from arc.cli.main import cli
from arc.data import BadSample, ClipDataset, MediaError, Record, collate_clips
from arc.data.check import check_media
from arc.data.loader import make_loader
from arc.data.synth import CLASSES, write_synthetic
from arc.data.video import MAX_FRAME_PIXELS, FrameFolder, open_media


@pytest.fixture(autouse=True)
def time_limit():
    """Fail, rather than hang the suite, if anything blocks (opening a FIFO does) for 20 s."""
    def expired(signum, frame):
        raise TimeoutError("blocked for 20 s: something opened a FIFO or waited on a device")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def folder_with(tmp_path: Path, name: str, make) -> Path:
    """A 4-frame folder whose second frame is replaced by `make(path)` (a bomb, a FIFO)."""
    folder = write_frames(tmp_path / name, 4)
    (folder / "00002.jpg").unlink()
    make(folder / "00002.jpg")
    return folder


def bytes_of(data: bytes):
    return lambda path: path.write_bytes(data)


@pytest.mark.parametrize("bomb", [png_bomb(), jpeg_bomb()], ids=["png", "jpeg"])
def test_a_decompression_bomb_is_an_unreadable_frame_not_a_crash(tmp_path, bomb):
    folder = folder_with(tmp_path, "v", bytes_of(bomb))
    assert len(bomb) < 700
    with FrameFolder(folder) as media, pytest.raises(MediaError) as e:
        media.read([0, 1, 2])
    assert e.value.path == str(folder)
    assert e.value.reason.startswith("corrupt frame image 00002.jpg: Image size (1600000000 pixels) exceeds limit")


def test_a_frame_over_the_pixel_budget_is_refused_from_its_header(tmp_path):
    folder = folder_with(tmp_path, "v", bytes_of(png_bomb(5000, 5000)))      # under Pillow's own limit
    with FrameFolder(folder) as media, pytest.raises(MediaError) as e:
        media.read([1])
    assert e.value.reason == (f"frame image 00002.jpg is 5000×5000 pixels, more than the {MAX_FRAME_PIXELS:,} a "
                              f"frame may have (arc.data.video.MAX_FRAME_PIXELS)")
    assert MAX_FRAME_PIXELS >= 3840 * 2160 * 2


def test_a_video_over_the_pixel_budget_is_refused_before_decoding(tmp_path, monkeypatch):
    video = write_video(tmp_path / "v.mp4", 4, size=(48, 64))
    monkeypatch.setattr("arc.data.video.MAX_FRAME_PIXELS", 48 * 64 - 1)
    with pytest.raises(MediaError, match="the video's frame is 64×48 pixels, more than the 3,071"):
        open_media(video)


def test_a_fifo_among_the_frames_is_refused_without_being_opened(tmp_path):
    folder = folder_with(tmp_path, "v", os.mkfifo)
    with FrameFolder(folder) as media:
        assert media.num_frames == 4
        with pytest.raises(MediaError) as e:
            media.read([0, 1, 2, 3])
    assert e.value.reason == "frame image 00002.jpg is not a regular file (a FIFO)"
    problem = check_media(folder, num_segments=4)                 # arc data check: no hang either
    assert problem is not None and problem.kind == "unreadable"


def test_a_fifo_or_a_device_given_as_a_video_is_refused_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "zero.mp4").symlink_to("/dev/zero")
    with pytest.raises(MediaError, match=r"pipe\.mp4: video file is not a regular file \(a FIFO\)"):
        open_media(tmp_path / "pipe.mp4")
    with pytest.raises(MediaError, match=r"zero\.mp4: video file is not a regular file \(a character device\)"):
        open_media(tmp_path / "zero.mp4")


def test_training_replaces_a_bomb_or_a_fifo_and_counts_it_even_in_a_loader_worker(tmp_path):
    good = write_frames(tmp_path / "good", 4)
    bomb = folder_with(tmp_path, "bomb", bytes_of(png_bomb()))
    fifo = folder_with(tmp_path, "fifo", os.mkfifo)
    records = [Record(bomb, 0), Record(fifo, 1), Record(good, 1)]
    ds = ClipDataset(records, ["a", "b"], name="t", num_segments=4, train=True, input_size=16)
    loader, sampler = make_loader(ds, batch_size=3, train=True, seed=0, collate_fn=collate_clips, workers=1)
    sampler.set_epoch(0)
    clips, labels, index, bad = next(iter(loader))
    assert tuple(clips.shape) == (3, 1, 4, 3, 16, 16) and index.tolist().count(2) >= 1
    assert sorted({b.path for b in bad}) == sorted([str(bomb), str(fifo)])
    assert all(isinstance(b, BadSample) and b.reason for b in bad)
    at_test_time = ClipDataset(records, ["a", "b"], name="t", num_segments=4, input_size=16)
    assert isinstance(at_test_time[0], BadSample) and isinstance(at_test_time[1], BadSample)


class _Mean(torch.nn.Module):
    """A stand-in for a trained model (the media are what is tested): mean colour → classes."""

    def __init__(self, classes: int):
        super().__init__()
        self.fc = torch.nn.Linear(3, classes)

    def set_num_segments(self, t: int) -> None:
        pass

    def forward(self, x):
        return self.fc(x.mean(dim=(1, 3, 4)))


@pytest.fixture
def stand_in_model(monkeypatch):
    config = {"num_segments": 4, "input_size": 32, "dataset": "synthetic", "test_clips": 1, "sampling": "tsm"}

    def load_model(path, device="cpu"):
        return _Mean(len(CLASSES)).eval(), {"config": config, "classes": list(CLASSES)}

    monkeypatch.setattr("arc.training.checkpoint.load_model", load_model)
    return config


def test_predict_reports_each_unreadable_file_in_one_line_and_goes_on(tmp_path, stand_in_model):
    good = write_frames(tmp_path / "good", 6)
    bomb = folder_with(tmp_path, "bomb", bytes_of(jpeg_bomb()))
    fifo_frame = folder_with(tmp_path, "fifo", os.mkfifo)          # issue 18 row 14: predict hung on this
    fifo_video = tmp_path / "pipe.mp4"
    os.mkfifo(fifo_video)
    videos = [bomb, fifo_frame, fifo_video, good]
    r = CliRunner().invoke(cli, ["predict", *map(str, videos), "--checkpoint", str(tmp_path / "best.pt"), "--json"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    errors = r.stderr.splitlines()
    assert errors[0].startswith(f"error: {bomb}: corrupt frame image 00002.jpg: Image size (1600000000 pixels)")
    assert errors[1] == f"error: {fifo_frame}: frame image 00002.jpg is not a regular file (a FIFO)"
    assert errors[2] == f"error: {fifo_video}: video file is not a regular file (a FIFO)"
    assert errors[3:] == ["3 of 4 videos could not be read"]
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["video"] for line in lines] == list(map(str, videos))
    assert all("error" in line for line in lines[:3]) and len(lines[3]["classes"]) == 5


def test_evaluation_leaves_a_bomb_out_and_lists_it(tmp_path, stand_in_model):
    from arc.evaluation import evaluate

    root = write_synthetic(tmp_path / "synth", train_per_class=1, val_per_class=1, frames=(6, 6), size=(24, 32))
    first = (root / "something-something-v1-validation.csv").read_text().split(";")[0]
    victim = root / "20bn-something-something-v1" / first
    (victim / "00001.jpg").write_bytes(png_bomb())          # frame 0: read by every test sampler
    result = evaluate(tmp_path / "best.pt", data_root=str(root), workers=0, out_dir=tmp_path / "out")
    assert result["bad"] == [str(victim)] and result["videos"] == 4
    assert np.isfinite(result["top1"])


@pytest.mark.slow
def test_viz_reports_a_bomb_or_a_fifo_in_one_error_line_and_writes_no_figure(tmp_path):
    from arc.nn.models import build_model
    from arc.training import checkpoint as ckpt

    model = build_model("r18", len(CLASSES), num_segments=4, n=2, stages=["res5"])
    best = ckpt.save({"model": model.state_dict(), "model_config": model.config, "classes": list(CLASSES),
                      "config": {"dataset": "synthetic", "num_segments": 4, "input_size": 32, "test_clips": 1,
                                 "sampling": "tsm"}}, tmp_path / "run" / "best.pt")
    bomb = folder_with(tmp_path, "bomb", bytes_of(png_bomb()))
    fifo = folder_with(tmp_path, "fifo", os.mkfifo)               # issue 18 row 14: viz hung on this
    says = {bomb: "corrupt frame image 00002.jpg: Image size (1600000000 pixels) exceeds limit",
            fifo: "frame image 00002.jpg is not a regular file (a FIFO)"}
    for figure, options in (("attention", []), ("states", ["--layer", "res5-block1-conv2"]), ("cam", [])):
        for video, reason in says.items():
            r = CliRunner().invoke(cli, ["viz", figure, "--checkpoint", str(best), "--video", str(video), *options,
                                         "--out", str(tmp_path / "fig.png")])
            assert r.exit_code == 2, f"viz {figure} {video.name}: {r.output}"
            lines = r.output.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"Error: {video}: {reason}"), r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb", "fifo", "run"]
