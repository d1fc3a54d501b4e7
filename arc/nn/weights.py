"""Loading weights into an ARC-TSM model: torchvision ImageNet weights, TSM checkpoints, arc checkpoints, state
dicts — with the key mapping between the feed-forward naming and ARC's (docs/models.md, "Weights")."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision

from arc.nn.choices import ARU_NAMES, BACKBONES
from arc.nn.models import VideoResNet

# -- loading weights ----------------------------------------------------------------------------------------


class PretrainedError(ValueError):
    """A checkpoint that does not fit the model (names the source and the offending keys)."""


@dataclass
class LoadReport:
    source: str
    new: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {self.source}"]
        if self.new:
            lines.append(f"  new (ARU, zero-initialised): {len(self.new)} tensors, e.g. {self.new[0]}")
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def canonical_key(key: str) -> str:
    """A parameter name in the feed-forward (torchvision) naming.

    Strips DDP's `module.`, TSM's `base_model.` and its shift wrapper `.net.`, maps TSM's `new_fc` to `fc`,
    and an absorbed `convK.norm.*` back to the block's `bnK.*`.
    """
    key = re.sub(r"^(module\.)+", "", key)
    key = re.sub(r"^base_model\.", "", key)
    key = re.sub(r"^new_fc\.", "fc.", key)
    key = key.replace(".net.", ".")
    return re.sub(r"\.conv(\d)\.norm\.", r".bn\1.", key)


def imagenet_weights(backbone: str):
    """torchvision's ImageNet weights entry (`IMAGENET1K_V1`) for `backbone`: its `url`, `get_state_dict`."""
    return getattr(torchvision.models, BACKBONES[backbone][1]).IMAGENET1K_V1


def imagenet_state_dict(backbone: str, download: bool = True) -> dict:
    """torchvision's ImageNet weights for `backbone`, from the torch hub cache (downloaded only if allowed)."""
    weights = imagenet_weights(backbone)
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    if not download:
        raise PretrainedError(f"ImageNet weights for {backbone} are not cached at {path}")
    try:
        return weights.get_state_dict(progress=False)
    except Exception as e:  # no network, proxy, …
        raise PretrainedError(
            f"ImageNet weights for {backbone} are not cached at {path} and could not be downloaded "
            f"({type(e).__name__}: {e}). Fetch {weights.url} on a machine with network access and put it "
            f"there (or set TORCH_HOME), or pass --pretrained PATH."
        ) from None


def load_pretrained(model: VideoResNet, pretrained, download: bool = True) -> LoadReport:
    """Load `pretrained` ("imagenet", a path, or a state dict) into `model`, mapping names.

    The classifier is loaded when its shape matches and skipped with a message otherwise. Only ARU
    parameters (`embed`, `fuse`, `attend`) may be missing from the source: they keep their zero init, so
    an ARC model loaded from a TSM model computes exactly what that model computes. Anything else that
    does not fit — an unknown key, a missing one, a shape mismatch — raises `PretrainedError`.
    """
    backbone = model.config["backbone"]
    if isinstance(pretrained, str) and pretrained == "imagenet":
        source, state = f"ImageNet weights ({backbone})", imagenet_state_dict(backbone, download)
    elif isinstance(pretrained, (str, os.PathLike)):
        source = str(pretrained)
        if not Path(pretrained).is_file():
            raise PretrainedError(f"pretrained weights {source}: no such file")
        try:
            state = torch.load(pretrained, map_location="cpu", weights_only=True)
        except Exception as e:
            raise PretrainedError(f"pretrained weights {source}: cannot be read as a torch file ({e})") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]  # an arc training checkpoint
        elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]  # a TSM / MMAction2 checkpoint
    elif isinstance(pretrained, dict):
        source, state = "state dict", pretrained
    else:
        raise PretrainedError(f"pretrained must be 'imagenet', a path or a state dict, got {type(pretrained).__name__}")

    target = model.state_dict()
    by_canonical = {canonical_key(k): k for k in target}
    report, loaded, unexpected, mismatched = LoadReport(source), {}, [], []
    for key, value in state.items():
        name = by_canonical.get(canonical_key(key))
        if name is None:
            unexpected.append(key)
        elif name.startswith("fc.") and value.shape != target[name].shape:
            report.skipped.append(f"{name}: classifier {tuple(value.shape)} != {tuple(target[name].shape)}")
        elif value.shape != target[name].shape:
            mismatched.append(f"{key} {tuple(value.shape)} -> {name} {tuple(target[name].shape)}")
        else:
            loaded[name] = value
    missing = [k for k in target if k not in loaded and not k.startswith("fc.")]
    report.new = [k for k in missing if k.rsplit(".", 1)[-1] in ARU_NAMES]
    missing = [k for k in missing if k not in report.new and not k.endswith("num_batches_tracked")]
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es), e.g. {mismatched[:3]}")
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if problems:
        raise PretrainedError(
            f"{source} does not fit {backbone} (n={model.config['n']}, stages={model.config['stages']}): "
            + "; ".join(problems)
        )
    model.load_state_dict(loaded, strict=False)
    return report
