"""`arc.arcify`: ARC on any model — the chains it finds, what it leaves and why, and that the converted model at
zero ARU init computes what the original did (docs/models.md, "Other hosts")."""

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from strategies import randomise_bn
from torch import nn

from arc import ARCConv2d, arcify, build_model
from arc.nn.arcify import ArcifyError


def _arc_layers(model):
    return {name for name, m in model.named_modules() if isinstance(m, ARCConv2d)}


def _randomise_aru(*models):
    """The same random ARU maps in every model (by parameter name): ARC at work, not at its zero init."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in models[0].named_parameters():
            if name.rsplit(".", 1)[1] in ("embed", "fuse", "attend"):
                value = torch.randn(p.shape, generator=generator) * 0.1
                for model in models:
                    model.get_parameter(name).copy_(value)


@pytest.mark.parametrize("backbone", ["r18", "r50"])
def test_torchvision_resnet_converts_as_build_model_does(backbone):
    torch.manual_seed(0)
    resnet = getattr(torchvision.models, {"r18": "resnet18", "r50": "resnet50"}[backbone])(num_classes=6)
    randomise_bn(resnet)
    video = build_model(backbone, 6, num_segments=2, n=4, shift=False, pretrained=resnet.state_dict())
    converted, report = arcify(resnet, n=4, num_segments=2, include=["layer2", "layer3", "layer4"])
    assert {r.conv for r in report.replaced} == _arc_layers(video)
    assert set(converted.state_dict()) == set(video.state_dict())  # the same parameter names as build_model's
    assert all(why.startswith("1x1 conv") for why in report.skipped.values())
    _randomise_aru(video, converted)
    x = torch.rand(2, 2, 3, 32, 32)
    video.eval(), converted.eval()
    torch.testing.assert_close(converted(x.flatten(0, 1)).view(2, 2, -1).mean(dim=1), video(x))


def test_build_model_tsm_converted_equals_build_model_arc_tsm():
    torch.manual_seed(0)
    tsm = build_model("r18", 5, num_segments=2, n=1)
    randomise_bn(tsm)
    arc_tsm = build_model("r18", 5, num_segments=2, n=4, pretrained=tsm.state_dict())
    converted, report = arcify(tsm, n=4, num_segments=2, include=["layer2", "layer3", "layer4"])
    assert {r.conv for r in report.replaced} == _arc_layers(arc_tsm)
    assert {r.act for r in report.replaced if r.conv.endswith("conv1")} == {
        name.rsplit(".", 1)[0] + ".relu" for name in _arc_layers(arc_tsm) if name.endswith("conv1")}
    _randomise_aru(arc_tsm, converted)
    x = torch.rand(2, 2, 3, 32, 32)
    for train in (False, True):
        arc_tsm.train(train), converted.train(train)
        torch.manual_seed(2)
        expected = arc_tsm(x)
        torch.manual_seed(2)  # the same dropout mask
        torch.testing.assert_close(converted(x), expected, msg=f"train={train}")


def test_vgg11_bn_every_conv_bn_relu_chain_is_converted():
    torch.manual_seed(0)
    with torch.device("meta"):  # skip initialising the 120 M-parameter classifier that is replaced anyway
        vgg = torchvision.models.vgg11_bn()
    vgg.features.to_empty(device="cpu")
    for m in vgg.features:
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    vgg.avgpool, vgg.classifier = nn.AdaptiveAvgPool2d(7), nn.Linear(512 * 7 * 7, 5)  # a small head on the CPU
    randomise_bn(vgg)
    original = copy.deepcopy(vgg).eval()
    converted, report = arcify(vgg, n=4, num_segments=2)
    convs = [i for i, m in enumerate(original.features) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and report.skipped == {}
    assert [(r.conv, r.norm, r.act) for r in report.replaced] == [
        (f"features.{i}", f"features.{i + 1}", f"features.{i + 2}") for i in convs]
    assert all(isinstance(converted.features[i + 1], nn.Identity) for i in convs)
    x = torch.rand(4, 3, 32, 32)  # an image in [0, 1]: the first conv's input is non-negative
    torch.testing.assert_close(converted.eval()(x), original(x))


class Branchy(nn.Module):
    """Two branches, a depthwise and a grouped conv, a conv without BN, a conv used twice, a shared ReLU, a
    functional ReLU, an activation module used once, and a BN whose output is read twice."""

    def __init__(self):
        super().__init__()
        conv, bn = (lambda cin, k, **kw: nn.Conv2d(cin, 8, k, padding=k // 2, **kw)), (lambda: nn.BatchNorm2d(8))
        self.stem, self.stem_bn, self.relu = conv(3, 3), bn(), nn.ReLU(inplace=True)
        self.left, self.left_bn = conv(8, 3, bias=False), bn()
        self.right, self.right_bn = conv(8, 1, bias=False), bn()
        self.depthwise, self.depthwise_bn = conv(8, 3, groups=8, bias=False), bn()
        self.grouped, self.grouped_bn = conv(8, 3, groups=2), bn()
        self.plain = conv(8, 3)
        self.twice, self.twice_bn = conv(8, 3), bn()
        self.tail, self.tail_bn, self.tail_act = conv(8, 3), bn(), nn.SiLU()
        self.both, self.both_bn = conv(8, 5), bn()
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.stem_bn(self.stem(x)))
        a = F.relu(self.left_bn(self.left(x)))
        b = self.relu(self.right_bn(self.right(x)))
        y = self.relu(self.depthwise_bn(self.depthwise(a + b)))
        y = self.relu(self.plain(self.grouped_bn(self.grouped(y))))
        y = self.twice_bn(self.twice(self.twice(y).relu()))
        u = self.tail_act(self.tail_bn(self.tail(y.relu())))
        v = self.both_bn(self.both(u.relu()))
        return self.head((F.relu(v) + v).mean(dim=(2, 3)))


@pytest.mark.parametrize("pointwise", [False, True])
def test_custom_model_only_eligible_chains_are_converted(pointwise):
    torch.manual_seed(0)
    model = Branchy()
    randomise_bn(model)
    original = copy.deepcopy(model).eval()
    converted, report = arcify(model, n=4, num_segments=2, pointwise=pointwise)
    replaced = {r.conv: r.act for r in report.replaced}
    expected = {"stem": "relu", "left": "F.relu", "tail": "tail_act", "both": None} | (
        {"right": "relu"} if pointwise else {})
    assert replaced == expected
    reasons = {"depthwise": "depthwise", "grouped": "grouped", "plain": "BN missing", "twice": "used 2 times"}
    reasons |= {} if pointwise else {"right": "1x1 conv"}
    assert set(report.skipped) == set(reasons)
    for name, why in reasons.items():
        assert why in report.skipped[name], (name, report.skipped[name])
    assert "read by 2 operations" in next(r.note for r in report.replaced if r.conv == "both")
    assert isinstance(converted.relu, nn.ReLU) and isinstance(converted.tail_act, nn.Identity)
    assert isinstance(converted.stem_bn, nn.Identity) and isinstance(converted.depthwise, nn.Conv2d)
    x = torch.rand(4, 3, 8, 8)
    torch.testing.assert_close(converted.eval()(x), original(x))
    assert "replaced stem" in str(report) and "left twice" in str(report)


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())

    def forward(self, x):
        return self.block(x) if x.mean() > 0.5 else 2 * self.block(x)  # data-dependent: fx cannot trace it


def test_untraceable_model_gets_one_line_naming_it_and_the_way_out():
    with pytest.raises(ArcifyError, match=r"cannot trace the model \(Gated\).*include=.*exclude=") as error:
        arcify(Gated())
    assert "\n" not in str(error.value)
    converted, report = arcify(Gated(), include=["block"])
    assert [r.conv for r in report.replaced] == ["block.0"] and isinstance(converted.block[0], ARCConv2d)
    with pytest.raises(ArcifyError, match="cannot trace the model .VideoResNet."):
        arcify(build_model("r18", 5, n=1))
    _, report = arcify(build_model("r18", 5, n=1), include=["layer4"], exclude=["layer4.1"])
    assert {r.conv for r in report.replaced} == {"layer4.0.conv1", "layer4.0.conv2"}
    assert report.skipped["layer4.1.conv1"] == "excluded by 'layer4.1'"
    with pytest.raises(ArcifyError, match="matches no module"):
        arcify(Gated(), include=["nothing*"])


def test_arcify_walks_each_traced_graph_once_whatever_the_number_of_convs(monkeypatch):
    import arc.nn.arcify as module

    walks = []

    class Counted(torch.fx.Graph):
        @property
        def nodes(self):
            walks.append(1)
            return super().nodes

    trace = module._trace

    def counted(*args):
        graph = trace(*args)
        graph.__class__ = Counted
        return graph

    monkeypatch.setattr(module, "_trace", counted)
    _, report = arcify(torchvision.models.resnet18(), n=2, num_segments=2)
    assert len(report.replaced) == 17 and len(walks) == 1   # the stem and 16 block convs, from one walk
    _, report = arcify(torchvision.models.resnet18(), n=2, num_segments=2, include=["layer1", "layer2"])
    assert len(report.replaced) == 8 and len(walks) == 3     # one walk per traced scope
