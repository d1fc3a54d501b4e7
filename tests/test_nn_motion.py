"""The MotionSqueeze module (MSNet; docs/models.md, "Other hosts"): correlation, displacement, layout, size, and
the MSN / ARC-MSN models built on it."""

import re

import pytest
import torch
from torch import nn

from arc import MotionSqueeze, build_model
from arc.nn.motion import correlation, l2_normalise, soft_argmax_flow
from arc.nn.weights import PretrainedError


def _direct_correlation(f1, f2, radius):
    """One dot product per position and displacement, with the bounds written out."""
    B, C, H, W = f1.shape
    P = 2 * radius + 1
    out = torch.zeros(B, P * P, H, W, dtype=f1.dtype)
    for dy in range(P):
        for dx in range(P):
            for y in range(H):
                for x in range(W):
                    ty, tx = y + dy - radius, x + dx - radius
                    if 0 <= ty < H and 0 <= tx < W:
                        out[:, dy * P + dx, y, x] = (f1[:, :, y, x] * f2[:, :, ty, tx]).sum(dim=1)
    return out


@pytest.mark.parametrize("method", ["pairs", "shifts"])
@pytest.mark.parametrize("radius, size", [(7, (5, 6)), (2, (7, 4))])
def test_correlation_equals_a_direct_loop_over_displacements(method, radius, size):
    torch.manual_seed(0)
    f1, f2 = torch.randn(2, 3, *size, dtype=torch.float64), torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(correlation(f1, f2, radius, method), _direct_correlation(f1, f2, radius))


def test_displacement_of_a_shifted_pattern_is_recovered():
    torch.manual_seed(0)
    frame = torch.randn(1, 64, 16, 16)
    moved = torch.roll(frame, shifts=(2, 3), dims=(2, 3))  # content moved 2 down, 3 right
    corr = torch.relu(correlation(l2_normalise(frame), l2_normalise(moved)))
    u, v, confidence = soft_argmax_flow(corr)
    where = (slice(None), 0, slice(0, 14), slice(0, 13))  # positions whose content stays inside the frame
    torch.testing.assert_close(u[where], torch.full_like(u[where], 3 / 7), rtol=0, atol=1e-4)
    torch.testing.assert_close(v[where], torch.full_like(v[where], 2 / 7), rtol=0, atol=1e-4)
    torch.testing.assert_close(confidence[where], torch.ones_like(confidence[where]), rtol=0, atol=1e-4)
    assert u.abs().max() <= 1 + 1e-6 and v.abs().max() <= 1 + 1e-6


def test_motion_of_the_last_frame_repeats_the_last_pair():
    torch.manual_seed(0)
    ms = MotionSqueeze(16, num_segments=4).eval()
    x = torch.rand(2 * 4, 16, 6, 6)
    motion = ms.motion(x).view(2, 4, 3, 6, 6)
    torch.testing.assert_close(motion[:, 3], motion[:, 2], rtol=0, atol=0)
    assert not torch.equal(motion[:, 1], motion[:, 2])
    # pair (t, t+1) alone gives frame t's motion
    alone = MotionSqueeze(16, num_segments=2).eval()
    alone.load_state_dict(ms.state_dict())
    torch.testing.assert_close(alone.motion(x.view(2, 4, 16, 6, 6)[:, 1:3].flatten(0, 1)).view(2, 2, 3, 6, 6)[:, 0],
                               motion[:, 1])


@pytest.mark.parametrize("channels, params", [(128, 20_985), (512, 70_905)])
def test_module_parameter_counts_match_msnet(channels, params):
    with torch.device("meta"):
        ms = MotionSqueeze(channels)
    assert sum(p.numel() for p in ms.parameters()) == params


