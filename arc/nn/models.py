"""ARC-TSM backbones: torchvision ResNets with the residual temporal shift, ARC in chosen stages and, optionally,
MotionSqueeze after res3 (MSN / ARC-MSN) (where each goes: docs/models.md)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from arc.nn.choices import (
    ARU_NAMES,
    ATTENTIONS,
    BACKBONES,
    DEFAULT_STAGES,
    IMPLS,
    MOTIONS,
    STAGES,
    check_choice,
    check_n,
    parse_aru_terms,
    parse_stages,
)
from arc.nn.layer import ARCConv2d
from arc.nn.motion import MotionSqueeze
from arc.nn.shift import TemporalShift


class ShiftBlock(nn.Module):
    """A ResNet block (BasicBlock or Bottleneck) with the temporal shift at the start of its residual branch and,
    when `arc` is given, its K>1 convs and the BN (+ReLU) after them as `ARCConv2d` (the forward path of docs/layer.md).

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
    its state dict keys (and TSM's) map one to one; `motion` (MotionSqueeze or None) runs on res3's output
    (`layer2`), before `layer3`; `config` holds the `build_model` arguments.
    """

    def __init__(self, resnet: torchvision.models.ResNet, num_classes: int, num_segments: int, dropout: float,
                 config: dict, motion: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        self.motion = motion
        self.avgpool = resnet.avgpool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(resnet.fc.in_features, num_classes)
        self.num_segments = num_segments
        self.config = config

    def set_num_segments(self, num_segments: int) -> None:
        """Use clips of another length (the layers' parameters do not depend on T)."""
        for m in self.modules():
            if isinstance(m, (TemporalShift, ARCConv2d, MotionSqueeze)):
                m.num_segments = num_segments
        self.num_segments = num_segments

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """`[B·T, 3, H, W]` → pooled frame features `[B·T, D]`."""
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x))))))
        if self.motion is not None:
            x = self.motion(x)
        x = self.layer4(self.layer3(x))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"VideoResNet expects clips [B, T, 3, H, W], got {list(x.shape)}")
        B, T = x.shape[:2]
        if T != self.num_segments:
            self.set_num_segments(T)
        scores = self.fc(self.dropout(self.features(x.flatten(0, 1))))
        return scores.view(B, T, -1).mean(dim=1)


def build_model(
    backbone: str,
    num_classes: int,
    num_segments: int = 8,
    n: int = 4,
    stages=DEFAULT_STAGES,
    pretrained=None,
    dropout: float = 0.5,
    pool: str = "max",
    aru_act: str = "relu",
    shift: bool = True,
    motion: str = "none",
    impl: str = "lean",
    aru_terms=ARU_NAMES,
    attention: str = "both",
) -> VideoResNet:
    """ARC-TSM on a torchvision ResNet (`r18`, `r34`, `r50`, `r101`).

    ARC (with `n` parts, zero-initialised) replaces every K>1 conv with its BN (+ReLU) in the `stages`
    (paper names `res2`..`res5`); `n=1` or `stages=()` gives plain TSM, `shift=False` plain TSN. The shift
    sits in every block; when `layer3` has 23 or more blocks (ResNet-101) only every second block of every stage
    shifts, as TSM's `make_temporal_shift` does (`n_round = 2` for the whole network).
    `pretrained`: None, `"imagenet"` (torchvision's weights, from the local cache), a path, or a state dict
    of a torchvision ResNet or of a TSM / ARC-TSM model of this backbone (`arc.nn.weights`).
    `motion="ms"`: MotionSqueeze after res3 (MSNet; with ARC, ARC-MSN); pretrained weights load into the
    backbone and the MS module keeps its own initialisation (listed in `load_report`).
    `aru_terms` (some of `embed`, `fuse`, `attend`; `"none"` or `()` for none) and `attention` (`both`, `space`,
    `time`): the ARU terms every ARC layer keeps and the attention's pooled views — the paper's ablations
    (`ARCConv2d`, docs/layer.md "Ablations"). A checkpoint's `model_config` without them was a full layer: the
    defaults.
    `impl`: how the ARC layers are differentiated (`ARCConv2d`'s `impl`, `arc.nn.choices.IMPLS`); not in `config`,
    which says what the model computes (a checkpoint loads into either).
    """
    config = _config(backbone, num_classes, num_segments, n, stages, dropout, pool, aru_act, shift, motion, aru_terms,
                     attention)
    check_choice(impl, IMPLS, "impl")
    stages, aru_terms = config["stages"], tuple(config["aru_terms"])
    arc = dict(n=n, pool=pool, aru_act=aru_act, impl=impl, aru_terms=aru_terms, attention=attention) if n > 1 else None
    resnet = getattr(torchvision.models, BACKBONES[backbone][0])(weights=None)
    every = 2 if len(resnet.layer3) >= 23 else 1  # TSM's n_round: decided by layer3, applied to all four stages
    for paper_name, layer_name in STAGES.items():
        stage = getattr(resnet, layer_name)
        blocks = [
            ShiftBlock(block, num_segments, shift=shift and i % every == 0,
                       arc=arc if paper_name in stages else None)
            for i, block in enumerate(stage)
        ]
        setattr(resnet, layer_name, nn.Sequential(*blocks))
    res3_channels = resnet.layer3[0].conv1.in_channels
    ms = MotionSqueeze(res3_channels, num_segments) if motion == "ms" else None
    model = VideoResNet(resnet, num_classes, num_segments, dropout, config, motion=ms)
    model.load_report = None
    if pretrained is not None:
        from arc.nn.weights import load_pretrained

        model.load_report = load_pretrained(model, pretrained)
    return model


def _config(backbone, num_classes, num_segments, n, stages, dropout, pool, aru_act, shift, motion, aru_terms,
            attention) -> dict:
    """`build_model`'s arguments but `pretrained` and `impl`, each checked (ValueError naming it), as the model's
    `config` holds them (plain values: stages and ARU terms as lists, in their canonical order)."""
    check_choice(backbone, BACKBONES, "backbone")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError(f"num_segments must be a positive integer, got {num_segments!r}")
    check_n(n)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    check_choice(motion, MOTIONS, "motion")
    check_choice(attention, ATTENTIONS, "attention")
    return dict(backbone=backbone, num_classes=num_classes, num_segments=num_segments, n=n,
                stages=list(parse_stages(stages)), dropout=dropout, pool=pool, aru_act=aru_act, shift=shift,
                motion=motion, aru_terms=list(parse_aru_terms(aru_terms)), attention=attention)
