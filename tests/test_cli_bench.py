"""`arc bench`: each subcommand's rows against numbers derived by hand — times from a clock the test controls
(`clock.WorkClock`), memory kept for the backward counted by hand, peak memories given to the arithmetic — and
real runs, small, of every row: the reference backends, the data loader, the memory of training held to TSM's; bad
options are one line."""

import json
import time

import pytest
import torch
from click.testing import CliRunner
from clock import WorkClock

from arc import overhead as oh
from arc.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_bench_layer_json_rows_are_medians_in_ms_of_the_timed_runs_and_counts_derived_by_hand(monkeypatch):
    """C = 256, 14×14, T = 8, N = 2 clips, n = 2. Times: a warm-up run of 0.5 s each (left out), then three runs;
    the medians are 11, 14 and 25 ms. Memory (elements): the plain conv keeps its input N·T·C·H·W = 802,816;
    the lean layer the input and output, twice that; the autograd definition per clip the input and, for its one
    step, 2·C·HWT + c·(HWT + HW + T) with c = 128: 2 · (401,408 + 802,816 + 226,816) = 2,862,080. Eq. 8's ratio:
    (9 + 1 + (1568 + 196 + 8) / (2·1568)) / 9 = 16,566 / 14,112."""
    from torch import nn

    from arc import ARCConv2d

    # each layer runs once to count its memory, once to warm up, three times timed
    clock = WorkClock({"plain": [0.5, 0.5, 0.010, 0.012, 0.011], "lean": [0.5, 0.5, 0.013, 0.016, 0.014],
                       "autograd": [0.5, 0.5, 0.020, 0.030, 0.025]})
    monkeypatch.setattr("arc.bench.layer.time", clock.time)
    kind = lambda m: m.impl if isinstance(m, ARCConv2d) else "plain" if type(m) is nn.Conv2d else None
    with clock.charging_forwards(kind):
        result = invoke("bench", "layer", "--repeats", "3", "--warmup", "1", "--n", "2", "--json")
    assert result.exit_code == 0, result.output
    assert clock.used_up
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["plain conv", "ARC n=2 lean", "ARC n=2 autograd"]
    assert [r["median_ms"] for r in rows] == pytest.approx([11, 14, 25])
    assert [r["ratio"] for r in rows] == pytest.approx([1, 14 / 11, 25 / 11])
    assert [r["memory"] for r in rows] == [802_816, 1_605_632, 2_862_080]
    assert [r["memory_ratio"] for r in rows] == pytest.approx([1, 2, 2_862_080 / 802_816])
    assert [r["flop_ratio"] for r in rows] == pytest.approx([1, 16_566 / 14_112, 16_566 / 14_112])


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


def model_of_a_training_step(module) -> str | None:
    """Which model a forward with gradients belongs to ("TSM" or "ARC"; None for any other forward)."""
    config = getattr(module, "config", None)
    if not torch.is_grad_enabled() or not isinstance(config, dict) or "backbone" not in config:
        return None
    return "TSM" if config["n"] == 1 else "ARC"


