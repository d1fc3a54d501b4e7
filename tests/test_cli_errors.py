"""`arc train` / `arc eval` / `arc predict`: bad options and bad files give a one-line error and exit code 2."""

import re

import pytest
import torch
from click.testing import CliRunner

from arc.cli.main import cli


class Foreign:
    pass


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    return result, errors


@pytest.mark.parametrize("args, says", [
    (["train", "--frames", "0"], "--frames"),
    (["train", "--dataset", "ucf101"], "--dataset"),
    (["train", "--amp", "fp8"], "--amp"),
    (["train", "--stages", "res3,res9"], "res9"),
    (["train", "--dataset", "list"], "--train-list and --val-list"),
    (["train", "--device", "foo"], "--device 'foo': expected auto, cpu, cuda or cuda:N"),
    (["train", "--seed", "-5"], "--seed"),
    (["train", "--milestones", "5,2", "--dataset", "ssv1"], "--milestones 5,2: expected increasing epochs"),
    (["train", "--save-every", "often"], "--save-every 'often'"),
    (["train", "--max-bad-fraction", "2"], "--max-bad-fraction"),
    (["train", "--dropout", "1"], "--dropout"),
    (["train", "--milestones", "30,forty"], "--milestones"),
    (["eval"], "--checkpoint"),
    (["eval", "--checkpoint", "x.pt", "--crops", "2"], "--crops"),
])
def test_bad_options_give_one_error_line_and_exit_2(args, says):
    result, errors = run(*args)
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and says in errors[0]
    assert result.output.strip() == errors[0]       # nothing but that line: no usage banner, no traceback


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_training_on_cuda_without_a_gpu_is_one_error_line():
    result, errors = run("train", "--device", "cuda")
    assert result.exit_code == 2 and errors == ["Error: --device cuda: CUDA is not available on this machine "
                                                "(torch sees no GPU)"]


