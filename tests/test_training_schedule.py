"""Learning-rate schedules at known epochs, and their state across a resume."""

import math

import pytest
import torch

from arc.training.schedule import Schedule, cosine_lr, multistep_lr


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


def test_schedule_state_restores_the_step_keeps_its_own_length_and_refuses_other_steps_per_epoch():
    s = Schedule("cosine", 0.1, 4, steps_per_epoch=10, warmup_epochs=1)
    s.last_step = 17
    t = Schedule("cosine", 0.1, 4, steps_per_epoch=10, warmup_epochs=1)
    t.load_state_dict(s.state_dict())
    assert t.last_step == 17 and t.lr_at_step(13) == s.lr_at_step(13)
    longer = Schedule("cosine", 0.1, 8, steps_per_epoch=10, warmup_epochs=1)    # a resumed run, extended
    longer.load_state_dict(s.state_dict())
    assert longer.last_step == 17 and longer.lr_at_step(30) > s.lr_at_step(30)
    with pytest.raises(ValueError, match="10 steps per epoch, this run has 12"):
        Schedule("cosine", 0.1, 4, steps_per_epoch=12).load_state_dict(s.state_dict())