def test_bench_train_rows_are_median_steps_in_seconds_and_clips_per_second(monkeypatch):
    """Batch 2, one warm-up step (9 s, left out), then TSM's step takes 0.6 s, ARC's 1.0 s: 10/3 and 2 clips/s, and
    ARC's step is 5/3 of TSM's."""
    clock = WorkClock({"TSM": [9, 0.6], "ARC": [9, 1.0]})
    monkeypatch.setattr("arc.bench.train.time", clock.time)
    with clock.charging_forwards(model_of_a_training_step):
        result = invoke("bench", "train", "--size", "32", "--frames", "2", "--batch-size", "2", "--steps", "1",
                        "--warmup", "1", "--no-loader", "--impl", "lean", "--json")
    assert result.exit_code == 0, result.output
    assert clock.used_up
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["TSM-R18", "ARC-TSM-R18 (n=4)"]
    assert {(r["size"], r["frames"], r["batch"], r["device"], r["amp"]) for r in rows} == {(32, 2, 2, "cpu", "none")}
    assert [r["step_s"] for r in rows] == pytest.approx([0.6, 1.0])
    assert [r["clips_per_s"] for r in rows] == pytest.approx([10 / 3, 2])
    assert [r["ratio"] for r in rows] == pytest.approx([1, 5 / 3])
    # ResNet-18 at 224²: 1,814,073,344 multiply-adds, 512,000 of them the classifier; at 32² every map is 7² times
    # smaller and the classifier has 174 classes. ARC (n = 4, c = Cout / 4) adds per layer Cin²·HW·T +
    # 3·Cin·c·(H'W'·T + H'W' + T); res3-5 run at 4², 2², 1², each stage's first conv from twice the size.
    tsm = 2 * ((1_814_073_344 - 512_000) // 49 + 512 * 174)
    layers = [(64, 8, 4, 128), *[(128, 4, 4, 128)] * 3, (128, 4, 2, 256), *[(256, 2, 2, 256)] * 3,
              (256, 2, 1, 512), *[(512, 1, 1, 512)] * 3]
    aru = sum(cin * cin * h * h * 2 + 3 * cin * (cout // 4) * (o * o * 2 + o * o + 2) for cin, h, o, cout in layers)
    assert [r["gflops"] for r in rows] == pytest.approx([tsm / 1e9, (tsm + aru) / 1e9], rel=1e-12)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """10 training videos of 6 frames at 24×32: what the loader row reads."""
    from arc.data.synth import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("bench") / "synth", train_per_class=2, val_per_class=1,
                           frames=(6, 6), size=(24, 32))


def test_the_loader_row_is_the_clips_of_the_timed_batches_per_second(synthetic, monkeypatch):
    """One model step each (TSM 0.5 s, ARC 0.8 s); the loader reads a clip in 1/24 s: after its warm-up batch, 3
    batches of 2 clips in 0.25 s, 24 clips/s, 1/12 s a batch, 9.6 times what ARC trains (2.5 clips/s)."""
    from arc.bench.train import time_training
    from arc.data.clips import ClipDataset

    clock = WorkClock({"TSM": [0.5], "ARC": [0.8], "clip": [1 / 24] * 8})
    monkeypatch.setattr("arc.bench.train.time", clock.time)
    read = ClipDataset.__getitem__
    monkeypatch.setattr(ClipDataset, "__getitem__", lambda self, key: clock.charge("clip") or read(self, key))
    with clock.charging_forwards(model_of_a_training_step):
        rows = time_training(sizes=(32,), frames=2, batch_size=2, steps=1, warmup=0, impls=("lean",), workers=0,
                             loader_batches=3, data_root=synthetic)
    assert clock.used_up
    assert rows[-1] == {"name": "data loader (synthetic, 0 workers)", "frames": 2, "size": 32, "batch": 2,
                        "device": "cpu", "amp": "-", "gflops": None, "step_s": pytest.approx(1 / 12),
                        "clips_per_s": pytest.approx(24), "ratio": pytest.approx(9.6)}


@pytest.mark.slow
def test_bench_train_loader_row_runs_the_real_loader_in_worker_processes(synthetic):
    from arc.bench.train import time_training

    start = time.perf_counter()
    rows = time_training(sizes=(32,), frames=2, batch_size=2, steps=1, warmup=0, impls=("lean",), loader_batches=2,
                         data_root=synthetic)
    seconds = time.perf_counter() - start
    assert [r["name"] for r in rows] == ["TSM-R18", "ARC-TSM-R18 (n=4)", "data loader (synthetic, 2 workers)"]
    loader, arc = rows[2], rows[1]
    assert (loader["frames"], loader["size"], loader["batch"], loader["gflops"]) == (2, 32, 2, None)
    assert 0 < loader["clips_per_s"] and 2 * 2 / loader["clips_per_s"] < seconds     # clips per second, not per ms
    assert loader["step_s"] == pytest.approx(2 / loader["clips_per_s"])
    assert loader["ratio"] == pytest.approx(loader["clips_per_s"] / arc["clips_per_s"])


def test_bench_memory_rows_are_per_clip_growth_its_ratio_to_tsm_and_the_batch_that_fits(monkeypatch):
    """Batch 2; before/peak: TSM 700/900 MiB, ARC lean 710/915, autograd 705/1005: 100, 102.5 and 150 MiB a clip,
    ratios 1.025 and 1.5; under 8 GiB, ⌊(8192 − 700) / 100⌋ = 74, ⌊7482 / 102.5⌋ = 72, ⌊7487 / 150⌋ = 49 clips."""
    from arc.bench import memory

    MiB = 2**20
    measured = {"TSM": (700, 900), "ARC-TSM (n=4)": (710, 915), "ARC-TSM (n=4, autograd)": (705, 1005)}
    asked = []

    def fake(args):
        asked.append(args)
        return tuple(MiB * m for m in measured[args[1]])

    monkeypatch.setattr(memory, "_measure", fake)
    result = invoke("bench", "memory", "--backbone", "r50", "--size", "64", "--frames", "2", "--batch-size", "2",
                    "--steps", "3", "--budget", "8GiB", "--json")
    assert result.exit_code == 0, result.output
    assert asked == [("r50", name, 64, 2, 2, 3, "cpu", 1) for name in measured]
    rows = json.loads(result.stdout)
    assert [(r["backbone"], r["name"]) for r in rows] == [("r50", name) for name in measured]
    assert [r["per_clip_bytes"] for r in rows] == [100 * MiB, 102.5 * MiB, 150 * MiB]
    assert [r["ratio"] for r in rows] == pytest.approx([1, 1.025, 1.5])
    assert [r["max_batch"] for r in rows] == [74, 72, 49]


@pytest.mark.slow
def test_bench_memory_of_arc_training_stays_within_tsms_and_its_autograd_definition_does_not():
    """R18, 8 frames at 96 px, batch 2, one step, each model in a fresh process with glibc's mmap threshold fixed
    (repeats to ±0.3 MiB a clip): ARC-TSM (lean) grows at most 30 % more per clip than TSM (measured 22.6 %: its
    backward's transient buffers), its autograd definition at least 45 % more (measured 62 %). A second method
    agrees: what the autograd definition adds is what it saves for the backward in excess of TSM
    (`arc.overhead.model_memory`, 4 bytes an element: 33.4 MiB; measured 39.5), within a third; the lean layer,
    which saves no more than TSM, adds under half of that (measured 14.3 MiB)."""
    result = invoke("bench", "memory", "--backbone", "r18", "--size", "96", "--frames", "8", "--batch-size", "2",
                    "--steps", "1", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    tsm, lean, autograd = rows["TSM"], rows["ARC-TSM (n=4)"], rows["ARC-TSM (n=4, autograd)"]
    assert tsm["peak_bytes"] > tsm["before_bytes"] > 0
    assert lean["ratio"] <= 1.30 and autograd["ratio"] >= 1.45
    args = ("r18", 8, oh.NUM_CLASSES, ("res3", "res4", "res5"))
    saved = 4 * (oh.model_memory(*args, n=4, size=96, impl="autograd") - oh.model_memory(*args, n=1, size=96))
    assert 2 / 3 * saved < autograd["per_clip_bytes"] - tsm["per_clip_bytes"] < 4 / 3 * saved
    assert lean["per_clip_bytes"] - tsm["per_clip_bytes"] < saved / 2


def test_bench_reference_rows_are_medians_in_ms_and_ratios_to_torch(monkeypatch):
    """Three timed runs after a first one per row: numba 110 ms (first 2 s: 1.89 s of compiling), numpy 450 ms,
    torch 25 ms; ratios to torch 4.4 and 18."""
    from arc import ARCConv2d, reference
    from arc.bench.reference import time_reference
    from arc.reference import bench

    clock = WorkClock({"numba": [2.0, 0.10, 0.12, 0.11], "numpy": [0.5, 0.40, 0.50, 0.45],
                       "torch": [0.1, 0.02, 0.03, 0.025]})
    monkeypatch.setattr(bench, "time", clock.time)
    forward = bench.arc_forward
    monkeypatch.setattr(bench, "arc_forward",
                        lambda *a, **k: clock.charge(reference.get_backend()) or forward(*a, **k))
    with clock.charging_forwards(lambda m: "torch" if isinstance(m, ARCConv2d) else None):
        rows = time_reference(repeats=3, threads=1)
    assert clock.used_up
    assert rows == [{"name": "numba", "median_ms": pytest.approx(110), "compile_s": pytest.approx(1.89),
                     "ratio": pytest.approx(4.4)},
                    {"name": "numpy", "median_ms": pytest.approx(450), "ratio": pytest.approx(18)},
                    {"name": "torch", "median_ms": pytest.approx(25), "ratio": 1.0}]


@pytest.mark.slow
def test_bench_reference_runs_both_backends_and_torch_on_one_layer():
    start = time.perf_counter()
    result = invoke("bench", "reference", "--repeats", "1", "--threads", "1", "--json")
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["numba", "numpy", "torch"]
    keys = {"name", "median_ms", "ratio"}
    assert [set(r) for r in rows] == [keys | {"compile_s"}, keys, keys]
    # C = 64, 14×14, T = 8: forward and backward take milliseconds (not seconds), every timed one within the run
    assert all(r["median_ms"] > 1 for r in rows) and sum(r["median_ms"] for r in rows) / 1e3 < seconds
    assert 0 <= rows[0]["compile_s"] < seconds
    assert [r["ratio"] * rows[2]["median_ms"] for r in rows] == pytest.approx([r["median_ms"] for r in rows])
    assert rows[1]["median_ms"] > rows[0]["median_ms"]          # numba's loops beat NumPy's


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
