"""`arc overhead`: JSON equals the library's answer, tables name the Eq. 9 gap, errors are one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arc import overhead as oh
from arc.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_layer_json_matches_the_library():
    result = invoke("overhead", "--C", "16", "--H", "6", "--W", "5", "--T", "4", "--n", "4", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == oh.layer_report(16, 6, 5, 4, 3, 4)


def test_layer_json_with_cin_cout_stride_and_mean_pool_matches_the_library():
    result = invoke("overhead", "--cin", "12", "--cout", "8", "--H", "7", "--K", "5", "--n", "2", "--stride", "2",
                    "--pool", "mean", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == oh.layer_report(None, 7, 7, 8, 5, 2, 2, cin=12, cout=8, pool="mean")


def test_model_json_matches_the_library_and_has_the_training_memory():
    result = invoke("overhead", "--model", "r18", "--frames", "4", "--num-classes", "174", "--stages", "res4,res5",
                    "--n", "2", "--size", "64", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == oh.model_report("r18", 4, 174, ("res4", "res5"), 2, 64)
    assert {k: set(v) for k, v in report.items()} == {
        "model": {"backbone", "frames", "num_classes", "stages", "n", "size", "aru_terms", "attention"},
        **{m: {"flops", "params", "memory_elements"} for m in ("tsm", "arc")}}
    assert report["model"] == dict(backbone="r18", frames=4, num_classes=174, stages=["res4", "res5"], n=2, size=64,
                                   aru_terms=["embed", "fuse", "attend"], attention="both")


def test_layer_table_shows_formula_measured_ratio_and_names_the_eq9_gap():
    result = invoke("overhead", "--C", "64", "--H", "14", "--n", "4")
    assert result.exit_code == 0, result.output
    out = result.stdout
    report = oh.layer_report(64, 14, n=4)
    flops_row = next(line for line in out.splitlines() if line.startswith("multiply-adds"))
    assert f"{report['formula']['flops']:,}" in flops_row
    assert f"{report['measured']['flops'] / report['plain']['flops']:.3f}" in flops_row
    assert f"{64 * 64 * 3 // 4:,} parameters more" in out  # C²(n-1)/n: the second set of maps
    assert f"{report['formula']['params_printed']:,}" in out and "Eq. 9 as printed" in out


def test_model_table_shows_tsm_and_arc_side_by_side():
    result = invoke("overhead", "--model", "r18", "--frames", "4", "--size", "64")
    assert result.exit_code == 0, result.output
    report = oh.model_report("r18", 4, size=64)
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert f"{report['tsm']['flops'] / 1e9:.3f}" in rows["TSM"]
    assert f"{report['arc']['params'] / 1e6:.3f}" in rows["ARC-TSM"]
    assert rows["ARC / TSM"].split()[-1] == f"{report['arc']['memory_elements'] / report['tsm']['memory_elements']:.3f}"
    assert "64×64" in result.stdout


@pytest.mark.parametrize(
    "args,words",
    [
        (["--C", "256", "--n", "3"], "n=3 must divide"),
        (["--H", "-1"], "H must be a positive integer"),
        (["--C", "16", "--K", "4"], "K must be odd"),
        (["--C", "16", "--pool", "avg"], "'avg' is not one of 'max', 'mean'"),
        (["--model", "r19"], "'r19' is not one of 'r18', 'r34', 'r50', 'r101'"),
        (["--model", "r18", "--stages", "res3,res6"], "unknown stage"),
        (["--model", "r18", "--n", "0"], "n must be a positive integer"),
        (["--model", "r18", "--C", "64", "--H", "7"], "--C, --H: layer options, not valid with --model"),
        (["--frames", "16"], "--frames: valid only with --model"),
        (["--model", "r18", "--size", "16"], "size must be at least 32"),
    ],
)
def test_bad_overhead_arguments_exit_2_with_one_line(args, words):
    result = invoke("overhead", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ") and words in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_installed_console_script_reports_a_bad_n_in_one_line():
    arc = Path(sys.executable).with_name("arc")
    proc = subprocess.run([str(arc), "overhead", "--C", "10", "--n", "4"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["Error: arc overhead: n=4 must divide the output channels C/cout=10"]
