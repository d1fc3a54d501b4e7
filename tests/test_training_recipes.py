"""The paper's recipes (Table 1) per dataset, overrides and the linear lr scaling."""

import pytest

from arc.data.registry import DATASETS
from arc.training import recipes


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




def test_the_paper_datasets_sample_as_tsm_and_the_short_synthetic_videos_uniformly():
    from arc.training.config import TrainConfig

    assert {name: recipes.RECIPES[name].sampling for name in ("ssv1", "diving48", "k400", "list")} == \
        dict.fromkeys(("ssv1", "diving48", "k400", "list"), "tsm")
    assert TrainConfig(dataset="synthetic").resolve()[0].sampling == "uniform"
    assert TrainConfig(dataset="synthetic", sampling="tsm").resolve()[0].sampling == "tsm"
