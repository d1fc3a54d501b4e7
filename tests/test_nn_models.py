"""ARC-TSM builder (docs/models.md): where ARC and the shift go, weight loading, and equality with TSM at init."""


import pytest
import torch
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


def test_shift_in_every_block_but_every_second_of_long_stages():
    shifted = lambda model, layer: [isinstance(b.shift, TemporalShift) for b in getattr(model, layer)]
    r101 = build_model("r101", 10, n=1)
    assert shifted(r101, "layer3") == [i % 2 == 0 for i in range(23)]
    assert all(shifted(r101, "layer2")) and all(shifted(r101, "layer4"))
    assert not any(shifted(build_model("r18", 10, shift=False), "layer1"))


@pytest.mark.parametrize("backbone", ["r18", "r50"])
def test_arc_model_at_init_equals_tsm_model(backbone):
    torch.manual_seed(0)
    tsm = build_model(backbone, 7, num_segments=4, n=1)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in tsm.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2)
    model = build_model(backbone, 7, num_segments=4, n=4, pretrained=tsm.state_dict())
    assert model.load_report.new and all(k.rsplit(".", 1)[1] in ("embed", "fuse", "attend")
                                         for k in model.load_report.new)
    x = torch.rand(2, 4, 3, 64, 64)
    for train in (True, False):
        tsm.train(train)
        model.train(train)
        torch.manual_seed(1)
        a = tsm(x)
        torch.manual_seed(1)
        b = model(x)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
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
