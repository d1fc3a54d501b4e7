"""`arc bench`: each subcommand prints rows whose ratios are what the rows' times and memories say; bad options are
one line."""

import json

import pytest
import torch
from click.testing import CliRunner

from arc import overhead as oh
from arc.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_bench_layer_json_rows_give_time_memory_and_eq8_flop_ratios():
    result = invoke("bench", "layer", "--repeats", "1", "--warmup", "0", "--n", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["plain conv", "ARC n=2 lean", "ARC n=2 autograd"]
    expected = oh.flops_formula(256, 14, 14, 8, 3, 2) / oh.flops_formula(256, 14, 14, 8, 3, 1)
    full = 2 * 8 * 256 * 14 * 14  # N·T·C·H·W: the input
    for row in rows[1:]:
        assert row["median_ms"] > 0 and row["ratio"] == pytest.approx(row["median_ms"] / rows[0]["median_ms"])
        assert row["flop_ratio"] == pytest.approx(expected)
        assert row["memory_ratio"] == pytest.approx(row["memory"] / rows[0]["memory"])
    assert rows[0]["memory"] == full and rows[1]["memory"] == 2 * full  # lean: the input and the output
    assert rows[2]["memory"] == 2 * oh.memory_saved(256, 14, 14, 8, 3, 2, impl="autograd")


def test_bench_table_lists_the_rows_as_plain_lines_off_a_terminal():
    result = invoke("bench", "layer", "--repeats", "1", "--warmup", "0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["name", "median_ms", "ratio", "flop_ratio", "memory", "memory_ratio"]
    assert lines[2].startswith("plain conv") and lines[3].startswith("ARC n=4 lean")
    assert lines[4].startswith("ARC n=4 autograd")


@pytest.mark.parametrize("args,words", [(["--n", "3"], "n=3 must divide"), (["--threads", "0"], "--threads"),
                                        (["--repeats", "0"], "repeats must be >= 1"),
                                        (["--impl", "fused"], "'fused' is not one of 'lean', 'autograd'")])
def test_bad_bench_arguments_exit_2_with_one_line(args, words):
    result = invoke("bench", "layer", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_bench_on_cuda_without_a_gpu_says_so():
    result = invoke("bench", "layer", "--device", "cuda", "--repeats", "1")
    assert result.exit_code == 2 and "CUDA is not available on this machine" in result.stderr


@pytest.mark.parametrize(
    "args,words",
    [(["train", "--amp", "fp8"], "'fp8' is not one of 'auto', 'none', 'bf16', 'fp16'"),
     (["train", "--size", "0"], "--size 0"), (["train", "--threads", "0"], "--threads 0"),
     (["train", "--device", "gpu0"], "--device 'gpu0'"), (["reference", "--repeats", "0"], "repeats must be >= 1"),
     (["memory", "--budget", "lots"], "budget 'lots'"),
     (["memory", "--backbone", "r19"], "'r19' is not one of 'r18', 'r34', 'r50', 'r101'"),
     (["memory", "--size", "16"], "at least 32"), (["memory", "--device", "gpu0"], "--device 'gpu0'")],
)
def test_bad_train_and_reference_bench_arguments_exit_2_with_one_line(args, words):
    result = invoke("bench", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr


def test_bench_train_passes_its_options_to_the_throughput_benchmark():
    result = invoke("bench", "train", "--size", "32", "--frames", "2", "--batch-size", "1", "--steps", "1",
                    "--warmup", "0", "--no-loader", "--impl", "lean", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["TSM-R18", "ARC-TSM-R18 (n=4)"]
    assert [(r["size"], r["frames"], r["batch"]) for r in rows] == [(32, 2, 1), (32, 2, 1)]
    assert all(r["clips_per_s"] == pytest.approx(1 / r["step_s"]) for r in rows)
    assert rows[1]["ratio"] == pytest.approx(rows[1]["step_s"] / rows[0]["step_s"])


def test_bench_memory_rows_give_per_clip_memory_its_ratio_and_the_batch_that_fits_the_budget():
    result = invoke("bench", "memory", "--backbone", "r18", "--impl", "lean", "--size", "64", "--frames", "2",
                    "--batch-size", "2", "--steps", "1", "--budget", "8GiB", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["backbone"], r["name"]) for r in rows] == [("r18", "TSM"), ("r18", "ARC-TSM (n=4)")]
    for r in rows:
        assert r["peak_bytes"] > r["before_bytes"] > 0  # 2 clips of 64 px: tens of MiB of activations
        assert r["per_clip_bytes"] == pytest.approx((r["peak_bytes"] - r["before_bytes"]) / 2)
        assert r["max_batch"] == (8 * 2**30 - r["before_bytes"]) // r["per_clip_bytes"]
    assert rows[1]["ratio"] == pytest.approx(rows[1]["per_clip_bytes"] / rows[0]["per_clip_bytes"])


@pytest.mark.parametrize("text,size",
                         [("16GiB", 16 * 2**30), ("500MB", 500 * 10**6), ("1.5G", 3 * 2**29), ("4096", 4096)])
def test_budget_sizes_parse_binary_and_decimal_units(text, size):
    from arc.bench.memory import parse_bytes

    assert parse_bytes(text) == size


def test_bench_memory_reads_the_resident_set_once_before_and_once_after_the_steps(monkeypatch):
    from arc.bench import memory

    reads = []

    def counting_open(path, *args, **kwargs):
        reads.append(str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(memory, "open", counting_open, raising=False)
    before, peak = memory._train("r18", "TSM", 32, 2, 1, 1, "cpu", None)
    assert reads.count("/proc/self/status") == (2 if "/proc/self/clear_refs" in reads else 0)
    assert peak >= before > 0
