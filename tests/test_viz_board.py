"""`arc.training.board.Board`: what it writes to TensorBoard is what it was given, read back from the event files."""

from __future__ import annotations

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from arc.training.board import Board, confusion_image


def read(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_board_writes_step_and_epoch_scalars_and_the_confusion_image(tmp_path):
    with Board(tmp_path / "tb") as board:
        for step in range(3):
            board.step(step, loss=1.0 / (step + 1), lr=0.01, grad_norm=None, clips_per_s=float("nan"))
        row = {"epoch": 1, "train_loss": 0.9, "val_top1": 0.25, "bad_samples": 0, "note": "text is skipped"}
        board.epoch(1, row, confusion=np.array([[3, 1], [0, 4]]))
    events = read(tmp_path / "tb")
    tags = events.Tags()
    assert set(tags["scalars"]) == {"step/loss", "step/lr", "epoch/train_loss", "epoch/val_top1", "epoch/bad_samples"}
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("step/loss")] == [(0, 1.0), (1, 0.5), (2, 0.333333)]
    assert [(e.step, e.value) for e in events.Scalars("epoch/val_top1")] == [(1, 0.25)]
    (image,) = events.Images("val/confusion")
    assert image.step == 1 and image.width == image.height == 512


def test_the_confusion_image_has_one_block_per_cell_darker_for_a_larger_fraction():
    image = confusion_image(np.array([[3, 1], [0, 0]]), side=64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    blocks = image[::32, ::32].astype(int).sum(axis=-1)   # one pixel of each cell
    assert blocks[0, 0] < blocks[0, 1] < blocks[1, 0] == blocks[1, 1]   # 0.75, 0.25, and an empty row at 0


def test_a_disabled_board_writes_nothing(tmp_path):
    board = Board(tmp_path / "tb", enabled=False)
    board.step(1, loss=1.0)
    board.epoch(1, {"epoch": 1, "val_top1": 0.5}, confusion=np.eye(2))
    board.close()
    assert not board.enabled and not (tmp_path / "tb").exists()


def test_a_resumed_board_hides_the_steps_it_purges(tmp_path):
    with Board(tmp_path / "tb") as board:
        for step in range(6):
            board.step(step, loss=float(step))
    with Board(tmp_path / "tb", purge_step=4) as board:
        for step in range(4, 6):
            board.step(step, loss=10.0 + step)
    values = [(e.step, e.value) for e in read(tmp_path / "tb").Scalars("step/loss")]
    assert values == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 14.0), (5, 15.0)]
