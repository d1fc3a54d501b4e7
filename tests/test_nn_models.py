"""ARC-TSM builder (docs/models.md): where ARC and the shift go, weight loading, and equality with TSM at init."""


import pytest
import torch
import torchvision
from strategies import randomise_bn
from torch import nn

from arc import ARCConv2d, TemporalShift, build_model
from arc.nn.choices import parse_stages
from arc.nn.weights import canonical_key


def arc_layers(model):
    return {name for name, m in model.named_modules() if isinstance(m, ARCConv2d)}


def test_arc_replaces_k3_convs_of_chosen_stages_only():
    model = build_model("r18", 10, n=4)
    expected = {f"layer{s}.{b}.conv{c}" for s in (2, 3, 4) for b in (0, 1) for c in (1, 2)}
    assert arc_layers(model) == expected
    assert isinstance(model.layer2[0].conv1, ARCConv2d) and model.layer2[0].conv1.stride == (2, 2)
    assert isinstance(model.layer2[0].downsample[0], nn.Conv2d)
    r50 = build_model("r50", 10, n=2, stages="res2,res5")
    assert arc_layers(r50) == {f"layer1.{b}.conv2" for b in range(3)} | {f"layer4.{b}.conv2" for b in range(3)}
    assert all(m.n == 2 for m in r50.modules() if isinstance(m, ARCConv2d))
    assert arc_layers(build_model("r18", 10, n=1)) == set()
    assert arc_layers(build_model("r18", 10, stages=())) == set()


def test_shift_in_every_block_but_every_second_of_every_stage_in_r101():
    shifted = lambda model: {f"{layer}.{i}" for layer in ("layer1", "layer2", "layer3", "layer4")
                             for i, b in enumerate(getattr(model, layer)) if isinstance(b.shift, TemporalShift)}
    with torch.device("meta"):  # placement only: no weights needed
        r101, r50 = build_model("r101", 10, n=1), build_model("r50", 10, n=1)
    # TSM's make_temporal_shift: layer3 has 23 blocks, so n_round = 2 in all four stages
    expected = {"layer1.0", "layer1.2", "layer2.0", "layer2.2", "layer4.0", "layer4.2"}
    expected |= {f"layer3.{i}" for i in range(0, 23, 2)}
    assert shifted(r101) == expected
    assert {"layer1.1", "layer2.1", "layer2.3", "layer4.1"}.isdisjoint(shifted(r101))
    assert shifted(r50) == {f"layer{s}.{i}" for s, blocks in enumerate((3, 4, 6, 3), 1) for i in range(blocks)}
    assert not shifted(build_model("r18", 10, shift=False))


# -- an independent oracle: TSM as its paper and repository define it, written from the formulas ----------------


class _TSMShiftWrapper(nn.Module):
    """TSM's residual shift as TSM wraps it (`conv1` becomes `conv1.net`): shift the input, then run `net`."""

    def __init__(self, net, num_segments, fold_div=8):
        super().__init__()
        self.net, self.num_segments, self.fold_div = net, num_segments, fold_div

    def forward(self, x):
        nt, c, h, w = x.shape
        clips = x.view(nt // self.num_segments, self.num_segments, c, h, w)
        fold = c // self.fold_div
        pad = torch.zeros_like(clips[:, :1, :fold])
        ahead = torch.cat([clips[:, 1:, :fold], pad], dim=1)  # frame t takes t+1
        behind = torch.cat([pad, clips[:, :-1, fold:2 * fold]], dim=1)  # frame t takes t-1
        return self.net(torch.cat([ahead, behind, clips[:, :, 2 * fold:]], dim=2).view(nt, c, h, w))


class _TSMNet(nn.Module):
    """TSM's TSN wrapper: `base_model` (ResNet, `fc` replaced by dropout), `new_fc`, average over segments."""

    def __init__(self, backbone, num_classes, num_segments):
        super().__init__()
        base = getattr(torchvision.models, {"r18": "resnet18", "r50": "resnet50", "r101": "resnet101"}[backbone])()
        n_round = 2 if len(base.layer3) >= 23 else 1  # make_temporal_shift, place="blockres"
        for stage in (base.layer1, base.layer2, base.layer3, base.layer4):
            for i, block in enumerate(stage):
                if i % n_round == 0:
                    block.conv1 = _TSMShiftWrapper(block.conv1, num_segments)
        self.new_fc = nn.Linear(base.fc.in_features, num_classes)
        base.fc = nn.Dropout(0.5)
        self.base_model = base

    def forward(self, clips):
        B, T = clips.shape[:2]
        return self.new_fc(self.base_model(clips.flatten(0, 1))).view(B, T, -1).mean(dim=1)


def assert_same_outputs(model, expected_model, x, what: str) -> None:
    """`model(x)` equals `expected_model(x)` in eval and in train mode (the same dropout draws: seeded alike)."""
    for train in (False, True):
        expected_model.train(train)
        model.train(train)
        torch.manual_seed(1)
        expected = expected_model(x)
        torch.manual_seed(1)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5, msg=f"{what}, train={train}")


