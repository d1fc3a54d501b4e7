"""What every figure needs: the model of a checkpoint and its names for layers, a clip (from a video file or the
validation split) with the RGB frames the model sees, the class asked for, and saving by suffix.

Layer names. ARC layers are named after the paper's stages: `res3-block1-conv2` is torchvision's module
`layer2.1.conv2` (stage res3 = `layer2`, block 1 = the second block, its `conv2`) — the block index and the conv
name are the module's own, only the stage takes the paper's name (`res2..res5` = `layer1..layer4`, as `--stages`).
Both spellings are accepted wherever a layer is named.

Figures are `matplotlib.figure.Figure` objects drawn with the Agg canvas, never pyplot's global figures, so a library
call leaves no state behind; a notebook displays the returned figure.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import torch

from arc.nn.choices import STAGES

FORMATS = (".png", ".pdf", ".svg")
DPI = 110
_STAGE_OF_LAYER = {layer: stage for stage, layer in STAGES.items()}


class VizError(ValueError):
    """A figure cannot be made from what was given (the command line prints it as one `Error:` line)."""


# -- figures -------------------------------------------------------------------------------------------------


def new_figure(width: float, height: float):
    """A figure on the Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def suptitle(fig, text: str, fontsize: float = 10) -> None:
    """A figure title wrapped to the figure's width (each given line wrapped on its own)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 72 / (0.6 * fontsize)))
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.split("\n")), fontsize=fontsize)


def check_suffix(path: str | Path) -> Path:
    """`path` if its suffix is one matplotlib writes here (.png, .pdf, .svg); VizError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise VizError(f"{path}: the suffix picks the format; expected one of {', '.join(FORMATS)}")
    return path


def save(fig, path: str | Path) -> Path:
    """Write `fig` to `path` (format by suffix), whole or not at all (`arc.files`), creating its folder; returns the
    path."""
    from arc.files import write_with

    path = check_suffix(path)
    return write_with(path, lambda f: fig.savefig(f, format=path.suffix[1:].lower(), dpi=DPI))


def default_out(beside: str | Path, what: str) -> Path:
    """`<folder of beside>/<stem of beside>-<what>.png`: a figure's default file, beside its checkpoint."""
    beside = Path(beside)
    return beside.with_name(f"{beside.stem}-{what}.png")


# -- checkpoints and models ----------------------------------------------------------------------------------


def load(checkpoint: str | Path, device: str = "cpu"):
    """(model in eval mode, checkpoint dict) of a checkpoint written by `arc train`."""
    from arc.training.checkpoint import load_model

    return load_model(checkpoint, device)


def model_label(state: dict) -> str:
    """`ARC-TSM-R18 (n=4)`, `TSM-R18` or `TSN-R18`: what a checkpoint's model is, for titles and legends."""
    m = state.get("model_config", {})
    backbone = str(m.get("backbone", "?")).upper()
    if not m.get("shift", True):
        return f"TSN-{backbone}"
    if m.get("n", 1) > 1 and m.get("stages"):
        return f"ARC-TSM-{backbone} (n={m['n']})"
    return f"TSM-{backbone}"


def friendly_name(module_name: str) -> str:
    """`layer2.1.conv2` → `res3-block1-conv2`; `layer2` → `res3`; other names unchanged."""
    parts = module_name.split(".")
    if parts[0] not in _STAGE_OF_LAYER:
        return module_name
    stage = _STAGE_OF_LAYER[parts[0]]
    if len(parts) == 1:
        return stage
    if len(parts) >= 2 and parts[1].isdigit():
        return "-".join([stage, f"block{parts[1]}", *parts[2:]])
    return module_name


def module_name(name: str) -> str:
    """`res3-block1-conv2` → `layer2.1.conv2`, `res3` → `layer2`; a module name is returned as it is."""
    parts = name.split("-")
    if parts[0] not in STAGES:
        return name
    out = [STAGES[parts[0]]]
    if len(parts) >= 2:
        if not parts[1].startswith("block") or not parts[1][5:].isdigit():
            return name
        out += [parts[1][5:], *parts[2:]]
    return ".".join(out)


def arc_layers(model) -> dict[str, torch.nn.Module]:
    """The model's ARC layers by friendly name, in network order."""
    from arc.nn.layer import ARCConv2d

    return {friendly_name(n): m for n, m in model.named_modules() if isinstance(m, ARCConv2d) and m.n > 1}


def describe(names) -> str:
    """`res3-block0-conv1 (layer2.0.conv1), …` for error messages."""
    return ", ".join(f"{n} ({module_name(n)})" if module_name(n) != n else n for n in names)


def require_arc(model, checkpoint, what: str) -> dict[str, torch.nn.Module]:
    """The ARC layers of `model`; VizError saying so (and what works instead) when there are none."""
    layers = arc_layers(model)
    if not layers:
        raise VizError(f"{checkpoint} has no ARC layers (it is a TSM or TSN model: n=1 or no ARC stages), so it "
                       f"has no {what} to show; `arc viz cam` works on any model")
    return layers


