"""`arc bench accuracy` end to end on a tiny fine-grained set: the files, their rows, resuming. It asserts structure,
never accuracy (docs/results.md: no model's accuracy on the fine preset is looked at outside its protocol)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from arc.bench.accuracy import MODELS, accuracy_table, parse_models, plan, summarise
from arc.cli.bench import bench as bench_cli
from arc.data.synth import write_synthetic

TINY_DATA = dict(train_per_class=1, val_per_class=1, frames=(4, 5), size=(32, 32))
TRIAL = dict(epochs=1, batch_size=4, num_segments=4)


@pytest.fixture(scope="module")
def tiny_fine(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("data") / "fine", preset="fine", seed=0, **TINY_DATA)


@pytest.mark.slow
def test_accuracy_bench_writes_every_run_and_resumes_without_rerunning(tiny_fine, tmp_path):
    out, events = tmp_path / "bench", []
    table = accuracy_table(out, models=("tsn", "arc"), seeds=1, data_root=tiny_fine, overrides=TRIAL, jobs=2,
                           on_event=lambda kind, run, info: events.append((kind, run.name)), poll=0.2)
    names = ["tsn-seed0", "arc-seed0"]
    assert table["failed"] == {}
    assert sorted(n for k, n in events if k == "started") == sorted(names)
    assert sorted(n for k, n in events if k == "done") == sorted(names)
    with open(out / "accuracy.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == names                       # seed by seed, in the order asked
    saved = json.loads((out / "accuracy.json").read_text())
    assert list(saved["models"]) == ["tsn", "arc"] and [m["runs"] for m in saved["models"].values()] == [1, 1]
    assert saved["dataset"] == "synthetic-fine" and saved["data"]["preset"] == "fine"
    assert saved["recipe"]["epochs"] == 1 and saved["recipe"]["input_size"] == 32
    for run in saved["runs"]:
        assert len(run["per_class"]) == 12 and np.array(run["confusion"]).sum() == 12 == run["videos"]
        assert run["epochs"] == 1 and run["cpu_s"] > 0 and run["wall_s"] > 0 and not run["resumed"]
        assert run["threads"] == 1
    arc, tsn = saved["models"]["arc"], saved["models"]["tsn"]
    assert arc["params"] > tsn["params"] and arc["macs"] > tsn["macs"]   # the ARU maps
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in names:
        assert (out / "runs" / name / "train" / "last-val-confusion.npy").is_file()
        assert json.loads((out / "runs" / name / "spec.json").read_text())["config"]["workers"] == 0

    # resuming: finished runs are kept; a run whose result is gone is run again, from its last checkpoint
    results = {n: (out / "runs" / n / "result.json").read_bytes() for n in names}
    (out / "runs" / "arc-seed0" / "result.json").unlink()
    events.clear()
    again = accuracy_table(out, models=("tsn", "arc"), seeds=1, data_root=tiny_fine, overrides=TRIAL,
                           on_event=lambda kind, run, info: events.append((kind, run.name)), poll=0.2)
    assert [n for k, n in events if k == "skipped"] == ["tsn-seed0"]
    assert [n for k, n in events if k == "started"] == ["arc-seed0"]
    assert (out / "runs" / "tsn-seed0" / "result.json").read_bytes() == results["tsn-seed0"]
    assert json.loads((out / "runs" / "arc-seed0" / "result.json").read_text())["resumed"]
    assert [r["run"] for r in again["runs"]] == names

    # other settings in the same folder are refused, not silently mixed in
    with pytest.raises(ValueError, match="other settings.*epochs: 1 there, 2 asked"):
        accuracy_table(out, models=("tsn",), seeds=1, data_root=tiny_fine, overrides={**TRIAL, "epochs": 2})


@pytest.mark.slow
def test_a_failing_run_is_reported_and_the_others_still_run(tiny_fine, tmp_path):
    # a batch larger than the training split: the run stops with its reason; the table is written without it
    out = tmp_path / "bench"
    table = accuracy_table(out, models=("tsn",), seeds=1, data_root=tiny_fine,
                           overrides={**TRIAL, "batch_size": 64}, poll=0.2)
    assert list(table["failed"]) == ["tsn-seed0"] and "too few for a global batch of 64" in table["failed"]["tsn-seed0"]
    assert table["runs"] == [] and (out / "accuracy.csv").read_text().startswith("run,model,label,seed,top1")


def test_the_plan_is_seed_by_seed_with_one_thread_and_in_process_loading(tmp_path):
    runs = plan("fine", "tsm,arc-msn", 2, tmp_path)
    assert [r.name for r in runs] == ["tsm-seed0", "arc-msn-seed0", "tsm-seed1", "arc-msn-seed1"]
    assert runs[1].config == dict(dataset="synthetic-fine", data_root=str(tmp_path), backbone="r18", n=4,
                                  motion="ms", seed=0, device="cpu", threads=1, workers=0, channels_last=True,
                                  progress=False)
    assert runs[0].config["n"] == 1 and "shift" not in runs[0].config
    assert MODELS["tsn"].options == dict(n=1, shift=False)
    with pytest.raises(ValueError, match="'resnet'.*tsn, tsm, arc, msn, arc-msn"):
        parse_models("tsm,resnet")


def test_summary_is_mean_and_sample_standard_deviation():
    rows = [dict(model="tsm", label="TSM", seed=s, params=1, macs=2, top1=t, mean_class_acc=m, cpu_s=1.0, wall_s=2.0,
                 per_class=[t, m]) for s, (t, m) in enumerate([(0.5, 0.4), (0.7, 0.6), (0.6, 0.5)])]
    s = summarise(rows)["tsm"]
    assert s["runs"] == 3 and np.isclose(s["top1_mean"], 0.6) and np.isclose(s["top1_std"], 0.1)
    assert np.isclose(s["mean_class_acc_std"], 0.1) and np.allclose(s["per_class_mean"], [0.6, 0.5])
    assert summarise(rows[:1])["tsm"]["top1_std"] == 0.0


def test_cli_accuracy_refuses_bad_options_in_one_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(bench_cli, ["accuracy", "--models", "tsm,vit", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and one_error_line(r) and "--models" in r.output and "vit" in r.output
    r = runner.invoke(bench_cli, ["accuracy", "--preset", "coarse", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and one_error_line(r) and "--preset" in r.output and "order, fine" in r.output
    r = runner.invoke(bench_cli, ["accuracy", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and one_error_line(r) and "no such folder" in r.output
    assert not (tmp_path / "b").exists()


def one_error_line(result) -> bool:
    return result.output.startswith("Error: ") and result.output.count("\n") == 1


@pytest.mark.slow
def test_sigterm_stops_the_runs_with_their_last_checkpoint_and_the_next_call_goes_on(tmp_path):
    data = write_synthetic(tmp_path / "fine", preset="fine", seed=0, **dict(TINY_DATA, train_per_class=2))
    out = tmp_path / "bench"
    command = [sys.executable, "-m", "arc", "bench", "accuracy", "--models", "tsn", "--seeds", "1",
               "--epochs", "12", "--data-root", str(data), "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    metrics = out / "runs" / "tsn-seed0" / "train" / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.is_file() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    parent.send_signal(signal.SIGTERM)
    output, _ = parent.communicate(timeout=300)
    assert parent.returncode == 143, output
    assert "run the same command again" in output
    run = out / "runs" / "tsn-seed0"
    assert (run / "train" / "last.pt").is_file() and not (run / "result.json").exists()
    stopped_at = len(metrics.read_text().splitlines())
    assert 1 <= stopped_at < 12
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    result = json.loads((run / "result.json").read_text())
    assert result["resumed"] and result["epochs"] == 12
    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == list(range(1, 13))