@pytest.mark.parametrize("backbone", ["r18", "r50", "r101"])
def test_tsm_model_from_tsm_named_weights_computes_what_tsm_computes(backbone):
    torch.manual_seed(0)
    tsm = _TSMNet(backbone, 5, num_segments=4)
    randomise_bn(tsm)
    state = {"module." + k: v for k, v in tsm.state_dict().items()}  # DDP-saved, as TSM's checkpoints are
    assert any(k.endswith("conv1.net.weight") for k in state) and "module.new_fc.weight" in state
    model = build_model(backbone, 5, num_segments=4, n=1, pretrained=state)
    assert_same_outputs(model, tsm, torch.rand(1, 4, 3, 32, 32), backbone)


@pytest.mark.parametrize("backbone", ["r18", "r50"])
def test_arc_model_at_init_equals_tsm_model(backbone):
    torch.manual_seed(0)
    tsm = build_model(backbone, 7, num_segments=4, n=1)
    randomise_bn(tsm)
    model = build_model(backbone, 7, num_segments=4, n=4, pretrained=tsm.state_dict())
    assert model.load_report.new and all(k.rsplit(".", 1)[1] in ("embed", "fuse", "attend")
                                         for k in model.load_report.new)
    assert_same_outputs(model, tsm, torch.rand(2, 4, 3, 64, 64), backbone)
    arc_state = {canonical_key(k): v for k, v in model.state_dict().items()}
    for key, value in tsm.state_dict().items():  # including the BN statistics the train pass updated
        torch.testing.assert_close(arc_state[key], value, rtol=1e-6, atol=1e-6, msg=key)


def test_forward_shapes_and_other_clip_lengths():
    model = build_model("r18", 5, num_segments=8, n=2).eval()
    assert model(torch.rand(2, 8, 3, 32, 32)).shape == (2, 5)
    assert model(torch.rand(1, 4, 3, 32, 32)).shape == (1, 5)
    assert model.layer3[0].conv1.num_segments == 4 and model.layer1[0].shift.num_segments == 4
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(torch.rand(8, 3, 32, 32))


def test_builder_refuses_unknown_backbone_stage_and_bad_counts():
    with pytest.raises(ValueError, match="backbone must be one of r18, r34, r50, r101, got 'r19'"):
        build_model("r19", 10)
    with pytest.raises(ValueError, match="unknown stage"):
        build_model("r18", 10, stages=("res6",))
    with pytest.raises(ValueError, match="num_classes"):
        build_model("r18", 0)
    with pytest.raises(ValueError, match="n .the number of ARC recursive steps. must be an integer >= 1"):
        build_model("r18", 10, n=0)
    with pytest.raises(ValueError, match="not divisible by n=3"):
        build_model("r18", 10, n=3)
    assert parse_stages("res5, res3") == ("res3", "res5") and parse_stages("none") == ()


def test_build_model_builds_every_arc_layer_with_the_implementation_asked_for():
    with torch.device("meta"):
        lean, autograd = build_model("r18", 10, n=4), build_model("r18", 10, n=4, impl="autograd")
    assert {m.impl for m in lean.modules() if isinstance(m, ARCConv2d)} == {"lean"}
    layers = [m for m in autograd.modules() if isinstance(m, ARCConv2d)]
    assert len(layers) == 12 and {m.impl for m in layers} == {"autograd"}
    assert not any(m.uses_lean for m in layers)
    assert autograd.config == lean.config and "impl" not in autograd.config   # a checkpoint loads into either
    with pytest.raises(ValueError, match="impl must be one of lean, autograd, got 'fused'"):
        build_model("r18", 10, impl="fused")
