"""`arc.viz` and `arc viz`: each figure is made of the arrays it claims (read back from the figure's images and
lines), on checkpoints written by a real (one-step) `arc train` run and on a real mp4 written with PyAV; bad input is
one `Error:` line with exit code 2."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from definition import literal_arc
from torch import nn

from arc.cli.main import cli
from arc.data.clips import load_clip
from arc.data.registry import DATASETS
from arc.data.synth import CLASSES, render_video, write_mp4, write_synthetic
from arc.training import checkpoint as ckpt
from arc.training.config import TrainConfig
from arc.training.loop import train
from arc.viz.attention import attention_vectors, plot_attention
from arc.viz.cam import grad_cam, plot_cam
from arc.viz.common import VizError, friendly_name, module_name, pick_class
from arc.viz.confusion import (
    PAPER_GROUPS,
    default_groups,
    group_matrix,
    groups_figure,
    read_groups,
    save_confusion_png,
    template,
)
from arc.viz.curves import plot_curves
from arc.viz.states import plot_states, state_maps

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
T = 4


def images(ax) -> list[np.ndarray]:
    return [np.asarray(im.get_array()) for im in ax.get_images()]



@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """ARC-TSM-R18 (n=4, res3-res5) and TSM-R18 checkpoints from one-step `arc train` runs (4 frames, 32×32) on
    tiny synthetic data; the ARC checkpoint's ARU maps are then set to random values (`arc_random`) so that the
    recursion visibly changes the states; an mp4 of a synthetic video."""
    root = tmp_path_factory.mktemp("viz")
    data = write_synthetic(root / "synth", seed=3, train_per_class=2, val_per_class=1, frames=(8, 10),
                           size=(36, 48))
    common = dict(dataset="synthetic", data_root=str(data), backbone="r18", num_segments=T, input_size=32, epochs=1,
                  batch_size=10, workers=0, threads=1, pretrained="none", progress=False, log_every=100)
    arc = Path(train(TrainConfig(**common, n=4, out=str(root / "arc")))["best"])
    tsm = Path(train(TrainConfig(**common, n=1, out=str(root / "tsm")))["best"])
    state = ckpt.load(arc)
    g = torch.Generator().manual_seed(0)
    for key, value in state["model"].items():
        if key.endswith((".embed", ".fuse", ".attend")):
            state["model"][key] = torch.randn(value.shape, generator=g) * 0.05
    arc_random = ckpt.save(state, root / "arc_random" / "best.pt")
    rng = np.random.default_rng(5)
    video = write_mp4(root / "clip.mp4", render_video(rng, CLASSES[1], 12, (72, 96)))
    return {"arc": arc, "tsm": tsm, "arc_random": arc_random, "video": video, "root": root}


def traced_res3_conv(runs) -> tuple:
    """(model, the clip of the test video, `trace()` record of `layer2.1.conv2` on it) of the random-ARU run; the
    record is first held to the states and attention maps of the definition, computed literally."""
    model, state = ckpt.load_model(runs["arc_random"])
    cfg = state["config"]
    clip = load_clip(runs["video"], num_segments=T, input_size=cfg["input_size"],
                     prescale=DATASETS[cfg["dataset"]].prescale)[:1]
    layer, x = model.layer2[1].conv2, layer_input_by_hand(model, clip)
    with torch.no_grad():
        _, states, attention = literal_arc(layer, x)
        _, record = layer.trace(x)
    assert len(record["state"]) == len(states) == 4 and len(record["attention"]) == len(attention) == 3
    for got, want in zip(record["state"] + record["attention"], states + attention, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    return model, clip, record


def layer_input_by_hand(model, clip: torch.Tensor) -> torch.Tensor:
    """The input of `layer2.1.conv2` computed module by module (stem, res2, first res3 block, shift, conv1)."""
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(clip.flatten(0, 1)))))
        x = model.layer2[0](model.layer1(x))
        block = model.layer2[1]
        return block.conv1(block.shift(x))


def test_layer_names_map_to_module_names():
    assert friendly_name("layer2.1.conv2") == "res3-block1-conv2"
    assert module_name("res3-block1-conv2") == "layer2.1.conv2"
    assert friendly_name("layer4") == "res5" and module_name("res5") == "layer4"
    assert module_name("fc") == "fc" and friendly_name("fc") == "fc"


def test_states_are_the_layers_trace_averaged_over_channels(runs):
    model, clip, record = traced_res3_conv(runs)
    expected = np.stack([z.double().mean(dim=1).numpy() for z in record["state"]])     # [n, T, h, w]
    assert expected.shape == (4, T, 4, 4)
    assert np.abs(expected[3] - expected[0]).max() > 1e-4      # the recursion changed the state
    np.testing.assert_allclose(state_maps(model, clip), expected, rtol=1e-6, atol=1e-9)

    fig = plot_states(runs["arc_random"], video=runs["video"])
    grid = np.array(fig.axes[: 5 * T]).reshape(5, T)
    for t in range(T):
        (rgb,) = images(grid[0, t])
        assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
        for i in range(4):
            (shown,) = images(grid[i + 1, t])
            np.testing.assert_allclose(shown, expected[i, t], rtol=1e-6, atol=1e-9)
    limits = {grid[i + 1, t].get_images()[0].get_clim() for i in range(4) for t in range(T)}
    assert limits == {(expected.min(), expected.max())}          # one colour scale for every step and frame

    change = plot_states(runs["arc_random"], video=runs["video"], change=True)
    grid = np.array(change.axes[: 4 * T]).reshape(4, T)
    for t in range(T):
        for i in range(1, 4):
            (shown,) = images(grid[i, t])
            np.testing.assert_allclose(shown, expected[i, t] - expected[0, t], rtol=1e-6, atol=1e-9)
    assert grid[1, 0].get_ylabel() == "$Z_2 - Z_1$"


def test_attention_rows_are_each_steps_attention_averaged_per_channel(runs):
    model, clip, record = traced_res3_conv(runs)
    expected = np.stack([a.double().mean(dim=(0, 2, 3)).numpy() for a in record["attention"]])   # [n-1, C]
    assert expected.shape == (3, 128) and np.abs(expected).max() > 0
    np.testing.assert_allclose(attention_vectors(model, clip, ["layer2.1.conv2"])["res3-block1-conv2"], expected,
                               rtol=1e-6, atol=1e-12)

    fig = plot_attention(runs["arc_random"], video=runs["video"], layers=["res3-block1-conv2"])
    (shown,) = images(fig.axes[0])
    np.testing.assert_allclose(shown, expected, rtol=1e-6, atol=1e-12)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["step 2", "step 3", "step 4"]
    assert fig.axes[0].get_xlabel() == "input channel"


def test_attention_defaults_to_the_first_arc_conv_of_each_stage(runs):
    fig = plot_attention(runs["arc"], clips=2)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_images()]
    assert [t.split(" ")[0] for t in titles] == ["res3-block0-conv1", "res4-block0-conv1", "res5-block0-conv1"]
    assert [images(ax)[0].shape for ax in fig.axes if ax.get_images()] == [(3, 64), (3, 128), (3, 256)]


class Brightness(nn.Module):
    """A test video model whose class-0 evidence is brightness: `layer2` (stride 4) sums the RGB channels."""

    def __init__(self):
        super().__init__()
        self.layer2 = nn.Conv2d(3, 2, 3, stride=4, padding=1, bias=False)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.layer2.weight.zero_()
            self.layer2.weight[0, :, 1, 1] = 1.0
            self.layer2.weight[1, :, 1, 1] = -1.0
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        B, T = x.shape[:2]
        f = F.relu(self.layer2(x.flatten(0, 1)))
        return self.fc(f.mean(dim=(2, 3))).view(B, T, -1).mean(1)


def test_grad_cam_is_non_negative_frame_sized_and_peaks_at_the_planted_object():
    T, S = 5, 64
    clip = torch.zeros(1, T, 3, S, S)
    boxes = [(8 + 2 * t, 40 - 6 * t) for t in range(T)]        # (top, left) of a 10×10 bright square per frame
    for t, (top, left) in enumerate(boxes):
        clip[0, t, :, top:top + 10, left:left + 10] = 1.0
    maps, c, probs = grad_cam(Brightness(), clip, "layer2", target=0)
    assert c == 0 and maps.shape == (T, S, S) and (maps >= 0).all()
    for t, (top, left) in enumerate(boxes):
        y, x = np.unravel_index(maps[t].argmax(), (S, S))
        assert top <= y < top + 10 and left <= x < left + 10, (t, y, x)


def test_grad_cam_of_a_checkpoint_on_a_video(runs):
    model, state = ckpt.load_model(runs["arc"])
    clip = load_clip(runs["video"], num_segments=T, input_size=32, prescale=DATASETS["synthetic"].prescale)[:1]
    maps, c, probs = grad_cam(model, clip)
    assert maps.shape == (T, 32, 32) and (maps >= 0).all() and c == int(np.argmax(probs))
    fig = plot_cam(runs["arc"], baseline=runs["tsm"], video=runs["video"], target=2)
    overlays = [im for ax in fig.axes for im in ax.get_images() if im.get_alpha() == 0.5]
    assert len(overlays) == 2 * T and all(np.asarray(im.get_array()).shape == (32, 32) for im in overlays)
    arc_maps, _, _ = grad_cam(model, clip, target=2)
    shown = np.stack([np.asarray(im.get_array()) for im in overlays[T:]])
    np.testing.assert_allclose(shown, arc_maps / arc_maps.max(), rtol=1e-6, atol=1e-9)


def test_class_given_by_index_or_name_and_out_of_range_refused():
    assert pick_class("3", CLASSES) == 3 and pick_class(CLASSES[4], CLASSES) == 4
    with pytest.raises(VizError, match="out of range: the model has 5 classes, 0 to 4"):
        pick_class("7", CLASSES)
    with pytest.raises(VizError, match="did you mean"):
        pick_class("Moving something from left to rihgt", CLASSES)


def test_ssv1_default_groups_are_the_papers_four(test_data):
    classes = (test_data / "something-something-v1-labels.csv").read_text().splitlines()
    groups = dict(default_groups(classes))
    assert list(groups) == list(PAPER_GROUPS)
    names = {t: sorted(classes[i] for i in idx) for t, idx in groups.items()}
    assert names["Tearing something"] == ["Tearing something into two pieces", "Tearing something just a little bit"]
    assert names["Twisting something"] == ["Twisting (wringing) something wet until water comes out",
                                           "Twisting something"]
    assert names["Pulling something"] == [f"Pulling something {end}" for end in (
        "from behind of something", "from left to right", "from right to left", "onto something",
        "out of something")]
    assert len(names["Pouring something"]) == 4
    assert template("Something colliding with something and both come to a halt") == \
        "Something colliding with something"


def test_group_submatrices_are_the_right_rows_and_columns_of_the_confusion_matrix(test_data, tmp_path):
    classes = (test_data / "something-something-v1-labels.csv").read_text().splitlines()
    rng = np.random.default_rng(0)
    base, arc = (rng.integers(0, 6, (174, 174)).astype(float) for _ in range(2))
    groups = default_groups(classes)
    fig = groups_figure([("TSM", base), ("ARC", arc)], classes, groups)
    grid = np.array([ax for ax in fig.axes if ax.get_images()]).reshape(len(groups), 2)
    for r, (_, idx) in enumerate(groups):
        for c, m in enumerate((base, arc)):
            expected = m[np.ix_(idx, idx)] / m[idx].sum(axis=1, keepdims=True)
            (shown,) = images(grid[r, c])
            np.testing.assert_allclose(shown, expected)
            np.testing.assert_allclose(group_matrix(m, idx), expected)
            title = groups[r][0]
            assert [t.get_text().replace("…", title, 1) for t in grid[r, c].get_xticklabels()] == \
                [classes[i] for i in idx]
    file = tmp_path / "groups.txt"
    file.write_text("# two groups\nTearing something into two pieces; Tearing something just a little bit\n\n"
                    "0; 5  # by index\n")
    tearing = [classes.index("Tearing something into two pieces"), classes.index("Tearing something just a little bit")]
    assert read_groups(file, classes) == [("Tearing something", tearing), ("2 classes", [0, 5])]


def test_groups_file_errors_name_the_line(test_data, tmp_path):
    classes = (test_data / "something-something-v1-labels.csv").read_text().splitlines()
    bad = tmp_path / "g.txt"
    bad.write_text("Tearing something into two pieces; Tearing something a little\n")
    with pytest.raises(VizError, match=r"line 1: 'Tearing something a little' is not a class name \(did you mean"):
        read_groups(bad, classes)
    bad.write_text("3; 999\n")
    with pytest.raises(VizError, match="line 1: class 999 is out of range"):
        read_groups(bad, classes)
    bad.write_text("\n5; Opening something\n")
    with pytest.raises(VizError, match="line 2: .*'Opening something' twice"):
        read_groups(bad, classes)


def test_eval_confusion_png_is_the_row_normalised_matrix_with_the_csvs_names(tmp_path):
    m = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 0]], dtype=float)
    np.save(tmp_path / "best-val-confusion.npy", m)
    (tmp_path / "best-val-per_class.csv").write_text("index,name,videos,correct,accuracy\n0,alpha,4,3,0.75\n"
                                                     "1,beta,4,2,0.5\n2,gamma,0,0,\n")
    png = save_confusion_png(tmp_path / "best-val-confusion.npy")
    assert png == tmp_path / "best-val-confusion.png" and png.stat().st_size > 0
    from arc.viz.confusion import confusion_figure

    fig = confusion_figure(m, ["alpha", "beta", "gamma"])
    (shown,) = images(fig.axes[0])
    np.testing.assert_allclose(shown, [[0.75, 0.25, 0], [0, 0.5, 0.5], [0, 0, 0]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["alpha", "beta", "gamma"]


def write_metrics(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_curves_are_each_runs_metrics_per_epoch(tmp_path):
    rows = lambda k: [{"epoch": e, "train_loss": 2 - 0.1 * e * k, "val_loss": 2 - 0.05 * e, "val_top1": 0.1 * e * k,
                       "val_top5": 0.2 * e, "lr": 0.01 / e} for e in (1, 2, 3)]
    a, b = write_metrics(tmp_path / "tsm", rows(1)), write_metrics(tmp_path / "arc", rows(2))
    fig = plot_curves([a, b], names=["TSM", "ARC"])
    loss, top1, top5, lr = fig.axes[:4]
    assert [line.get_label() for line in loss.get_lines()] == ["TSM train", "TSM val", "ARC train", "ARC val"]
    arc_top1 = top1.get_lines()[1]
    assert arc_top1.get_label() == "ARC" and list(arc_top1.get_xdata()) == [1, 2, 3]
    np.testing.assert_allclose(arc_top1.get_ydata(), [20, 40, 60])
    np.testing.assert_allclose(lr.get_lines()[0].get_ydata(), [0.01, 0.005, 0.01 / 3])
    assert top5.get_ylabel() == "top-5 (%)" and loss.get_xlabel() == "epoch"


# -- the command line ------------------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, ["viz", *[str(a) for a in args]])


def assert_image(result, path: Path, magic: bytes = b"\x89PNG"):
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(path)
    assert path.stat().st_size > 1000 and path.read_bytes()[: len(magic)] == magic


def test_every_viz_subcommand_writes_an_image_from_a_checkpoint_and_a_video(runs):
    arc, tsm, video, root = runs["arc"], runs["tsm"], runs["video"], runs["root"]
    assert_image(invoke("attention", "--checkpoint", arc, "--video", video),
                 arc.with_name("best-attention-clip.png"))
    assert_image(invoke("states", "--checkpoint", arc, "--video", video, "--out", root / "s.svg"), root / "s.svg",
                 b"<?xml")
    assert_image(invoke("cam", "--checkpoint", arc, "--baseline", tsm, "--video", video, "--class", CLASSES[0],
                        "--out", root / "cam.pdf"), root / "cam.pdf", b"%PDF")
    assert_image(invoke("states", "--checkpoint", arc, "--index", "1"), arc.with_name("best-states-val1.png"))
    for path in (arc, tsm):
        np.save(path.with_name("best-val-confusion.npy"), np.eye(5) * 2 + 1)
    assert_image(invoke("confusion", "--checkpoint", arc, "--baseline", tsm), arc.with_name("best-val-groups.png"))
    assert_image(invoke("curves", arc.parent, tsm.parent, "--name", "ARC", "--name", "TSM"),
                 arc.parent / "curves.png")


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for f in fragments:
        assert f in lines[0], lines[0]


def test_bad_input_is_one_error_line_with_exit_2(runs, tmp_path):
    arc, tsm, video = runs["arc"], runs["tsm"], runs["video"]
    for command in ("attention", "states"):
        one_line_error(invoke(command, "--checkpoint", tsm, "--video", video), "has no ARC layers", "arc viz cam")
    one_line_error(invoke("states", "--checkpoint", arc, "--video", video, "--layer", "res3-block9-conv2"),
                   "no ARC layer 'res3-block9-conv2'", "res3-block1-conv2 (layer2.1.conv2)")
    one_line_error(invoke("attention", "--checkpoint", arc, "--video", video, "--layer", "fc"),
                   "no ARC layer 'fc'", "res5-block1-conv2 (layer4.1.conv2)")
    one_line_error(invoke("cam", "--checkpoint", arc, "--video", video, "--layer", "res9"), "no layer 'res9'",
                   "res2, res3, res4, res5")
    one_line_error(invoke("cam", "--checkpoint", arc, "--video", video, "--class", "5"),
                   "class 5 is out of range", "5 classes, 0 to 4")
    one_line_error(invoke("curves", tmp_path), str(tmp_path), "no metrics.jsonl")
    one_line_error(invoke("confusion", "--checkpoint", arc, "--split", "train"), "best-train-confusion.npy",
                   "arc eval --checkpoint")
    one_line_error(invoke("states", "--checkpoint", arc, "--video", video, "--out", tmp_path / "x.jpg"),
                   ".png, .pdf, .svg")
    one_line_error(invoke("states", "--checkpoint", tmp_path / "none.pt", "--video", video), "does not exist")


def test_a_figure_that_cannot_be_written_is_one_error_line_and_keeps_the_earlier_one(tmp_path, monkeypatch):
    run = write_metrics(tmp_path / "run", [{"epoch": 1, "train_loss": 2, "val_loss": 2, "val_top1": 0.1,
                                            "val_top5": 0.5, "lr": 0.01}])
    (run / "curves.pdf").write_text("the earlier figure")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    one_line_error(invoke("curves", run, "--out", run / "curves.pdf"), f"cannot write {run / 'curves.pdf'}: No space "
                   "left on device (free space there: ")
    one_line_error(invoke("curves", run, "--out", tmp_path / "new" / "c.svg"), "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in run.iterdir()) == ["curves.pdf", "metrics.jsonl"]
    assert (run / "curves.pdf").read_text() == "the earlier figure"


@pytest.mark.skipif(torch.cuda.is_available(), reason="for machines without CUDA")
def test_a_figure_on_cuda_without_a_gpu_is_one_error_line(runs):
    arc, video = runs["arc"], runs["video"]
    for command in ("attention", "states", "cam"):
        one_line_error(invoke(command, "--checkpoint", arc, "--video", video, "--device", "cuda"),
                       "--device cuda: CUDA is not available on this machine")
        one_line_error(invoke(command, "--checkpoint", arc, "--video", video, "--device", "cuda:0x"),
                       "--device 'cuda:0x': expected auto, cpu, cuda or cuda:N")
    with pytest.raises(ValueError, match="--device cuda: CUDA is not available"):
        plot_states(arc, video=video, device="cuda")    # the library checks too, before loading anything
