"""The training configuration: resolved once against the recipe, checked by option name, schedules that fit the
run's length, `--save-every` in steps or time, what a resumed run may change."""

import dataclasses

import pytest

from arc.data.registry import DATASETS
from arc.training.config import ConfigError, TrainConfig, flag


def resolve(**options):
    return TrainConfig(**options).resolve()


def test_resolved_config_has_the_recipe_values_and_the_library_names():
    cfg, notes = resolve(dataset="ssv1")
    assert (cfg.num_segments, cfg.weight_decay, cfg.lr, cfg.batch_size, cfg.milestones, cfg.test_clips) == \
        (8, 5e-4, 0.01, 32, (30, 40), 1)
    assert cfg.stages == ("res3", "res4", "res5") and cfg.pretrained == "imagenet" and notes == []
    assert resolve(dataset="diving48")[0].test_clips == 2
    assert resolve(dataset="diving48", test_clips=1)[0].test_clips == 1
    assert resolve(dataset="ssv1", pretrained="none")[0].pretrained is None
    assert dataclasses.is_dataclass(cfg) and TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert (flag("num_segments"), flag("weight_decay"), flag("batch_size")) == ("--frames", "--wd", "--batch-size")


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_a_saved_config_resolves_again_to_itself(dataset):
    """What a checkpoint stores (`to_dict` of a resolved config) resolves to the same config: a cosine recipe's
    empty milestones are not taken for milestones the user gave."""
    cfg, _ = resolve(dataset=dataset)
    again, notes = TrainConfig.from_dict(cfg.to_dict()).resolve()
    assert again == cfg and notes == []


@pytest.mark.parametrize("options, says", [
    ({"milestones": "5,2"}, "--milestones 5,2: expected increasing epochs"),
    ({"milestones": "10,60"}, "--milestones 10,60: expected increasing epochs between 1 and --epochs 50 - 1"),
    ({"milestones": "3", "schedule": "cosine"}, "--milestones: apply to --schedule multistep"),
    ({"dataset": "diving48", "epochs": 5, "warmup_epochs": 5}, "--warmup-epochs 5: must be below --epochs 5"),
    ({"seed": -5}, "--seed: must be an integer in [0, 2**32)"),
    ({"n": 0}, "--n: expected an integer >= 1"),
    ({"pool": "avg"}, "--pool: expected one of max, mean"),
    ({"train_list": "a.txt"}, "--train-list: list files are read with --dataset list"),
    ({"save_every": "10 minutes"}, "--save-every '10 minutes'"),
])
def test_bad_values_are_refused_naming_the_option(options, says):
    with pytest.raises(ConfigError) as e:
        resolve(**({"dataset": "ssv1"} | options))
    assert says in str(e.value)


def test_recipe_schedules_too_long_for_the_run_are_scaled_with_a_note():
    cfg, notes = resolve(dataset="diving48", epochs=1)        # 10 warm-up epochs of a 30-epoch recipe
    assert cfg.warmup_epochs == pytest.approx(1 / 3) and "scaled to 0.333333 for --epochs 1" in notes[0]
    cfg, notes = resolve(dataset="ssv1", epochs=5)             # ×0.1 at 30, 40 of a 50-epoch recipe
    assert cfg.milestones == (3, 4) and "milestones 30,40 of the 50-epoch recipe scaled to 3,4" in notes[0]
    cfg, notes = resolve(dataset="ssv1", epochs=45)            # 30, 40 still fit: kept
    assert cfg.milestones == (30, 40) and notes == []


def test_save_every_takes_steps_or_a_time():
    assert TrainConfig(save_every=500).save_interval() == (500, 0.0)
    assert TrainConfig(save_every="10m").save_interval() == (0, 600.0)
    assert TrainConfig(save_every="30s").save_interval() == (0, 30.0)
    assert TrainConfig(save_every="1.5h").save_interval() == (0, 5400.0)
    assert TrainConfig().save_interval() == (0, 0.0)


def test_a_resumed_run_may_change_runtime_options_and_epochs_only():
    saved, _ = resolve(dataset="ssv1", out="runs/a")
    given = TrainConfig(resume="runs/a/last.pt", workers=2, amp="bf16", epochs=60)
    merged = saved.resumed_with(given)
    assert (merged.workers, merged.amp, merged.epochs, merged.out) == (2, "bf16", 60, "runs/a")
    assert merged.lr == saved.lr and merged.milestones == saved.milestones
    assert saved.resumed_with(TrainConfig(resume="x/last.pt", stages="res3,res4,res5", milestones="30,40")) \
        .out == "x"                                     # the saved values, given again, are no change
    with pytest.raises(ConfigError, match="differ from its checkpoint: --n, --lr"):
        saved.resumed_with(TrainConfig(resume="x/last.pt", lr=0.1, n=2))
