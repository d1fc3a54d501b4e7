"""Real training runs on the CPU on tiny synthetic data (SSv1 layout, real JPEG folders and CSVs written by
`arc.data.synth`): learning, evaluation, prediction, kill-and-resume, torchrun with two processes, corrupt videos,
a diverging loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from arc.cli.main import cli
from arc.data.synth import write_synthetic
from arc.training import checkpoint as ckpt
from arc.training.config import TrainConfig, flag
from arc.training.loop import TrainingStopped, train

ROOT = Path(__file__).resolve().parents[1]
# small and fast: r18 with ARC (n=2) in res4,res5, 4 frames of 32×32
TINY = dict(backbone="r18", n=2, stages="res4,res5", num_segments=4, input_size=32, workers=0, pretrained="none",
            log_every=1, threads=1)
EPOCHS = 8


def env(threads: int = 1) -> dict:
    e = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def arc_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "arc", *[str(a) for a in args]]


def cli_args(data: Path, out: Path, **options) -> list[str]:
    opts = {**TINY, "data_root": data, "out": out, **options}
    args = ["train", "--dataset", "synthetic"]
    for k, v in opts.items():
        args += [flag(k)] if v is True else [flag(k), str(v)]
    return args


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """5 classes × 4 training / 2 validation videos of 8–10 frames at 36×48."""
    return write_synthetic(tmp_path_factory.mktemp("data") / "synth", seed=1, train_per_class=4, val_per_class=2,
                           frames=(8, 10), size=(36, 48))


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> Path:
    """A short real training run of TSM-R18 (4 frames) on 400 synthetic videos with the synthetic recipe (32×32,
    batch 16, lr 0.003, cosine), about 35 s; returns its output folder."""
    data = write_synthetic(tmp_path_factory.mktemp("data") / "synth", seed=0, train_per_class=80, val_per_class=12,
                           frames=(8, 10), size=(36, 48))
    out = tmp_path_factory.mktemp("learned")
    train(TrainConfig(dataset="synthetic", data_root=str(data), out=str(out), backbone="r18", n=1, num_segments=4,
                      epochs=EPOCHS, workers=1, log_every=100, threads=1))
    return out


@pytest.mark.slow
def test_short_cpu_training_run_beats_chance_on_synthetic_val(learned):
    rows = [json.loads(line) for line in (learned / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert set(rows[0]) >= {"epoch", "train_loss", "val_loss", "val_top1", "val_top5", "lr", "seconds"}
    best = max(r["val_top1"] for r in rows)
    assert best >= 0.5, rows  # chance is 0.2 (5 classes, 60 videos)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    state = ckpt.load(learned / "best.pt")
    assert state["best_top1"] == best and state["epoch"] == 1 + [r["val_top1"] for r in rows].index(best)


@pytest.mark.slow
def test_the_run_writes_tensorboard_curves_equal_to_its_metrics_and_a_confusion_image_per_epoch(learned):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(learned / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    rows = [json.loads(line) for line in (learned / "metrics.jsonl").read_text().splitlines()]
    top1 = [(e.step, e.value) for e in events.Scalars("epoch/val_top1")]
    assert top1 == [(r["epoch"], pytest.approx(r["val_top1"])) for r in rows]
    steps = events.Scalars("step/loss")
    assert len(steps) >= EPOCHS and steps[-1].step == 25 * EPOCHS   # 400 clips / batch 16 per epoch
    assert all(e.value > 0 for e in steps) and all(e.value > 0 for e in events.Scalars("step/clips_per_s"))
    assert [e.step for e in events.Images("val/confusion")] == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_eval_json_has_the_documented_keys_and_fractions(learned, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(learned / "best.pt"), "--json", "--clips", "2",
                                      "--out", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert set(r) == {"num_classes", "top1", "top5", "mean_class_acc", "clips", "crops", "videos"}
    assert (r["num_classes"], r["clips"], r["crops"], r["videos"]) == (5, 2, 1, 60)
    assert 0.2 < r["top1"] <= r["top5"] <= 1 and 0 <= r["mean_class_acc"] <= 1
    assert (tmp_path / "best-val-confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    conf = __import__("numpy").load(tmp_path / "best-val-confusion.npy")
    assert conf.shape == (5, 5) and conf.sum() == 60 and conf.trace() / 60 == pytest.approx(r["top1"])
    lines = (tmp_path / "best-val-per_class.csv").read_text().splitlines()
    assert lines[0] == "index,name,videos,correct,accuracy" and len(lines) == 6
    per_class = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert sum(per_class) / 5 == pytest.approx(r["mean_class_acc"], abs=1e-5)


@pytest.mark.slow
def test_predict_prints_five_class_names_best_first(learned):
    state = ckpt.load(learned / "best.pt")
    data = Path(state["config"]["data_root"])
    vid, label = (data / "something-something-v1-validation.csv").read_text().splitlines()[0].split(";")
    result = CliRunner().invoke(cli, ["predict", str(data / "20bn-something-something-v1" / vid),
                                      "--checkpoint", str(learned / "best.pt")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    probs = [float(line.split("%")[0].split()[1]) for line in lines]
    names = [line.split("%", 1)[1].strip() for line in lines]
    assert len(lines) == 5 and sorted(names) == sorted(state["classes"])
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(100, abs=0.1)


RESUMABLE = dict(epochs=2, batch_size=4, deterministic=True, seed=3)


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory) -> Path:
    """The 2-epoch deterministic run that interrupted and resumed runs must reproduce exactly."""
    full = tmp_path_factory.mktemp("full")
    subprocess.run(arc_cmd(*cli_args(tiny, full, **RESUMABLE)), check=True, env=env(), capture_output=True,
                   cwd=ROOT, timeout=300)
    return full


def assert_same_run(full: Path, cut: Path) -> None:
    a, b = ckpt.load(full / "last.pt"), ckpt.load(cut / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (a["step"], a["epoch"]) == (b["step"], b["epoch"]) == (10, 2)
    rows = [[{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in
             (d / "metrics.jsonl").read_text().splitlines()] for d in (full, cut)]
    assert rows[0] == rows[1] and len(rows[0]) == 2


def start_and_signal_mid_epoch_2(tiny: Path, cut: Path, signum: int, **options) -> subprocess.Popen:
    proc = subprocess.Popen(arc_cmd(*cli_args(tiny, cut, **RESUMABLE, **options)), env=env(), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:
        if line.startswith("epoch 2/2 step 2/5"):    # 20 videos / batch 4 = 5 steps per epoch
            proc.send_signal(signum)
            break
    return proc


@pytest.mark.slow
def test_run_killed_mid_epoch_and_resumed_matches_uninterrupted_run(tiny, uninterrupted, tmp_path):
    cut = tmp_path / "cut"
    proc = start_and_signal_mid_epoch_2(tiny, cut, signal.SIGKILL, save_every=3)  # last.pt at steps 3, 5, 6, …
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = ckpt.load(cut / "last.pt")
    assert saved["epoch"] == 1 and 0 < saved["batch_in_epoch"] < 5  # killed mid-epoch
    assert len((cut / "metrics.jsonl").read_text().splitlines()) == 1
    subprocess.run(arc_cmd("train", "--resume", cut / "last.pt"), check=True, env=env(), capture_output=True,
                   cwd=ROOT, timeout=300)
    assert_same_run(uninterrupted, cut)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_at_the_exact_batch_says_how_to_resume_and_the_resumed_run_is_exact(tiny, uninterrupted,
                                                                                              tmp_path, signum, code):
    cut = tmp_path / "cut"
    proc = start_and_signal_mid_epoch_2(tiny, cut, signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    saved = ckpt.load(cut / "last.pt")
    batch = saved["batch_in_epoch"]
    assert saved["epoch"] == 1 and 3 <= batch < 5      # the step under way finished, then it saved
    name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
    assert f"stopped by {name} at epoch 2, batch {batch} of 5 (step {5 + batch})" in err
    assert f"Resume with: arc train --resume {cut / 'last.pt'}" in err and "Traceback" not in err
    subprocess.run(arc_cmd("train", "--resume", cut / "last.pt"), check=True, env=env(), capture_output=True,
                   cwd=ROOT, timeout=300)
    assert_same_run(uninterrupted, cut)


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_and_write_one_set_of_outputs(tiny, tmp_path):
    out = tmp_path / "ddp"
    # `--` ends torchrun's options: without it torchrun's argparse takes `--n` for an abbreviation of its own
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "--",
           "arc", *cli_args(tiny, out, epochs=1, batch_size=4, device="cpu")]
    done = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "global batch 4 on 2 × cpu" in done.stdout
    assert {p.name for p in out.iterdir()} - {".lock", "tb"} == {"best.pt", "config.json", "last.pt", "metrics.jsonl"}
    assert done.stdout.count("done: best top-1") == 1 and done.stdout.count("train / ") == 1   # rank 0 speaks
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["epoch"] == 1
    state = ckpt.load(out / "last.pt")
    # 20 training videos over 2 ranks with 2 clips each per step: 5 steps
    assert state["step"] == 5 and not any(k.startswith("module.") for k in state["model"])
    # validation sums over both ranks: every val video counted once, so top-1 is a multiple of 1/10
    top1 = json.loads(rows[0])["val_top1"]
    assert abs(top1 * 10 - round(top1 * 10)) < 1e-9


def corrupt_copy(src: Path, dst: Path, split: str = "train") -> Path:
    """A copy of the tiny dataset in which the first video of `split` has garbage JPEGs."""
    import shutil

    shutil.copytree(src, dst)
    csv = {"train": "something-something-v1-train.csv", "val": "something-something-v1-validation.csv"}[split]
    vid = (dst / csv).read_text().splitlines()[0].split(";")[0]
    folder = dst / "20bn-something-something-v1" / vid
    for jpg in folder.iterdir():
        jpg.write_bytes(b"\xff\xd8 this is not a JPEG")
    return folder


@pytest.mark.slow
def test_an_unreadable_training_video_is_replaced_reported_and_bounded(tiny, tmp_path, capsys):
    data = tmp_path / "data"
    broken = corrupt_copy(tiny, data)
    train(TrainConfig(dataset="synthetic", data_root=str(data), out=str(tmp_path / "ok"), epochs=1, batch_size=4,
                      max_bad_fraction=0.1, **TINY))
    captured = capsys.readouterr()
    assert f"unreadable sample {broken}" in captured.err and "replaced by the next readable one" in captured.err
    assert f"1 unreadable training sample(s): {broken}" in captured.out      # listed at the end of the epoch
    row = json.loads((tmp_path / "ok" / "metrics.jsonl").read_text())
    assert (row["bad_samples"], row["val_bad_samples"]) == (1, 0)
    with pytest.raises(TrainingStopped, match=r"1 unreadable training sample\(s\), more than --max-bad-fraction "
                                              r"0.01 of 20") as e:
        train(TrainConfig(dataset="synthetic", data_root=str(data), out=str(tmp_path / "stop"), epochs=1,
                          batch_size=4, **TINY))
    assert str(broken) in str(e.value)
    assert not (tmp_path / "stop" / "metrics.jsonl").exists()


@pytest.mark.slow
def test_an_unreadable_validation_video_never_costs_the_training_done(tiny, tmp_path):
    data = tmp_path / "data"
    broken = corrupt_copy(tiny, data, split="val")
    out = tmp_path / "run"
    with pytest.raises(TrainingStopped, match=r"1 of 10 validation videos are unreadable.*stopping after epoch 1, "
                                              r"whose checkpoints and metrics are saved") as e:
        train(TrainConfig(dataset="synthetic", data_root=str(data), out=str(out), epochs=2, batch_size=4, **TINY))
    assert str(broken) in str(e.value)
    row = json.loads((out / "metrics.jsonl").read_text())
    assert (row["epoch"], row["val_bad_samples"], row["val_videos"]) == (1, 1, 9)   # left out of the metrics
    assert ckpt.load(out / "last.pt")["epoch"] == 1 and (out / "best.pt").is_file()
    train(TrainConfig(resume=str(out / "last.pt"), max_bad_fraction=0.2))           # a looser bound: it goes on
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2]


@pytest.mark.slow
def test_a_new_run_into_a_folder_holding_a_run_is_refused_and_overwrite_replaces_it(tiny, tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(dataset="synthetic", data_root=str(tiny), out=str(out), epochs=1, batch_size=4, **TINY))
    (out / "mine.txt").write_text("keep me")
    again = subprocess.run(arc_cmd(*cli_args(tiny, out, epochs=1, batch_size=4)), env=env(), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.splitlines() == [f"Error: --out {out} holds a run: --resume {out / 'last.pt'} continues it, "
                                         f"--overwrite replaces it, or choose another --out"]
    before = (out / "last.pt").stat().st_mtime_ns
    train(TrainConfig(dataset="synthetic", data_root=str(tiny), out=str(out), epochs=1, batch_size=4,
                      overwrite=True, **TINY))
    assert (out / "last.pt").stat().st_mtime_ns != before and (out / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_each_logging_point_is_printed_once_the_epochs_last_step_included(tiny, tmp_path, capsys):
    train(TrainConfig(dataset="synthetic", data_root=str(tiny), out=str(tmp_path), epochs=2, batch_size=4,
                      **{**TINY, "log_every": 2}))
    steps = [line.split(" loss")[0] for line in capsys.readouterr().out.splitlines() if " step " in line]
    assert steps == [f"epoch {e}/2 step {b}/5" for e in (1, 2) for b in (2, 4, 5)]   # 20 videos / batch 4


@pytest.mark.slow
def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny, tmp_path):
    with pytest.raises(TrainingStopped, match="loss is not finite") as e:
        train(TrainConfig(dataset="synthetic", data_root=str(tiny), out=str(tmp_path), epochs=2, batch_size=4,
                          lr=1e30, clip_grad=0, save_every=1, **TINY))
    assert "last good checkpoint" in str(e.value)
    state = ckpt.load(tmp_path / "last.pt")
    assert state["step"] >= 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert f"step {state['step']})" in str(e.value)


# a run whose validation sends the process `signum` while it scores validation batch `batch` (counted over the run)
SIGNAL_IN_VALIDATION = """
import os, sys
import arc.scoring
real, calls = arc.scoring.view_probs, []
def view_probs(*args, **kwargs):
    calls.append(1)
    print(f"validation batch {len(calls)}", file=sys.stderr, flush=True)
    if len(calls) == int(sys.argv[1]):
        os.kill(os.getpid(), int(sys.argv[2]))
    return real(*args, **kwargs)