def find_arc_layer(model, name: str, checkpoint="the model"):
    """(friendly name, ARCConv2d) for `name` (friendly or module name); VizError listing the valid ones."""
    layers = require_arc(model, checkpoint, "recursive steps")
    friendly = friendly_name(module_name(name))
    if friendly not in layers:
        raise VizError(f"{checkpoint} has no ARC layer {name!r}; its ARC layers are: {describe(layers)}")
    return friendly, layers[friendly]


def find_module(model, name: str, checkpoint="the model"):
    """(friendly name, module) for a stage (`res3`), a block (`res3-block1`), a layer or any module name."""
    modules = dict(model.named_modules())
    target = module_name(name)
    if target not in modules or target == "":
        stages = [s for s, layer in STAGES.items() if layer in modules]
        blocks = [friendly_name(n) for n in modules if n.count(".") == 1 and n.split(".")[0] in _STAGE_OF_LAYER]
        near = difflib.get_close_matches(name, [friendly_name(n) for n in modules if n], n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        kinds = ([f"a stage ({', '.join(stages)})"] if stages else []) + \
            ([f"a block ({blocks[0]} … {blocks[-1]})"] if blocks else [])
        kinds.append("a module name as in model.named_modules()")
        raise VizError(f"{checkpoint} has no layer {name!r}: give {' or '.join(kinds)}{hint}")
    return friendly_name(target), modules[target]


def pick_class(value, classes: list[str]) -> int:
    """A class given as an index or an exact name → its index; VizError saying the range otherwise."""
    if value is None:
        raise VizError("no class given")
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        if value in classes:
            return classes.index(value)
        near = difflib.get_close_matches(value, classes, n=3)
        hint = f"; did you mean {'; '.join(repr(n) for n in near)}?" if near else ""
        raise VizError(f"class {value!r} is not one of the model's {len(classes)} classes{hint}")
    index = int(value)
    if not 0 <= index < len(classes):
        raise VizError(f"class {index} is out of range: the model has {len(classes)} classes, 0 to "
                       f"{len(classes) - 1}")
    return index


# -- clips ---------------------------------------------------------------------------------------------------


def to_rgb(clip: torch.Tensor) -> np.ndarray:
    """Normalised frames `[T, 3, S, S]` → uint8 RGB `[T, S, S, 3]`: exactly the crops the model sees."""
    from arc.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    rgb = (clip.detach().cpu().float() * std + mean).clamp(0, 1)
    return (rgb.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def video_clip(path: str | Path, state: dict) -> torch.Tensor:
    """One test-time clip `[1, T, 3, S, S]` of a video file or frame folder, preprocessed as the checkpoint's
    evaluation does (T frames, centre crop at its input size)."""
    from arc.data.clips import load_clip
    from arc.data.registry import DATASETS

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such video file or frame folder")
    cfg = state["config"]
    views = load_clip(path, num_segments=cfg["num_segments"], clips=1, crops=1, input_size=cfg["input_size"],
                      prescale=DATASETS[cfg["dataset"]].prescale)
    return views[:1]


def val_clips(state: dict, data_root=None, count: int = 1, start: int = 0):
    """`count` validation clips `[count, T, 3, S, S]` of the checkpoint's dataset from video `start` on, their
    labels and their paths (one centre-cropped clip per video, as evaluation takes them)."""
    from arc.data.errors import BadSample
    from arc.data.home import resolve_data_root
    from arc.data.registry import build_dataset

    cfg = state["config"]
    root = resolve_data_root(cfg["dataset"], data_root or cfg.get("data_root"), cfg.get("train_list"))
    dataset = build_dataset(cfg["dataset"], root, "val", num_segments=cfg["num_segments"], train=False, clips=1,
                            crops=1, input_size=cfg["input_size"], list_file=cfg.get("val_list"))
    if not 0 <= start < len(dataset):
        raise VizError(f"--index {start} is out of range: the validation split at {root} has {len(dataset)} videos")
    clips, labels, paths = [], [], []
    for i in range(start, min(start + count, len(dataset))):
        item = dataset[i]
        if isinstance(item, BadSample):
            continue
        clip, label, j = item[:3]       # (clip, label, index[, unreadable files replaced])
        clips.append(clip[:1])
        labels.append(label)
        paths.append(str(dataset.records[j].path))
    if not clips:
        raise VizError(f"none of validation videos {start} to {start + count - 1} at {root} could be read")
    return torch.cat(clips), labels, paths


def clip_for(state: dict, video=None, data_root=None, index: int = 0):
    """(clip `[1, T, 3, S, S]`, a caption: the video's name and, for a validation video, its true class)."""
    if video is not None:
        return video_clip(video, state), Path(video).name
    clips, labels, paths = val_clips(state, data_root, 1, index)
    return clips, f"validation video {Path(paths[0]).name} (true: {state['classes'][labels[0]]})"


def capture_inputs(model, layers: list[torch.nn.Module], clips: torch.Tensor) -> list[torch.Tensor]:
    """The inputs `layers` receive when `model` runs once on `clips` (no gradients)."""
    seen: dict[int, torch.Tensor] = {}

    def keep(k):
        def hook(module, args):
            seen.setdefault(k, args[0].detach())     # returns None: the input is not replaced
        return hook

    handles = [layer.register_forward_pre_hook(keep(k)) for k, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            model(clips)
    finally:
        for h in handles:
            h.remove()
    return [seen[k] for k in range(len(layers))]
