"""`arc export`: ONNX and TorchScript files that run without this package and give the PyTorch model's logits."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from arc.cli.main import cli
from arc.evaluation import predict
from arc.export import export
from arc.nn.models import build_model
from arc.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["a", "b, with a comma", "c", "d", "e"]
# a process that cannot import arc: anything it runs, it runs without this package
NO_ARC = "import sys; sys.modules['arc'] = None\n"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """best.pt in the documented format of ARC-TSM-R18 (n=2 in res4, res5; 4 frames of 32×32) with random ARU maps
    and BatchNorm statistics, so that the recursion and the running statistics both matter."""
    torch.manual_seed(0)
    model = build_model("r18", len(CLASSES), num_segments=4, n=2, stages="res4,res5", dropout=0.5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1] in ("embed", "fuse", "attend"):
                p.normal_(0, 0.05)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    config = {"dataset": "synthetic", "num_segments": 4, "input_size": 32, "test_clips": 1}
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    ckpt.save({"model": model.state_dict(), "model_config": model.config, "config": config, "classes": CLASSES},
              path)
    return path


def clips(batch: int, frames: int, seed: int = 5) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def pytorch_logits(checkpoint: Path, x: torch.Tensor) -> torch.Tensor:
    model, _ = ckpt.load_model(checkpoint)
    with torch.no_grad():
        return model(x)


@pytest.fixture(scope="module")
def onnx_file(checkpoint, tmp_path_factory) -> Path:
    """`arc export --format onnx --frames 8` of the 4-frame checkpoint."""
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--frames", "8",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "max abs difference" in result.output
    return out


def test_onnx_logits_match_pytorch_within_1e4_at_another_batch_and_frame_count(checkpoint, onnx_file):
    x = clips(3, 8)                                       # traced with batch 2; the batch axis is free
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    [inp], [out] = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape[1:], out.name, out.shape[1:]) == ("clips", [8, 3, 32, 32], "logits", [5])
    got = session.run(None, {"clips": x.numpy()})[0]
    want = pytorch_logits(checkpoint, x).numpy()
    assert got.shape == (3, 5) and np.abs(got - want).max() <= 1e-4


def test_onnx_carries_the_class_names_inside_and_beside(onnx_file):
    meta = {m.key: json.loads(m.value) for m in onnx.load(str(onnx_file)).metadata_props}
    assert meta["classes"] == CLASSES and (meta["frames"], meta["input_size"]) == (8, 32)
    assert Path(f"{onnx_file}.classes.txt").read_text().splitlines() == CLASSES


def test_torchscript_runs_in_a_process_without_arc(checkpoint, tmp_path):
    r = export(checkpoint, tmp_path / "model.pt", format="torchscript")
    # the traced graph holds the layer's definition, eager PyTorch its lean forward: the same function, up to the
    # float32 rounding of a different order of additions
    assert r["frames"] == 4 and r["max_abs_diff"] <= 1e-5
    x = clips(3, 4)
    torch.save(x, tmp_path / "x.pt")
    script = NO_ARC + (
        "import torch\n"
        "files = {'classes.txt': ''}\n"
        f"m = torch.jit.load({str(tmp_path / 'model.pt')!r}, _extra_files=files)\n"
        f"torch.save(m(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})\n"
        "print(files['classes.txt'].decode().splitlines())\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == repr(CLASSES)
    got = torch.load(tmp_path / "y.pt")
    assert (got - pytorch_logits(checkpoint, x)).abs().max() <= 1e-5


def test_docs_onnxruntime_example_reproduces_arc_predict(checkpoint, onnx_file, tmp_path):
    """docs/training.md's Python block with onnxruntime, run as written (paths swapped) in a process without arc."""
    video = tmp_path / "video"
    video.mkdir()
    rng = np.random.default_rng(0)
    for i in range(11):                                   # 11 frames of 48×36: sampling and pre-scaling both matter
        Image.fromarray(rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)).save(video / f"{i + 1:05d}.jpg")
    page = (ROOT / "docs" / "training.md").read_text()
    [block] = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "onnxruntime" in b]
    code, n = re.subn(r'^model, video = .*$', f"model, video = {str(onnx_file)!r}, Path({str(video)!r})", block,
                      flags=re.M)
    assert n == 1
    done = subprocess.run([sys.executable, "-c", NO_ARC + code + "\nprint(json.dumps(p.tolist()))"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    probs = json.loads(done.stdout.splitlines()[-1])
    want = dict(predict(video, checkpoint, topk=5, frames=8, device="cpu"))
    assert probs == pytest.approx([want[c] for c in CLASSES], abs=1e-4)


def test_onnx_without_the_onnx_package_is_one_error_line(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2
    assert result.output.startswith("Error:") and "pip install 'arc-action[export]'" in result.output
    assert len(result.output.splitlines()) == 1 and not (tmp_path / "m.onnx").exists()


def test_an_export_that_cannot_be_written_is_one_error_line_and_leaves_the_earlier_files(checkpoint, tmp_path,
                                                                                         monkeypatch):
    out = tmp_path / "m.torchscript.pt"
    for path in (out, out.with_name(out.name + ".classes.txt")):
        path.write_text("the earlier export")
    real_fsync = os.fsync

    def disk_full(fd):
        if os.fstat(fd).st_size > 1000:         # the model: a full disk; the folder's fsync goes through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full)
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(checkpoint), "--format", "torchscript",
                                      "--out", str(out), "--no-check"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: cannot write {out}: No space left on device (free space there: ")
    assert len(result.output.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, out.name + ".classes.txt"]
    assert {p.read_text() for p in tmp_path.iterdir()} == {"the earlier export"}


def test_an_export_into_a_new_folder_that_fails_leaves_no_folder(checkpoint, tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(checkpoint), "--format", "torchscript",
                                      "--out", str(tmp_path / "new" / "sub" / "m.pt"), "--no-check"])
    assert result.exit_code == 2 and "No space left on device" in result.output, result.output
    assert list(tmp_path.iterdir()) == []
