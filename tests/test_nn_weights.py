"""Loading weights into ARC-TSM: torchvision, TSM and arc checkpoints, the key mapping, loud failures."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from strategies import randomise_bn
from torch import nn

from arc import ARCConv2d, TemporalShift, build_model
from arc.nn.weights import PretrainedError, from_authors_arc, imagenet_weights, load_pretrained


def name_in(model, key: str) -> str:
    """Where `model` (an ARC-TSM model) holds the tensor that a torchvision / TSM state dict names `key`: the `bnK`
    after a conv that became an `ARCConv2d` lives at `convK.norm`; every other name is the same."""
    m = re.fullmatch(r"(layer\d\.\d+)\.bn(\d)\.(\w+)", key)
    if m and isinstance(model.get_submodule(f"{m[1]}.conv{m[2]}"), ARCConv2d):
        return f"{m[1]}.conv{m[2]}.norm.{m[3]}"
    return key


def assert_holds_every_tensor(model, source: dict, skipped=()) -> None:
    """Every tensor of `source` (but the `skipped` keys) is in `model` at `name_in`, bit for bit; what the model has
    besides is the ARU maps, at zero (loading a TSM model into ARC keeps what it computes)."""
    state = model.state_dict()
    names = {name_in(model, key): key for key in source if key not in skipped}
    assert len(names) == len(source) - len(skipped)
    for name, key in names.items():
        assert state[name].dtype == source[key].dtype and torch.equal(state[name], source[key]), (key, name)
    rest = [k for k in state if k not in names and not k.startswith(tuple(skipped))]
    assert all(k.rsplit(".", 1)[1] in ("embed", "fuse", "attend") and not state[k].any() for k in rest), rest


def source_model(build, seed: int):
    """`build()` with random weights and random BatchNorm statistics and counts, so that no tensor a loader leaves
    out can match the target's own initialisation by chance."""
    torch.manual_seed(seed)
    model = build()
    randomise_bn(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.num_batches_tracked.fill_(7)
    return model


def test_torchvision_resnet_state_dict_loads_every_tensor_and_skips_the_classifier():
    resnet = source_model(torchvision.models.resnet18, 1)
    model = build_model("r18", 10, pretrained=resnet.state_dict())
    assert_holds_every_tensor(model, resnet.state_dict(), skipped=("fc.weight", "fc.bias"))
    assert model.load_report.skipped == ["fc.weight: classifier (1000, 512) != (10, 512)",
                                         "fc.bias: classifier (1000,) != (10,)"]
    assert sum(isinstance(m, ARCConv2d) for m in model.modules()) == 12     # res3-5: 2 blocks of two 3×3 convs


def test_tsm_repository_style_keys_load_every_tensor():
    tsm = source_model(lambda: build_model("r18", 6, n=1), 2)
    renamed = {}
    for key, value in tsm.state_dict().items():
        key = key.replace("conv1.weight", "conv1.net.weight") if ".conv1." in key and "layer" in key else key
        key = key.replace("fc.", "new_fc.") if key.startswith("fc.") else "base_model." + key
        renamed["module." + key] = value
    model = build_model("r18", 6, n=4, pretrained=renamed)
    assert_holds_every_tensor(model, tsm.state_dict())


def test_arc_checkpoint_file_loads_its_model_entry_exactly(tmp_path):
    arc_model = source_model(lambda: build_model("r18", 6, n=2), 3)
    with torch.no_grad():
        for name, p in arc_model.named_parameters():
            if name.endswith(("embed", "fuse", "attend")):
                p.normal_()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": arc_model.state_dict(), "epoch": 3}, path)
    again = build_model("r18", 6, n=2, pretrained=str(path))
    expected = arc_model.state_dict()
    assert again.state_dict().keys() == expected.keys()
    for key, value in again.state_dict().items():
        assert torch.equal(value, expected[key]), key
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
    with pytest.raises(PretrainedError, match="junk.pt: not a torch file") as error:
        build_model("r18", 6, pretrained=str(tmp_path / "junk.pt"))
    assert "\n" not in str(error.value) and "Please file an issue" not in str(error.value)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(PretrainedError, match="empty.pt: not a torch file"):
        build_model("r18", 6, pretrained=str(tmp_path / "empty.pt"))


def test_torch_file_holding_other_objects_says_what_and_how_to_trust_it(tmp_path):
    path = tmp_path / "tsm.pth.tar"
    torch.save({"state_dict": build_model("r18", 6, n=1).state_dict(), "best_prec1": np.float64(41.8)}, path)
    with pytest.raises(PretrainedError, match="holds a numpy.* object.*weights_only=False") as error:
        build_model("r18", 6, n=1, pretrained=str(path))
    assert "\n" not in str(error.value)


def test_two_source_keys_for_one_parameter_fail_loudly():
    state = build_model("r18", 6, n=1).state_dict()
    state["module.base_model.layer1.0.conv1.net.weight"] = state["layer1.0.conv1.weight"]
    with pytest.raises(PretrainedError, match="both map to layer1.0.conv1.weight"):
        build_model("r18", 6, n=1, pretrained=state)


# -- the ARC authors' checkpoints (0HaNC/ARC-ActionRecog, archs/ARC.py, their TSM fork's wrappers) ----------------


def _authors_naming(model):
    """`model`'s state dict as the authors' code names it: TSN wrapper (`module.base_model.`, `new_fc`), TSM's
    shift wrapper on a shifted block's `conv1` (`.net`), and each ARC layer as per-part `layer.<i>.block.{0,1}`
    conv and BN plus `channel_interacter.Weight_mat{1,0,_attend}` (maps side by side, as 1x1 conv weights)."""
    arc_layers = {name: m for name, m in model.named_modules() if isinstance(m, ARCConv2d)}
    shifted = {name.rsplit(".", 1)[0] for name, m in model.named_modules() if isinstance(m, TemporalShift)}
    out = {}

    def wrapped(name):  # layer2.0.conv1 -> module.base_model.layer2.0.conv1.net when the block shifts
        block, leaf = name.rsplit(".", 1)
        return f"module.base_model.{name}" + (".net" if leaf == "conv1" and block in shifted else "")

    for name, layer in arc_layers.items():
        c = layer.out_channels // layer.n
        for i in range(layer.n):
            part = slice(i * c, (i + 1) * c)
            out[f"{wrapped(name)}.layer.{i}.block.0.weight"] = layer.weight[part].detach().clone()
            for stat in ("weight", "bias", "running_mean", "running_var"):
                out[f"{wrapped(name)}.layer.{i}.block.1.{stat}"] = getattr(layer.norm, stat)[part].detach().clone()
            out[f"{wrapped(name)}.layer.{i}.block.1.num_batches_tracked"] = layer.norm.num_batches_tracked.clone()
        side_by_side = lambda maps: torch.cat(list(maps), dim=1)[:, :, None, None].detach().clone()
        out[f"{wrapped(name)}.channel_interacter.Weight_mat1"] = layer.embed[:, :, None, None].detach().clone()
        out[f"{wrapped(name)}.channel_interacter.Weight_mat0"] = side_by_side(layer.fuse)
        out[f"{wrapped(name)}.channel_interacter.Weight_mat_attend"] = side_by_side(layer.attend)
    for key, value in model.state_dict().items():
        owner, leaf = key.rsplit(".", 1)
        if any(key.startswith(name + ".") for name in arc_layers):
            continue
        if key.startswith("fc."):
            out[f"module.new_fc.{leaf}"] = value.clone()
        elif owner.endswith("conv1") and owner.rsplit(".", 1)[0] in shifted:
            out[f"{wrapped(owner)}.{leaf}"] = value.clone()
        else:
            out[f"module.base_model.{key}"] = value.clone()
    return out


def test_authors_arc_checkpoint_loads_and_recovers_the_model_exactly():
    torch.manual_seed(0)
    kwargs = dict(num_segments=4, n=4, pool="mean", aru_act="leaky_relu")  # their released variant
    model = build_model("r18", 6, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)
    state = _authors_naming(model)
    assert "module.base_model.layer3.1.conv1.net.channel_interacter.Weight_mat_attend" in state
    assert "module.base_model.layer3.1.conv2.layer.3.block.1.running_var" in state
    again = build_model("r18", 6, pretrained=state, **kwargs)
    assert again.load_report.new == [] and again.load_report.skipped == []
    expected = model.state_dict()
    for key, value in again.state_dict().items():
        assert torch.equal(value, expected[key]), key


def _authors_layer(state, x, n, T, stride):
    """The authors' ARC layer, variant PWI2_STPool_CAttendByAdd_outReLU_leaky11, written from their formulas and
    reading only their parameter names: per part a conv→BN(eval)→ReLU; before part i the interacter takes the
    parts so far (resized to the input's size), keeps running sums of Weight_mat_attend on their temporal-mean +
    spatial-mean and of Weight_mat0 on them, and returns act(act(x + Weight_mat1 x + attend) + fuse)."""
    act = lambda t: F.leaky_relu(t, 0.01)

    def part(i, z):
        bn = lambda name: state[f"layer.{i}.block.1.{name}"]
        y = F.conv2d(z, state[f"layer.{i}.block.0.weight"], stride=stride, padding=1)
        return F.relu(F.batch_norm(y, bn("running_mean"), bn("running_var"), bn("weight"), bn("bias"), False))

    w_embed, w_fuse, w_attend = (state[f"channel_interacter.Weight_mat{k}"] for k in ("1", "0", "_attend"))
    out = part(0, x)
    embedded, attended, fused, start = F.conv2d(x, w_embed), 0, 0, 0
    for i in range(1, n):
        sofar = F.interpolate(out, size=x.shape[-2:], mode="nearest")
        stop = sofar.shape[1]
        newest = sofar[:, start:stop]
        clips = newest.view(-1, T, *newest.shape[1:])
        pooled = (clips.mean(1, keepdim=True) + clips.mean((-1, -2), keepdim=True)).view(newest.shape)
        attended = attended + F.conv2d(pooled, w_attend[:, start:stop])
        fused = fused + F.conv2d(newest, w_fuse[:, start:stop])
        out = torch.cat([out, part(i, act(act(x + embedded + attended) + fused))], dim=1)
        start = stop
    return out


@pytest.mark.parametrize("stride, size", [(1, 6), (2, 7)])
def test_authors_layer_keys_give_the_layer_their_code_computes(stride, size):
    torch.manual_seed(0)
    n, T, cin, cout = 4, 3, 8, 12
    c = cout // n
    state = {"channel_interacter.Weight_mat1": torch.randn(cin, cin, 1, 1) / 4,
             "channel_interacter.Weight_mat0": torch.randn(cin, (n - 1) * c, 1, 1) / 4,
             "channel_interacter.Weight_mat_attend": torch.randn(cin, (n - 1) * c, 1, 1) / 4}
    for i in range(n):
        state[f"layer.{i}.block.0.weight"] = torch.randn(c, cin, 3, 3) / 6
        state[f"layer.{i}.block.1.weight"] = torch.rand(c) + 0.5
        state[f"layer.{i}.block.1.bias"] = torch.randn(c) / 5
        state[f"layer.{i}.block.1.running_mean"] = torch.randn(c) / 5
        state[f"layer.{i}.block.1.running_var"] = torch.rand(c) + 0.5
        state[f"layer.{i}.block.1.num_batches_tracked"] = torch.tensor(3)
    layer = ARCConv2d(cin, cout, 3, stride, 1, bias=False, n=n, num_segments=T, norm=nn.BatchNorm2d(cout),
                      act=nn.ReLU(), pool="mean", aru_act="leaky_relu").eval()
    layer.load_state_dict(from_authors_arc(state))  # strict: every parameter comes from their keys
    x = torch.rand(2 * T, cin, size, size)
    torch.testing.assert_close(layer(x), _authors_layer(state, x, n, T, stride), rtol=1e-5, atol=1e-5)


def test_authors_layers_that_arc_conv2d_cannot_hold_are_refused():
    unequal = {"layer.0.block.0.weight": torch.zeros(4, 8, 3, 3), "layer.1.block.0.weight": torch.zeros(8, 8, 3, 3)}
    with pytest.raises(PretrainedError, match="parts of \\[4, 8\\] channels"):
        from_authors_arc(unequal)
    with pytest.raises(PretrainedError, match="parts \\[0, 2\\], expected 0..2"):
        from_authors_arc({"x.layer.0.block.0.weight": torch.zeros(4, 8, 3, 3),
                          "x.layer.2.block.0.weight": torch.zeros(4, 8, 3, 3)})


def imagenet_cache(tmp_path, monkeypatch, state) -> tuple[Path, str]:
    """A torch hub cache in `tmp_path` (TORCH_HOME) holding `state` as r18's ImageNet file, named as torchvision names
    its files (`resnet18-<first 8 hex digits of its SHA-256>.pth`); the URL the code is made to see that name in."""
    import hashlib
    import io
    from types import SimpleNamespace

    import arc.nn.weights as weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    url = f"https://download.pytorch.org/models/resnet18-{hashlib.sha256(buffer.getvalue()).hexdigest()[:8]}.pth"
    monkeypatch.setattr(weights, "imagenet_weights", lambda backbone: SimpleNamespace(url=url))
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(buffer.getvalue())
    return path, url


def test_imagenet_weights_come_from_the_torch_hub_cache_checked_against_the_hash_in_their_name(tmp_path, monkeypatch):
    resnet = source_model(torchvision.models.resnet18, 4)
    path, _ = imagenet_cache(tmp_path, monkeypatch, resnet.state_dict())
    model = build_model("r18", 6)
    report = load_pretrained(model, "imagenet", download=False)
    assert "ImageNet" in report.source and "classifier" in str(report)
    assert_holds_every_tensor(model, resnet.state_dict(), skipped=("fc.weight", "fc.bias"))
    data = bytearray(path.read_bytes())     # one byte changed
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(PretrainedError) as e:
        load_pretrained(model, "imagenet", download=False)
    assert f"at {path} are not torchvision's: their SHA-256 starts with " in str(e.value)
    assert f"the file name says {path.name[9:17]}" in str(e.value) and "\n" not in str(e.value)


def test_a_cached_imagenet_file_that_needs_trusting_is_refused_in_one_line(tmp_path, monkeypatch):
    imagenet_cache(tmp_path, monkeypatch, {"conv1.weight": torch.zeros(1), "meta": np.float64(1.0)})
    with pytest.raises(PretrainedError, match="holds a numpy.* object"):
        load_pretrained(build_model("r18", 6), "imagenet", download=False)


def test_a_cache_miss_says_where_to_put_the_file_and_never_downloads_unchecked(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = imagenet_weights("r18").url
    where = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    with pytest.raises(PretrainedError) as e:
        load_pretrained(build_model("r18", 6), "imagenet", download=False)
    assert str(e.value) == (f"ImageNet weights for r18 are not cached at {where}. Fetch {url} (on a machine with "
                            f"network access) and put it at {where} (or set TORCH_HOME), or pass --pretrained PATH.")
    asked = []

    def offline(u, dst, hash_prefix=None, progress=True):
        asked.append((u, dst, hash_prefix))
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(PretrainedError, match=rf"not cached at {where} and could not be downloaded \(URLError: "
                                              rf".*no network.*\)\. Fetch {url}"):
        load_pretrained(build_model("r18", 6), "imagenet")
    assert asked == [(url, str(where), "f37072fd")]      # the download checks torchvision's hash


def test_a_file_that_is_not_a_torch_checkpoint_is_one_line(tmp_path):
    for name, content, says in (("notatorch.pt", b"epochs 50, lr 0.01\n", "it is a text file"),
                                ("weights.bin", b"\x00\x01binary", "it is a file that starts with"),
                                ("cut.pt", None, "not a torch file, or a damaged one")):
        path = tmp_path / name
        if content is None:
            torch.save({"w": torch.zeros(1000)}, path)
            path.write_bytes(path.read_bytes()[:300])
        else:
            path.write_bytes(content)
        with pytest.raises(PretrainedError) as e:
            build_model("r18", 6, pretrained=str(path))
        assert str(e.value).startswith(f"pretrained weights {path}: ") and says in str(e.value), str(e.value)
        assert "\n" not in str(e.value)
