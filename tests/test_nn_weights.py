"""Loading weights into ARC-TSM: torchvision, TSM and arc checkpoints, the key mapping, loud failures."""

import os
from pathlib import Path

import pytest
import torch
import torchvision

from arc import build_model
from arc.nn.weights import PretrainedError, imagenet_weights, load_pretrained


def test_torchvision_resnet_state_dict_loads_and_skips_classifier():
    resnet = torchvision.models.resnet18()
    model = build_model("r18", 10, pretrained=resnet.state_dict())
    torch.testing.assert_close(model.layer2[0].conv1.weight, resnet.layer2[0].conv1.weight)
    torch.testing.assert_close(model.layer2[0].conv1.norm.running_var, resnet.layer2[0].bn1.running_var)
    torch.testing.assert_close(model.layer1[0].bn2.weight, resnet.layer1[0].bn2.weight)
    assert any("fc.weight" in s for s in model.load_report.skipped)


def test_tsm_repository_style_keys_load():
    tsm = build_model("r18", 6, n=1)
    renamed = {}
    for key, value in tsm.state_dict().items():
        key = key.replace("conv1.weight", "conv1.net.weight") if ".conv1." in key and "layer" in key else key
        key = key.replace("fc.", "new_fc.") if key.startswith("fc.") else "base_model." + key
        renamed["module." + key] = value
    model = build_model("r18", 6, n=4, pretrained=renamed)
    torch.testing.assert_close(model.fc.weight, tsm.fc.weight)
    torch.testing.assert_close(model.layer3[1].conv1.weight, tsm.layer3[1].conv1.weight)


def test_arc_checkpoint_file_loads_its_model_entry_exactly(tmp_path):
    arc_model = build_model("r18", 6, n=2)
    with torch.no_grad():
        arc_model.layer4[0].conv2.fuse.normal_()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": arc_model.state_dict(), "epoch": 3}, path)
    again = build_model("r18", 6, n=2, pretrained=str(path))
    torch.testing.assert_close(again.layer4[0].conv2.fuse, arc_model.layer4[0].conv2.fuse)
    assert again.load_report.new == []


def test_mismatching_weights_fail_loudly(tmp_path):
    arc_state = build_model("r18", 6, n=4).state_dict()
    with pytest.raises(PretrainedError, match="unexpected key"):
        build_model("r18", 6, n=1, pretrained=arc_state)  # TSM cannot hold the ARU parameters
    with pytest.raises(PretrainedError, match="shape mismatch"):
        build_model("r18", 6, n=2, pretrained=arc_state)  # fuse [3, C, C/4] vs [1, C, C/2]
    with pytest.raises(PretrainedError, match="missing key"):
        build_model("r18", 6, pretrained={k: v for k, v in arc_state.items() if "layer1.0.bn1" not in k})
    with pytest.raises(PretrainedError, match="no such file"):
        build_model("r18", 6, pretrained=str(tmp_path / "nope.pt"))
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(PretrainedError, match="junk.pt"):
        build_model("r18", 6, pretrained=str(tmp_path / "junk.pt"))


def test_imagenet_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = build_model("r18", 6)
    with pytest.raises(PretrainedError, match="not cached at .*resnet18"):
        load_pretrained(model, "imagenet", download=False)
    resnet = torchvision.models.resnet18()
    cache = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(imagenet_weights("r18").url)
    cache.parent.mkdir(parents=True)
    torch.save(resnet.state_dict(), cache)
    report = load_pretrained(model, "imagenet", download=False)
    assert "ImageNet" in report.source and "classifier" in str(report)
    torch.testing.assert_close(model.conv1.weight, resnet.conv1.weight)


