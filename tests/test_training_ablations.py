"""The ablation options from the command line to the model (docs/reproducing.md, Table 5): `arc train --aru-terms
--attention` reach every ARC layer and name the run; a checkpoint written before the options existed loads as the full
layer; `arc overhead` counts an ablation; the attention figure refuses a model without attention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from arc import overhead as oh
from arc.cli.main import cli
from arc.data.synth import write_synthetic
from arc.nn.choices import ARU_NAMES
from arc.nn.layer import ARCConv2d
from arc.nn.models import build_model
from arc.training import checkpoint as ckpt
from arc.training.config import ConfigError, TrainConfig
from arc.viz.attention import attention_vectors
from arc.viz.common import VizError

ROOT = Path(__file__).resolve().parents[1]


def arc_layers(model) -> list[ARCConv2d]:
    return [m for m in model.modules() if isinstance(m, ARCConv2d)]


@pytest.mark.parametrize("options, name", [
    ({}, "ssv1-r18-arc4"),
    ({"aru_terms": "fuse,attend"}, "ssv1-r18-arc4-aru-terms-fuse-attend"),
    ({"aru_terms": "attend,embed"}, "ssv1-r18-arc4-aru-terms-embed-attend"),
    ({"aru_terms": ("embed", "fuse", "attend"), "attention": "both"}, "ssv1-r18-arc4"),
    ({"aru_terms": "none"}, "ssv1-r18-arc4-aru-terms-none"),
    ({"attention": "space", "pool": "mean"}, "ssv1-r18-arc4-attention-space-pool-mean"),
    ({"aru_act": "leaky_relu", "n": 2}, "ssv1-r18-arc2-aru-act-leaky_relu"),
    ({"attention": "time", "stages": "res3"}, "ssv1-r18-arc4-stages-res3-attention-time"),
    ({"stages": "res4,res3"}, "ssv1-r18-arc4-stages-res3-res4"),
    ({"stages": ("res5", "res3", "res4")}, "ssv1-r18-arc4"),
    ({"attention": "time", "n": 1}, "ssv1-r18-tsm"),            # no ARC layer: the options change nothing
    ({"aru_terms": "fuse", "stages": "none"}, "ssv1-r18-tsm"),
])
def test_the_default_out_names_every_arc_option_that_is_not_its_default(options, name):
    cfg, _ = TrainConfig(dataset="ssv1", **options).resolve()
    assert cfg.out == f"runs/{name}"


def test_the_terms_are_resolved_in_their_order_and_a_resumed_run_may_not_change_them():
    saved, _ = TrainConfig(dataset="ssv1", aru_terms="attend,fuse", attention="time", out="runs/a").resolve()
    assert saved.aru_terms == ("fuse", "attend") and saved.model_kwargs(5)["aru_terms"] == ("fuse", "attend")
    assert TrainConfig.from_dict(json.loads(json.dumps(saved.to_dict()))) == saved
    assert saved.resumed_with(TrainConfig(resume="runs/a/last.pt", aru_terms="fuse,attend")).out == "runs/a"
    with pytest.raises(ConfigError, match="differ from its checkpoint: --aru-terms, --attention"):
        saved.resumed_with(TrainConfig(resume="runs/a/last.pt", aru_terms="fuse", attention="space"))
    for options, says in (({"aru_terms": "fuse,gate"}, "--aru-terms 'fuse,gate': unknown ARU term(s) ['gate']"),
                          ({"attention": "spatial"}, "--attention: expected one of both, space, time")):
        with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            TrainConfig(dataset="ssv1", **options).resolve()


def old_state(model, classes) -> dict:
    """What a checkpoint written before the ablation options held: no `aru_terms`, `attention` anywhere."""
    config = TrainConfig(dataset="synthetic", num_segments=2, n=2, stages="res5").resolve()[0].to_dict()
    drop = ("aru_terms", "attention")
    return {"model": model.state_dict(), "model_config": {k: v for k, v in model.config.items() if k not in drop},
            "config": {k: v for k, v in config.items() if k not in drop}, "classes": classes}


def test_a_checkpoint_written_before_the_ablation_options_loads_as_the_full_layer(tmp_path):
    torch.manual_seed(0)
    model = build_model("r18", 3, num_segments=2, n=2, stages="res5")
    state = old_state(model, ["a", "b", "c"])
    loaded, read = ckpt.load_model(ckpt.save(state, tmp_path / "old.pt"))
    layers = arc_layers(loaded)
    assert len(layers) == 4 and all((m.aru_terms, m.attention) == (ARU_NAMES, "both") for m in layers)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    config = TrainConfig.from_dict(read["config"])
    assert (config.aru_terms, config.attention) == (TrainConfig().aru_terms, "both")
    config.validate()


def test_an_ablated_checkpoint_loads_its_ablation_and_a_bad_one_is_refused(tmp_path):
    model = build_model("r18", 3, num_segments=2, n=2, stages="res5", aru_terms=("attend",), attention="space")
    state = old_state(model, ["a", "b", "c"]) | {"model_config": model.config}
    assert model.config["aru_terms"] == ["attend"] and model.config["attention"] == "space"
    loaded, _ = ckpt.load_model(ckpt.save(state, tmp_path / "ablated.pt"))
    assert all((m.aru_terms, m.attention, m.embed, m.fuse) == (("attend",), "space", None, None)
               for m in arc_layers(loaded))
    for bad, says in (({"aru_terms": ["gate"]}, "unknown ARU term"), ({"attention": "spatial"}, "attention must be"),
                      ({"attention": 3}, "attention is 3, expected str")):
        path = ckpt.save(state | {"model_config": model.config | bad}, tmp_path / "bad.pt")
        with pytest.raises(ckpt.CheckpointError, match=says):
            ckpt.load_model(path)


@pytest.mark.slow
def test_arc_train_options_reach_every_arc_layer_and_name_the_run(tmp_path, monkeypatch):
    data = write_synthetic(tmp_path / "synth", seed=0, train_per_class=1, val_per_class=1, frames=(4, 5),
                           size=(36, 48))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [
        "train", "--dataset", "synthetic", "--data-root", str(data), "--n", "2", "--stages", "res5", "--frames", "2",
        "--input-size", "32", "--epochs", "1", "--batch-size", "5", "--workers", "0", "--threads", "1",
        "--aru-terms", "attend,fuse", "--attention", "space"])
    assert result.exit_code == 0, result.output
    assert "ARC-TSM-R18 (n=2, res5, ARU terms fuse,attend, attention space)" in result.output
    out = tmp_path / "runs" / "synthetic-r18-arc2-stages-res5-aru-terms-fuse-attend-attention-space"
    model, state = ckpt.load_model(out / "best.pt")
    layers = arc_layers(model)
    assert len(layers) == 4 and all((m.aru_terms, m.attention, m.embed) == (("fuse", "attend"), "space", None)
                                    for m in layers)
    assert not any(k.endswith(".embed") for k in state["model"])
    assert json.loads((out / "config.json").read_text())["aru_terms"] == ["fuse", "attend"]


def test_arc_overhead_counts_an_ablation_of_a_layer():
    result = CliRunner().invoke(cli, ["overhead", "--C", "16", "--H", "6", "--T", "2", "--aru-terms", "embed,attend",
                                      "--attention", "time", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == oh.layer_report(16, 6, 6, 2, 3, 4, aru_terms=("embed", "attend"), attention="time")
    assert report["measured"]["flops"] == 9 * 16 * 16 * 72 + 16 * 16 * 72 + 3 * 16 * 4 * 36  # conv, We, Wa on PoolT
    table = CliRunner().invoke(cli, ["overhead", "--C", "16", "--H", "6", "--aru-terms", "none"]).output
    rows = [line.split("  ")[0] for line in table.splitlines()]
    assert "ARU terms none;" in table and "parameters, Eq. 9 as printed" not in rows     # the full layer has the row
    bad = CliRunner().invoke(cli, ["overhead", "--aru-terms", "fuse,gate"])
    assert bad.exit_code == 2 and bad.output.startswith("Error: Invalid value for '--aru-terms': unknown ARU term")


@pytest.mark.slow
def test_arc_overhead_counts_an_ablation_of_a_whole_model():
    model = json.loads(CliRunner().invoke(cli, ["overhead", "--model", "r18", "--size", "32", "--frames", "2",
                                                "--stages", "res5", "--aru-terms", "fuse", "--json"]).stdout)
    assert model["model"]["aru_terms"] == ["fuse"]
    assert model["arc"]["params"] - model["tsm"]["params"] == 3 * (256 + 3 * 512) * 128  # res5's 4 convs' Wf_j


def test_the_attention_figure_refuses_layers_without_attention():
    model = build_model("r18", 3, num_segments=2, n=2, stages="res5", aru_terms="embed,fuse").eval()
    with pytest.raises(VizError, match="res5-block0-conv1 .*built without the backward attention"):
        attention_vectors(model, torch.rand(1, 2, 3, 32, 32), ["res5-block0-conv1"])


def table5_rows():
    """(train command, run folder) of every row of docs/reproducing.md's Table 5 sections."""
    text = (ROOT / "docs" / "reproducing.md").read_text()
    rows = []
    for line in text[text.index("## Ablations of the layer"):].splitlines():
        cells = [c.strip() for c in line.split("|")]
        commands = [c.strip("`") for c in cells if c.startswith("`… arc train")]
        if commands:
            rows.append((commands[0].removeprefix("… arc train "), cells[cells.index(f"`{commands[0]}`") + 1]))
    return rows


def test_every_table5_command_of_the_docs_parses_and_trains_into_the_run_folder_its_row_names():
    from arc.cli.train import train as train_command

    rows = table5_rows()
    assert len(rows) == 8 + 11 + 6
    for command, run in rows:
        options = train_command.make_context("train", command.split()).params
        no_shift, compile_ = options.pop("no_shift"), options.pop("compile_")
        cfg, _ = TrainConfig(shift=not no_shift, compile=compile_, **options).resolve()
        assert cfg.out == f"runs/{run.strip('`')}", command
