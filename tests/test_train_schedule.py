"""Recipes (the paper's Table 1) and learning-rate schedules at known epochs."""

import math

import pytest
import torch

from arc.data.registry import DATASETS
from arc.training import recipes
from arc.training.schedule import Schedule, cosine_lr, multistep_lr


def test_recipes_hold_table_1_of_the_paper():
    ssv1, div, k400 = recipes.RECIPES["ssv1"], recipes.RECIPES["diving48"], recipes.RECIPES["k400"]
    assert (DATASETS["ssv1"].num_classes, ssv1.weight_decay, ssv1.batch_size, ssv1.epochs, ssv1.lr, ssv1.dropout) == \
        (174, 5e-4, 32, 50, 0.01, 0.5)
    assert (ssv1.schedule, ssv1.milestones) == ("multistep", (30, 40))
    assert (DATASETS["diving48"].num_classes, div.weight_decay, div.batch_size, div.epochs, div.schedule,
            div.warmup_epochs) == (48, 5e-4, 8, 30, "cosine", 10)
    assert DATASETS["diving48"].test_clips == 2
    assert (DATASETS["k400"].num_classes, k400.weight_decay, k400.batch_size, k400.milestones) == \
        (400, 1e-4, 64, (30, 40, 45))
    assert all(r.momentum == 0.9 and r.num_segments == 8 for r in recipes.RECIPES.values())
    assert recipes.RECIPES["synthetic"].pretrained is None


def test_batch_size_change_scales_lr_linearly_and_says_so():
    r, notes = recipes.resolve("ssv1", batch_size=64)
    assert r.lr == pytest.approx(0.02)
    assert len(notes) == 1 and "0.01 × 64/32" in notes[0]
    given, notes = recipes.resolve("ssv1", batch_size=64, lr=0.005)
    assert given.lr == 0.005 and notes == ()
    assert recipes.resolve("k400", batch_size=16)[0].lr == pytest.approx(0.0025)


def test_every_recipe_value_can_be_overridden():
    r, _ = recipes.resolve("diving48", epochs=3, weight_decay=1e-5, dropout=0.2, schedule="multistep",
                           milestones=[1, 2], clip_grad=200, num_segments=16, input_size=112)
    assert (r.epochs, r.weight_decay, r.dropout, r.schedule, r.milestones, r.clip_grad, r.num_segments,
            r.input_size) == \
        (3, 1e-5, 0.2, "multistep", (1, 2), 200, 16, 112)


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "ucf101"}, "unknown dataset"), ({"dataset": "ssv1", "schedule": "step"}, "schedule"),
    ({"dataset": "ssv1", "epochs": 0}, "epochs"), ({"dataset": "ssv1", "batch_size": 0}, "batch_size"),
    ({"dataset": "ssv1", "momentun": 0.5}, "unknown recipe field"),
])
def test_bad_recipe_values_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        recipes.resolve(**kwargs)


def test_multistep_decays_tenfold_at_each_milestone():
    lr = lambda e: multistep_lr(e, 0.01, (30, 40))
    assert [lr(0), lr(29.99), lr(30), lr(39.5), lr(40), lr(49)] == pytest.approx(
        [0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4])


def test_cosine_warms_up_linearly_then_follows_half_a_cosine():
    lr = lambda e: cosine_lr(e, 0.01, 30, 10)
    assert lr(0) == 0.0
    assert lr(5) == pytest.approx(0.005)
    assert lr(10) == pytest.approx(0.01)
    assert lr(20) == pytest.approx(0.005)
    assert lr(25) == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    assert lr(30) == pytest.approx(0.0, abs=1e-15)
    assert cosine_lr(0, 0.1, 10) == pytest.approx(0.1)  # no warm-up


def test_schedule_sets_the_lr_of_every_group_from_the_step():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [], "weight_decay": 0}], lr=1.0)
    s = Schedule("multistep", 0.1, 4, steps_per_epoch=10, milestones=[2])
    assert s.apply(opt, 19) == pytest.approx(0.1)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.1])
    assert s.apply(opt, 20) == pytest.approx(0.01)
    cos = Schedule("cosine", 0.1, 4, steps_per_epoch=10, warmup_epochs=1)
    assert cos.lr_at_step(5) == pytest.approx(0.05)


def test_schedule_state_round_trips_and_refuses_other_steps_per_epoch():
    s = Schedule("cosine", 0.1, 4, steps_per_epoch=10, warmup_epochs=1)
    s.last_step = 17
    t = Schedule("cosine", 0.1, 4, steps_per_epoch=10)
    t.load_state_dict(s.state_dict())
    assert t.last_step == 17 and t.warmup_epochs == 1 and t.lr_at_step(13) == s.lr_at_step(13)
    with pytest.raises(ValueError, match="10 steps per epoch, this run has 12"):
        Schedule("cosine", 0.1, 4, steps_per_epoch=12).load_state_dict(s.state_dict())