def test_init_and_layout_follow_msnet():
    torch.manual_seed(0)
    ms = MotionSqueeze(128)
    kernels = [m.kernel_size[0] for m in ms.transform.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    widths = [m.out_channels for m in ms.transform.modules() if isinstance(m, nn.Conv2d) and m.groups == 1]
    assert kernels == [7, 3, 3, 3] and widths == [16, 32, 64, 128]
    assert all(m.bias is None for m in ms.modules() if isinstance(m, nn.Conv2d))
    pointwise = ms.transform[3][3].weight  # 64 -> 128, fan_out = 128: std sqrt(2 / 128)
    assert abs(pointwise.std().item() - (2 / 128) ** 0.5) < 0.01


def test_correlation_and_soft_argmax_run_in_float32_under_autocast(monkeypatch):
    import arc.nn.motion as motion_module

    seen = []
    for name in ("correlation", "soft_argmax_flow"):
        original = getattr(motion_module, name)

        def recording(*args, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            seen.extend(t.dtype for t in (out if isinstance(out, tuple) else (out,)))
            return out

        monkeypatch.setattr(motion_module, name, recording)
    ms = MotionSqueeze(16, num_segments=2, method="pairs")
    x = torch.rand(2, 16, 5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.bmm(x[:, :2, 0], x[:, :2, 0].transpose(1, 2)).dtype == torch.bfloat16  # autocast is on
        out = ms(x)
    assert seen == [torch.float32] * 4 and out.shape == x.shape


def test_msn_models_place_the_module_after_res3_and_load_backbone_weights():
    torch.manual_seed(0)
    tsm = build_model("r18", 5, num_segments=4, n=1)
    msn = build_model("r18", 5, num_segments=4, n=1, motion="ms", pretrained=tsm.state_dict())
    assert isinstance(msn.motion, MotionSqueeze) and msn.motion.channels == 128
    assert msn.load_report.new and all(k.startswith("motion.") for k in msn.load_report.new)
    assert "MotionSqueeze" in str(msn.load_report)
    arc_msn = build_model("r18", 5, num_segments=4, n=4, motion="ms", pretrained=msn.state_dict())
    assert {k.rsplit(".", 1)[1] for k in arc_msn.load_report.new} == {"embed", "fuse", "attend"}
    torch.testing.assert_close(arc_msn.motion.transform[0][0].weight, msn.motion.transform[0][0].weight)
    x = torch.rand(2, 4, 3, 32, 32)
    msn.eval(), arc_msn.eval()
    torch.testing.assert_close(arc_msn(x), msn(x))  # zero ARU init: ARC-MSN = MSN
    seen = []
    msn.motion.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    msn(x)
    assert seen == [torch.Size([8, 128, 4, 4])]  # res3's output: stride 8
    with pytest.raises(ValueError, match="motion must be one of none, ms"):
        build_model("r18", 5, motion="flow")
    with torch.device("meta"):
        assert build_model("r50", 5, motion="ms").motion.channels == 512


def test_overhead_shows_msn_and_arc_msn_beside_table7_and_the_params_gap(monkeypatch):
    from click.testing import CliRunner

    from arc import overhead as oh
    from arc.cli.main import cli

    report = oh.motion_report("r18")
    assert report["module"]["params"] == 20_985 == report["msn"]["params"] - report["tsm"]["params"]
    assert report["module"]["correlation_flops"] == 15 * 15 * 64 * 28 * 28 * 7
    assert report["module"]["flops"] > report["module"]["correlation_flops"]
    assert report["paper"] == {"msn": {"top1": 46.2, "gflops": 15, "mparams": 11.6},
                               "arc_msn": {"top1": 49.5, "gflops": 18, "mparams": 14.5}}
    assert round(report["msn"]["params"] / 1e6, 2) == 11.29 and report["arc_msn"]["flops"] > report["msn"]["flops"]
    monkeypatch.setattr(oh, "motion_report", lambda *args, **kwargs: report)  # the table prints this report
    out = CliRunner().invoke(cli, ["overhead", "--model", "r18", "--motion", "ms"]).output
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert f"{report['msn']['flops'] / 1e9:.3f}" in rows["MSN"] and "46.2" in rows["MSN"]
    assert "49.5" in rows["ARC-MSN (n=4)"] and "14.5" in rows["ARC-MSN (n=4)"]
    assert "20,985 parameters" in out and "The paper's 11.6 M does not follow from the module" in out
    stray = CliRunner().invoke(cli, ["overhead", "--motion", "ms"])
    assert stray.exit_code == 2 and "--motion: valid only with --model" in stray.output


def test_msnet_checkpoint_loads_into_msn_exactly():
    torch.manual_seed(0)
    msn = build_model("r18", 5, num_segments=4, n=1, motion="ms")
    with torch.no_grad():
        for p in msn.parameters():
            p.normal_()
    state = {}  # MSNet's naming: TSN wrapper, chnl_reduction, flow_refinement.convK, a Conv1d classifier
    for key, value in msn.state_dict().items():
        key = key.replace("motion.reduce.", "chnl_reduction.")
        key = re.sub(r"motion\.transform\.(\d)\.", lambda m: f"flow_refinement.conv{int(m[1]) + 1}.", key)
        if key.startswith("fc."):
            state["module.new_fc." + key[3:]] = value[..., None] if key == "fc.weight" else value
        else:
            state["module.base_model." + key] = value
    state |= {f"module.base_model.bn2.{k}": v for k, v in nn.BatchNorm2d(128).state_dict().items()}  # never used
    again = build_model("r18", 5, num_segments=4, n=1, motion="ms", pretrained=state)
    assert again.load_report.new == [] and any("bn2" in s for s in again.load_report.skipped)
    for key, value in msn.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    with pytest.raises(PretrainedError, match="build the model with motion='ms'"):
        build_model("r18", 5, n=1, pretrained=state)
