"""Export a trained model to a file that runs without this package: ONNX (onnxruntime, TensorRT, …) or TorchScript
(`torch.jit.load`, C++ libtorch).

    export("runs/ssv1/best.pt", "ssv1.onnx", format="onnx", frames=8)   # also writes ssv1.onnx.classes.txt

Input `clips` float32 `[B, T, 3, S, S]`: T frames (fixed at export, `frames`), S×S pixels (fixed, the checkpoint's
input size), RGB in [0, 1] normalised with the ImageNet mean and std — exactly what `arc eval` feeds the model
(docs/data.md); B is free. Output `logits` float32 `[B, classes]`: the frame scores averaged over T (softmax gives
probabilities). Both are traced from the PyTorch model in eval mode on the CPU: `torch.jit.script` cannot compile it
(the blocks call their layers by name with `getattr`), and the ONNX graph comes from the TorchScript-based exporter
(`dynamo=False`, needs the `onnx` package; the dynamo exporter would also need `onnxscript`).
The class names go beside the file (`FILE.classes.txt`, one a line, in label order) and inside it (ONNX metadata
`classes`, a JSON list; TorchScript extra file `classes.txt`), with the preprocessing (`arc.json`/metadata). Both files
are written whole or not at all (`arc.files`).
"""

from __future__ import annotations

import io
import json
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from arc.data.registry import DATASETS
from arc.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TEST_SHORT_SIDE
from arc.files import write_bytes, write_text, write_with
from arc.training import checkpoint as ckpt
from arc.training.outdir import check_writable

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17


class ExportError(RuntimeError):
    """An export that cannot be done here (a missing package); the message says what to install."""


def default_path(checkpoint: str | Path, format: str, frames: int) -> Path:
    """Beside the checkpoint: `best-t8.onnx`, `best-t8.torchscript.pt`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}-t{frames}{SUFFIXES[format]}")


def export(checkpoint: str | Path, out: str | Path | None = None, *, format: str = "onnx", frames: int | None = None,
           opset: int = OPSET, check: bool = True) -> dict:
    """Write the model of `checkpoint` at `frames` frames (default: as trained) to `out` (default `default_path`)
    and `out.classes.txt`. With `check`, run the written file on a random clip of another batch size and compare
    with the PyTorch model (`max_abs_diff`; None for ONNX when onnxruntime is not installed).

    Returns `{"path", "classes", "format", "frames", "input_size", "num_classes", "bytes", "seconds",
    "max_abs_diff"}`."""
    if format not in FORMATS:
        raise ValueError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if format == "onnx":
        _require("onnx", "--format onnx")
    model, state = ckpt.load_model(checkpoint, "cpu")
    cfg, classes = state["config"], list(state["classes"])
    frames = cfg["num_segments"] if frames is None else frames
    if frames < 1:
        raise ValueError(f"--frames must be >= 1, got {frames}")
    out = default_path(checkpoint, format, frames) if out is None else Path(out).expanduser()
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; expected a file name, e.g. {out / f'model{SUFFIXES[format]}'}")
    check_writable(out.parent, create=False)
    size = cfg["input_size"]
    model.set_num_segments(frames)
    meta = {"frames": frames, "input_size": size, "classes": classes, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "prescale": DATASETS[cfg["dataset"]].prescale if cfg.get("dataset") in DATASETS else None,
            "short_side": TEST_SHORT_SIDE, "input": "clips [B, T, 3, S, S] float32: frame floor((k + 1/2) N / T) "
            "of k = 0..T-1, pre-scaled, shorter side to short_side*S/224, centre S x S, RGB / 255, minus mean, "
            "over std", "output": "logits [B, classes]", "model": state["model_config"],
            "dataset": cfg.get("dataset")}
    example = torch.randn(2, frames, 3, size, size, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    with quiet(), torch.no_grad():
        if format == "torchscript":
            traced = torch.jit.trace(model, example, check_trace=False)
            write_with(out, lambda f: torch.jit.save(traced, f, _extra_files={
                "classes.txt": "".join(f"{c}\n" for c in classes), "arc.json": json.dumps(meta)}))
        else:
            write_bytes(out, _to_onnx(model, example, opset, meta))
    seconds = time.perf_counter() - start
    names = write_text(out.with_name(out.name + ".classes.txt"), "".join(f"{c}\n" for c in classes))
    diff = compare(out, format, model, frames, size) if check else None
    return {"path": str(out), "classes": str(names), "format": format, "frames": frames, "input_size": size,
            "num_classes": len(classes), "bytes": out.stat().st_size, "seconds": seconds, "max_abs_diff": diff}


def _to_onnx(model, example: torch.Tensor, opset: int, meta: dict) -> bytes:
    """The ONNX file: the traced graph with a free batch axis and a fixed class axis, its metadata (every value a
    JSON string), checked by onnx."""
    import onnx

    traced = io.BytesIO()
    try:
        torch.onnx.export(model, (example,), traced, dynamo=False, opset_version=opset, input_names=["clips"],
                          output_names=["logits"], dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as e:   # the exporter's own words, e.g. an operator that an old opset lacks
        raise ExportError(f"--opset {opset}: torch.onnx.export failed: {str(e).strip().splitlines()[0]}") from None
    graph = onnx.load_from_string(traced.getvalue())
    classes = graph.graph.output[0].type.tensor_type.shape.dim[1]   # the trace's `view(B, T, -1)` leaves it symbolic
    classes.dim_value = len(meta["classes"])
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def compare(path: str | Path, format: str, model, frames: int, size: int, batch: int = 3) -> float | None:
    """Max absolute difference between the exported file and `model` on one random clip batch (None when
    onnxruntime is missing)."""
    clip = torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
    with quiet(), torch.no_grad():
        want = model(clip)
        if format == "torchscript":
            got = torch.jit.load(str(path))(clip)
        else:
            try:
                import onnxruntime
            except ImportError:
                return None
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {"clips": clip.numpy()})[0])
    return float((got - want).abs().max())


@contextmanager
def quiet():
    """Without the tracer's notes on Python-side shape checks (constants in the trace, as intended: T and S are
    fixed) and torch's deprecation notices for TorchScript and the TorchScript-based ONNX exporter."""
    with warnings.catch_warnings():
        for category in (torch.jit.TracerWarning, DeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


def _require(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ExportError(f"{what} needs the {module!r} package: pip install 'arc-action[export]' "
                          f"(or pip install {module})") from None