arc.scoring.view_probs = view_probs
from arc.cli.main import cli
cli(sys.argv[3:], prog_name="arc")
"""


@pytest.mark.slow
@pytest.mark.parametrize("batch, signum, code", [(1, signal.SIGTERM, 143), (3, signal.SIGINT, 130)])
def test_a_signal_during_validation_stops_at_the_next_batch_and_the_resumed_run_is_exact(tiny, uninterrupted,
                                                                                           tmp_path, batch, signum,
                                                                                           code):
    """10 validation videos in batches of 4: 3 batches. A signal during the first stops before the second (nothing
    of the epoch's training is lost: last.pt was written before validation); one during the last stops right after
    validation, before the next epoch's first step."""
    cut = tmp_path / "cut"
    done = subprocess.run([sys.executable, "-c", SIGNAL_IN_VALIDATION, str(batch), str(int(signum)),
                           *cli_args(tiny, cut, **RESUMABLE)], env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == code, done.stderr
    seen = [line for line in done.stderr.splitlines() if line.startswith("validation batch")]
    assert seen[-1] == f"validation batch {batch}"        # no batch scored after the one under way
    saved, last, name = ckpt.load(cut / "last.pt"), cut / "last.pt", signal.Signals(signum).name
    if batch == 1:
        assert (saved["epoch"], saved["batch_in_epoch"]) == (0, 5) and not (cut / "metrics.jsonl").exists()
        assert f"stopped by {name} during the validation of epoch 1 (step 5); {last} holds the epoch's training" \
            in done.stderr
    else:
        assert (saved["epoch"], saved["batch_in_epoch"]) == (1, 0)
        assert len((cut / "metrics.jsonl").read_text().splitlines()) == 1
        assert f"stopped by {name} at epoch 2, batch 0 of 5 (step 5); saved {last}" in done.stderr
    assert f"Resume with: arc train --resume {last}" in done.stderr and "Traceback" not in done.stderr
    subprocess.run(arc_cmd("train", "--resume", last), check=True, env=env(), capture_output=True, cwd=ROOT,
                   timeout=300)
    assert_same_run(uninterrupted, cut)


@pytest.mark.slow
def test_resuming_into_a_folder_that_holds_another_run_is_refused_and_changes_nothing(uninterrupted, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        (other / name).write_text(f"the other run's {name}")
    result = CliRunner().invoke(cli, ["train", "--resume", str(uninterrupted / "last.pt"), "--out", str(other),
                                      "--epochs", "3"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"Error: --out {other} holds another run (last.pt, best.pt, metrics.jsonl) than the one --resume "
        f"{uninterrupted / 'last.pt'} continues: --overwrite replaces it, or choose another --out (without --out the "
        f"run continues in {uninterrupted})"]
    files = [p for p in other.iterdir() if p.name != ".lock"]
    assert sorted(p.name for p in files) == ["best.pt", "last.pt", "metrics.jsonl"]
    assert all(p.read_text() == f"the other run's {p.name}" for p in files)


def test_an_error_during_set_up_leaves_no_folder_it_created(tiny, tmp_path):
    out = tmp_path / "runs" / "big-batch"
    result = CliRunner().invoke(cli, cli_args(tiny, out, epochs=1, batch_size=64))
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == ("Error: the training split has 20 samples: too few for a global batch "
                                              "of 64 (batches are full, the remainder is dropped)")
    assert list(tmp_path.iterdir()) == []


def test_pretrained_weights_that_are_not_a_torch_file_are_one_error_line_and_leave_no_folder(tiny, tmp_path):
    (tmp_path / "notatorch.pt").write_text("epochs 50, lr 0.01\n")        # issue 18 row 11: KeyError: 101, exit 1
    out = tmp_path / "runs" / "x"
    result = CliRunner().invoke(cli, cli_args(tiny, out, epochs=1, batch_size=4,
                                              pretrained=tmp_path / "notatorch.pt"))
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1] == (f"Error: pretrained weights {tmp_path / 'notatorch.pt'}: not a torch "
                                              f"file: it is a text file, not a file torch.save wrote")
    assert "Traceback" not in result.output and sorted(p.name for p in tmp_path.iterdir()) == ["notatorch.pt"]


@pytest.mark.slow
def test_a_torn_last_metrics_line_is_dropped_with_a_warning_on_resume(uninterrupted, tmp_path, capsys):
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "last.pt").write_bytes((uninterrupted / "last.pt").read_bytes())
    rows = (uninterrupted / "metrics.jsonl").read_text()
    (cut / "metrics.jsonl").write_text(rows + '{"epoch": 3, "train_loss": 1.2')      # a write cut short
    try:
        train(TrainConfig(resume=str(cut / "last.pt"), epochs=3))
    finally:
        torch.use_deterministic_algorithms(False)      # the run's --deterministic: not for the tests after this one
    assert f"warning: {cut / 'metrics.jsonl'}: dropped line 3, not a whole metrics row (a write cut short?)" \
        in capsys.readouterr().err
    kept = (cut / "metrics.jsonl").read_text().splitlines()
    assert "\n".join(kept[:2]) + "\n" == rows and [json.loads(r)["epoch"] for r in kept] == [1, 2, 3]


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_is_one_error_line_and_leaves_no_temporary(tiny, tmp_path):
    import resource

    def small_files():     # at most 2 MB a file (a full disk's stand-in): config.json fits, last.pt does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    out = tmp_path / "run"
    done = subprocess.run(arc_cmd(*cli_args(tiny, out, epochs=1, batch_size=4, save_every=1)), env=env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"Error: cannot write {out / 'last.pt'}: File too large (free space there: "
                                        + done.stderr.split("(free space there: ")[1].split(")")[0] + "); the "
                                        "previous file, if any, is intact"]
    assert "enforce fail" not in done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == [".lock", "config.json", "tb"]


@pytest.mark.slow
def test_a_resumed_checkpoint_whose_state_does_not_fit_its_run_is_one_error_line(uninterrupted, tmp_path):
    state = ckpt.load(uninterrupted / "last.pt")
    state["model"] = {"conv1.weight": torch.zeros(1)}
    path = ckpt.save(state, tmp_path / "last.pt")
    result = CliRunner().invoke(cli, ["train", "--resume", str(path), "--epochs", "3"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"Error: --resume: {path}: its state does not fit the run its "
                                                     f"config describes (Error(s) in loading state_dict")
