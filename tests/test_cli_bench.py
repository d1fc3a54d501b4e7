"""`arc bench`: each subcommand prints rows whose ratios are what the rows' times say; bad options are one line."""

import json

import pytest
import torch
from click.testing import CliRunner

from arc import overhead as oh
from cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_bench_layer_json_rows_give_time_ratio_and_eq8_flop_ratio():
    result = invoke("bench", "layer", "--repeats", "1", "--warmup", "0", "--n", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["plain conv", "ARC n=2"]
    assert rows[1]["median_ms"] > 0 and rows[1]["ratio"] == pytest.approx(rows[1]["median_ms"] / rows[0]["median_ms"])
    expected = oh.flops_formula(256, 14, 14, 8, 3, 2) / oh.flops_formula(256, 14, 14, 8, 3, 1)
    assert rows[1]["flop_ratio"] == pytest.approx(expected)


def test_bench_table_lists_the_rows_as_plain_lines_off_a_terminal():
    result = invoke("bench", "layer", "--repeats", "1", "--warmup", "0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["name", "median_ms", "ratio", "flop_ratio"]
    assert lines[2].startswith("plain conv") and lines[3].startswith("ARC n=4")


@pytest.mark.parametrize("args,words", [(["--n", "3"], "n=3 must divide"), (["--threads", "0"], "--threads"),
                                        (["--repeats", "0"], "repeats must be >= 1")])
def test_bad_bench_arguments_exit_2_with_one_line(args, words):
    result = invoke("bench", "layer", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_bench_on_cuda_without_a_gpu_says_so():
    result = invoke("bench", "layer", "--device", "cuda", "--repeats", "1")
    assert result.exit_code == 2 and "no CUDA device" in result.stderr


@pytest.mark.parametrize(
    "args,words",
    [(["train", "--amp", "fp8"], "--amp must be none, fp16 or bf16"), (["train", "--size", "0"], "--size 0"),
     (["train", "--threads", "0"], "--threads 0"), (["train", "--device", "gpu0"], "--device 'gpu0'"),
     (["reference", "--repeats", "0"], "repeats must be >= 1")],
)
def test_bad_train_and_reference_bench_arguments_exit_2_with_one_line(args, words):
    result = invoke("bench", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr


def test_bench_train_passes_its_options_to_the_throughput_benchmark():
    result = invoke("bench", "train", "--size", "32", "--frames", "2", "--batch-size", "1", "--steps", "1",
                    "--warmup", "0", "--no-loader", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["size"], r["frames"], r["batch"]) for r in rows] == [(32, 2, 1), (32, 2, 1)]
    assert all(r["clips_per_s"] == pytest.approx(1 / r["step_s"]) for r in rows)
    assert rows[1]["ratio"] == pytest.approx(rows[1]["step_s"] / rows[0]["step_s"])
