"""ARC-TSM backbones (SPEC §3): torchvision ResNets with the residual temporal shift and ARC in chosen stages."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from arc.layer import ARCConv2d
from arc.shift import TemporalShift

# backbone -> (torchvision builder, ImageNet weights enum)
BACKBONES = {
    "r18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    "r34": (torchvision.models.resnet34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
    "r50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
    "r101": (torchvision.models.resnet101, torchvision.models.ResNet101_Weights.IMAGENET1K_V1),
}
# the paper's stage names -> torchvision's
STAGES = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}
ARU_NAMES = ("embed", "fuse", "attend")


class ShiftBlock(nn.Module):
    """A ResNet block (BasicBlock or Bottleneck) with the temporal shift at the start of its residual branch and,
    when `arc` is given, its K>1 convs and the BN (+ReLU) after them as `ARCConv2d` (SPEC §1 forward path).

    The branch runs the modules named in `branch` in order; `relu` after the residual sum stays outside.
    Parameter names stay torchvision's, except that an absorbed `bnK` lives at `convK.norm`.
    """

    def __init__(self, block: BasicBlock | Bottleneck, num_segments: int, shift: bool, arc: dict | None):
        super().__init__()
        self.shift = TemporalShift(num_segments) if shift else nn.Identity()
        basic = isinstance(block, BasicBlock)
        layers = [("conv1", "bn1", True), ("conv2", "bn2", not basic)] + ([] if basic else [("conv3", "bn3", False)])
        self.branch = []
        for conv_name, bn_name, has_act in layers:
            conv, bn = getattr(block, conv_name), getattr(block, bn_name)
            if arc is not None and conv.kernel_size != (1, 1):
                act = nn.ReLU() if has_act else None
                setattr(self, conv_name, ARCConv2d.from_conv(conv, norm=bn, act=act, num_segments=num_segments, **arc))
                self.branch.append(conv_name)
            else:
                setattr(self, conv_name, conv)
                setattr(self, bn_name, bn)
                self.branch += [conv_name, bn_name] + (["relu"] if has_act else [])
        self.relu = nn.ReLU(inplace=True)
        self.downsample = block.downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.shift(x)
        for name in self.branch:
            out = getattr(self, name)(out)
        return self.relu(out + identity)


class VideoResNet(nn.Module):
    """TSN-style video classifier on a 2-D ResNet: frames folded into the batch, frame scores averaged over T.

    Input `[B, T, 3, H, W]`, output logits `[B, num_classes]`. Module names follow torchvision's ResNet, so
    its state dict keys (and TSM's) map one to one; `config` holds the `build_model` arguments.
    """

    def __init__(self, resnet: torchvision.models.ResNet, num_classes: int, num_segments: int, dropout: float,
                 config: dict):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        self.avgpool = resnet.avgpool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(resnet.fc.in_features, num_classes)
        self.num_segments = num_segments
        self.config = config

    def set_num_segments(self, num_segments: int) -> None:
        """Use clips of another length (the layers' parameters do not depend on T)."""
        for m in self.modules():
            if isinstance(m, (TemporalShift, ARCConv2d)):
                m.num_segments = num_segments
        self.num_segments = num_segments

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """`[B·T, 3, H, W]` → pooled frame features `[B·T, D]`."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"VideoResNet expects clips [B, T, 3, H, W], got {list(x.shape)}")
        B, T = x.shape[:2]
        if T != self.num_segments:
            self.set_num_segments(T)
        scores = self.fc(self.dropout(self.features(x.flatten(0, 1))))
        return scores.view(B, T, -1).mean(dim=1)


def parse_stages(stages) -> tuple[str, ...]:
    """`"res3,res4"`, `("res3", "res4")`, `"none"` or `()` → a sorted tuple of paper stage names."""
    if isinstance(stages, str):
        stages = () if stages.strip().lower() in ("", "none") else [s.strip() for s in stages.split(",")]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: choose from {sorted(STAGES)} (paper names), or 'none'")
    return tuple(sorted(set(stages)))


def build_model(
    backbone: str,
    num_classes: int,
    num_segments: int = 8,
    n: int = 4,
    stages=("res3", "res4", "res5"),
    pretrained=None,
    dropout: float = 0.5,
    pool: str = "max",
    aru_act: str = "relu",
    shift: bool = True,
) -> VideoResNet:
    """ARC-TSM on a torchvision ResNet (`r18`, `r34`, `r50`, `r101`).

    ARC (with `n` parts, zero-initialised) replaces every K>1 conv with its BN (+ReLU) in the `stages`
    (paper names `res2`..`res5`); `n=1` or `stages=()` gives plain TSM, `shift=False` plain TSN. The shift
    sits in every block, except every second block of a stage with 23 or more blocks (as TSM does).
    `pretrained`: None, `"imagenet"` (torchvision's weights, from the local cache), a path, or a state dict
    of a torchvision ResNet or of a TSM / ARC-TSM model of this backbone (see `load_pretrained`).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}: choose from {sorted(BACKBONES)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError(f"num_segments must be a positive integer, got {num_segments!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    stages = parse_stages(stages)
    config = dict(backbone=backbone, num_classes=num_classes, num_segments=num_segments, n=n, stages=list(stages),
                  dropout=dropout, pool=pool, aru_act=aru_act, shift=shift)
    arc = dict(n=n, pool=pool, aru_act=aru_act) if n > 1 else None
    resnet = BACKBONES[backbone][0](weights=None)
    for paper_name, layer_name in STAGES.items():
        stage = getattr(resnet, layer_name)
        every = 2 if len(stage) >= 23 else 1
        blocks = [
            ShiftBlock(block, num_segments, shift=shift and i % every == 0,
                       arc=arc if paper_name in stages else None)
            for i, block in enumerate(stage)
        ]
        setattr(resnet, layer_name, nn.Sequential(*blocks))
    model = VideoResNet(resnet, num_classes, num_segments, dropout, config)
    model.load_report = None if pretrained is None else load_pretrained(model, pretrained)
    return model


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


def imagenet_state_dict(backbone: str, download: bool = True) -> dict:
    """torchvision's ImageNet weights for `backbone`, from the torch hub cache (downloaded only if allowed)."""
    weights = BACKBONES[backbone][1]
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
    """Load `pretrained` ("imagenet", a path, or a state dict) into `model`, mapping names (SPEC §3).

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
    if report.skipped:
        warnings.warn(str(report), stacklevel=2)
    return report
