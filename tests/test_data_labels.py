"""Class names and the selective horizontal flip derived from them, on the real Something-Something V1 names."""

import pytest

from arc.data.labels import flip_map, flip_pairs, swap_left_right


def test_swap_left_right_keeps_case_and_whole_words():
    assert swap_left_right("Pushing something from left to right") == "Pushing something from right to left"
    assert swap_left_right("Left and Right") == "Right and Left"
    assert swap_left_right("Putting something upright on the table") is None
    assert swap_left_right("Holding something") is None


def test_selective_flip_of_the_real_ssv1_names_swaps_exactly_the_three_pairs(test_data):
    names = [s.strip() for s in (test_data / "something-something-v1-labels.csv").read_text().splitlines()
             if s.strip()]
    assert len(names) == 174
    classes = sorted(names)
    assert flip_pairs(classes) == [(86, 87), (93, 94), (166, 167)]
    assert classes[86] == "Pulling something from left to right"
    assert classes[167] == "Turning the camera right while filming something"
    m = flip_map(classes)
    # "pulling it right out" has the word but no partner: never flipped; "upright" is not the word
    unpaired = classes.index("Plugging something into something but pulling it right out as you remove your hand")
    assert m[unpaired] == -1
    assert m[classes.index("Putting something upright on the table")] == classes.index(
        "Putting something upright on the table")
    flipped_to_other = {i for i in range(174) if m[i] not in (i, -1)}
    assert flipped_to_other == {86, 87, 93, 94, 166, 167}
    assert sum(m == -1) == 1


def test_flip_policies_selective_always_never_and_unknown_refused():
    classes = ["Moving something left", "Moving something right", "Turning left", "Waving"]
    assert flip_map(classes).tolist() == [1, 0, -1, 3]
    assert flip_map(classes, "always").tolist() == [0, 1, 2, 3]
    assert flip_map(classes, "never").tolist() == [-1, -1, -1, -1]
    with pytest.raises(ValueError, match="policy"):
        flip_map(classes, "sometimes")