def test_foreign_pickle_checkpoint_is_refused_by_every_command(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": Foreign()}, evil)
    video = tmp_path / "frames"
    video.mkdir()
    for args in (["train", "--resume", evil], ["eval", "--checkpoint", evil],
                 ["predict", video, "--checkpoint", evil]):
        result, errors = run(*args)
        assert result.exit_code == 2, result.output
        assert len(errors) == 1 and "refusing to load" in errors[0] and "Foreign" in errors[0]


class RunsCode:
    """Unpickled, this runs `touch <marker>` (what a hostile checkpoint would do with worse commands)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.filterwarnings("error:Detected pickle protocol")   # torch's two lines would be printed before ours
def test_a_checkpoint_that_would_run_code_runs_none_in_any_command(tmp_path):
    import pickle

    from arc.nn.models import build_model
    from arc.nn.weights import PretrainedError

    marker = tmp_path / "ran"
    payload = RunsCode(marker)
    files = {"zip": tmp_path / "zip.pt", "legacy": tmp_path / "legacy.pt", "top-level": tmp_path / "top.pt",
             "raw pickle": tmp_path / "raw.pkl"}
    torch.save({"model": {}, "x": payload}, files["zip"])
    torch.save({"model": {}, "x": payload}, files["legacy"], _use_new_zipfile_serialization=False)
    torch.save(payload, files["top-level"])
    files["raw pickle"].write_bytes(pickle.dumps({"model": {}, "x": payload}, protocol=2))
    files["raw pickle 5"] = tmp_path / "raw5.pkl"     # torch warns of the protocol, then refuses the file unread
    files["raw pickle 5"].write_bytes(pickle.dumps({"model": {}, "x": payload}, protocol=5))
    video = tmp_path / "frames"
    video.mkdir()
    for kind, path in files.items():
        for args in (["train", "--resume", path], ["eval", "--checkpoint", path],
                     ["predict", video, "--checkpoint", path], ["export", "--checkpoint", path, "--out",
                                                                 tmp_path / "m.onnx"],
                     *(["viz", figure, "--checkpoint", path, "--out", tmp_path / "f.png"]
                       for figure in ("attention", "states", "cam", "confusion"))):
            result, errors = run(*args)
            where = f"{kind}: arc {' '.join(map(str, args[:2]))}"
            assert result.exit_code == 2, f"{where}: {result.output}"
            assert result.output.splitlines() == errors and len(errors) == 1, f"{where}: {result.output}"
            named = "posix.system" if kind != "raw pickle 5" else "not a PyTorch checkpoint"
            assert named in errors[0], f"{where}: {errors[0]}"
        named = "posix\\.system" if kind != "raw pickle 5" else "not a torch file"
        with pytest.raises(PretrainedError, match=rf"pretrained weights {path}: .*{named}"):   # --pretrained
            build_model("r18", 3, pretrained=str(path))
    assert not marker.exists()
    left = ["frames", "legacy.pt", "raw.pkl", "raw5.pkl", "top.pt", "zip.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == left


def test_missing_checkpoint_and_video_are_named(tmp_path):
    result, errors = run("eval", "--checkpoint", tmp_path / "none.pt")
    assert result.exit_code == 2 and "none.pt" in errors[0] and "does not exist" in errors[0]
    result, errors = run("predict", tmp_path / "clip.mp4", "--checkpoint", tmp_path / "none.pt")
    assert result.exit_code == 2 and "none.pt" in errors[0]    # a missing video: one line of its own, test_evaluation


def test_train_help_lists_the_options_of_the_issue():
    result, _ = run("train", "--help")
    # the names that start an entry of the Options section (a substring test would find "--n" in "--no-shift")
    entries = re.findall(r"^ {2}(?:-\w, )?(--[a-z][a-z-]*)(?: / (--[a-z][a-z-]*))?", result.output.split("Options:")[1],
                         re.MULTILINE)
    listed = {name for entry in entries for name in entry if name}
    for option in ("--dataset", "--data-root", "--train-list", "--val-list", "--backbone", "--n", "--stages",
                   "--frames", "--epochs", "--batch-size", "--lr", "--wd", "--dropout", "--clip-grad", "--workers",
                   "--pretrained", "--out", "--resume", "--save-every", "--seed", "--deterministic", "--device",
                   "--amp", "--channels-last", "--compile", "--max-bad-fraction", "--input-size", "--no-shift"):
        assert option in listed, option
    assert "[ssv1|diving48|diving48-v1|k400|list|synthetic|synthetic-fine]" in result.output


def bad_checkpoints(tmp_path):
    """(name, path, what the message must say): arc's own checkpoint without its 'config', a text file, a folder,
    an empty file."""
    from arc.nn.models import build_model
    from arc.training import checkpoint as ckpt

    model = build_model("r18", 3, num_segments=2, n=1, stages="none")
    no_config = ckpt.save({"model": model.state_dict(), "model_config": model.config, "classes": ["a", "b", "c"],
                           "epoch": 1}, tmp_path / "no-config.pt")
    text = tmp_path / "notes.pt"
    text.write_text("lr 0.01, 50 epochs\n")
    folder = tmp_path / "run"
    folder.mkdir()
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    return [("no config", no_config, "has no 'config'"), ("text", text, "not a PyTorch checkpoint"),
            ("folder", folder, "folder"), ("empty", empty, "empty")]


def test_bad_checkpoint_files_give_one_line_naming_file_and_expectation_in_every_command(tmp_path):
    video = tmp_path / "frames"
    video.mkdir()
    for name, path, says in bad_checkpoints(tmp_path):
        for args in (["eval", "--checkpoint", path], ["predict", video, "--checkpoint", path],
                     ["export", "--checkpoint", path, "--out", tmp_path / "m.onnx"], ["train", "--resume", path]):
            result, errors = run(*args)
            where = f"{name}: arc {args[0]}"
            assert result.exit_code == 2, f"{where}: {result.output}"
            assert len(result.output.splitlines()) == 1 and len(errors) == 1, f"{where}: {result.output}"
            assert str(path) in errors[0] and "Traceback" not in result.output, f"{where}: {result.output}"
            if args[0] != "train" or name != "folder":    # train's --resume is a click file option: click says it
                assert says in errors[0], f"{where}: {errors[0]}"
                assert "arbitrary code" not in errors[0]


def crafted_checkpoint(path, model_config=None, config=None, classes=("a", "b", "c")):
    """A checkpoint in arc's layout whose `model_config` / `config` say what a stranger's file may say (its weights do
    not matter: they are never reached)."""
    from arc.training import checkpoint as ckpt

    mc = {"backbone": "r18", "num_classes": 3, "num_segments": 2, "n": 1, "stages": [], "dropout": 0.5,
          "pool": "max", "aru_act": "relu", "shift": True, "motion": "none", **(model_config or {})}
    cfg = {"dataset": "synthetic", "num_segments": 2, "input_size": 32, "test_clips": 1, **(config or {})}
    return ckpt.save({"model": {}, "model_config": mc, "config": cfg, "classes": list(classes)}, path)


@pytest.mark.parametrize("model_config, config, classes, says", [
    ({"pretrained": "imagenet"}, {}, "abc", "its model_config has unknown key(s) 'pretrained'; build_model takes "
                                            "backbone, num_classes, num_segments, n, stages, dropout, pool"),
    ({"num_classes": 10**7}, {}, "abc", "its model_config describes a model of 5,141,176,512 parameters, more than "
                                        "the 200,000,000 of arc.training.checkpoint.MAX_PARAMETERS"),
    ({"num_classes": "3"}, {}, "abc", "its model_config: num_classes is '3', expected int"),
    ({"n": 3, "stages": ["res3"]}, {}, "abc", "its model_config does not describe a model: ARCConv2d: "
                                              "out_channels=128 is not divisible by n=3"),
    ({"num_segments": 10**9}, {}, "abc", "its model_config: num_segments 1000000000 is above 256"),
    ({}, {}, "ab", "its classes are not 3 names"),
    ({}, {"input_size": 10**6}, "abc", "its config's input_size is 1000000, expected an integer from 16 to 1024"),
    ({}, {"dataset": "../../etc"}, "abc", "its config's dataset '../../etc' is not one of"),
])
def test_a_checkpoints_model_config_is_checked_before_a_model_is_built_by_every_command(
        tmp_path, monkeypatch, model_config, config, classes, says):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("a command touched the network because a checkpoint said so")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    path = crafted_checkpoint(tmp_path / "crafted.pt", model_config, config, classes)
    video = tmp_path / "frames"
    video.mkdir()
    for args in (["eval", "--checkpoint", path, "--out", tmp_path / "eval"], ["predict", video, "--checkpoint", path],
                 ["export", "--checkpoint", path, "--format", "torchscript", "--out", tmp_path / "m.pt"],
                 ["viz", "cam", "--checkpoint", path, "--video", video, "--out", tmp_path / "cam.png"]):
        result, errors = run(*args)
        assert result.exit_code == 2, f"arc {args[0]}: {result.output}"
        assert result.output.splitlines() == errors and len(errors) == 1, f"arc {args[0]}: {result.output}"
        assert f"{path}: {says}" in errors[0], errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.pt", "frames"]
