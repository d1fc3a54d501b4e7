"""The files `arc eval` writes per video (`arc.submission`), read back as a user or a benchmark server reads them:
video ids as the benchmarks know them, scores without pickle, one CSV row per video, SSv1 `id;class` lines."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from arc.files import WriteError
from arc.submission import video_id, write_predictions, write_scores, write_submission

CLASSES = ["Pushing something", "Pulling something", "Shaking something"]
IDS = ["1001", "vid_07", "a/b/c"]
PROBS = np.array([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8], [0.3, 0.4, 0.3]], dtype=np.float64)


@pytest.mark.parametrize("path,root,expected", [
    ("/data/sthv1/20bn-something-something-v1/12345", None, "12345"),        # SSv1: the frame folder's name
    ("/data/diving48/rgb/_8Vy3dlHg2w_00000.mp4", None, "_8Vy3dlHg2w_00000"),   # Diving48: the file without suffix
    ("/k400/val/abseiling/0wR5jVB-WPk_000417_000427.MP4", None, "0wR5jVB-WPk_000417_000427"),   # any case
    ("/k400/val/x.y_000001_000011.webm", None, "x.y_000001_000011"),
    ("/data/frames/clip.v2", None, "clip.v2"),                      # a folder whose name has a dot keeps it
    ("/data/own/videos/cooking/a.mp4", "/data/own", "videos/cooking/a.mp4"),   # lists: relative to their root
    ("/elsewhere/a.mp4", "/data/own", "/elsewhere/a.mp4"),          # outside the root: the path as given
])
def test_video_ids_are_the_names_benchmarks_know_videos_by(path, root, expected):
    assert video_id(path, root) == expected


def test_scores_read_back_without_pickle_in_the_documented_dtypes(tmp_path):
    write_scores(tmp_path / "s.npz", IDS, PROBS, np.array([0, 2, -1]), CLASSES)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["classes", "ids", "labels", "probs"]
        assert f["ids"].tolist() == IDS and f["classes"].tolist() == CLASSES
        assert f["probs"].dtype == np.float32 and np.array_equal(f["probs"], PROBS.astype(np.float32))
        assert f["labels"].dtype == np.int64 and f["labels"].tolist() == [0, 2, -1]


def test_predictions_have_one_row_per_video_with_the_predicted_class_probability(tmp_path):
    write_predictions(tmp_path / "p.csv", IDS, PROBS, np.array([0, 1, -1]), np.array([0, 2, 1]), CLASSES)
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["id", "label", "label_name", "predicted", "predicted_name", "probability"],
                    ["1001", "0", "Pushing something", "0", "Pushing something", "0.700000"],
                    ["vid_07", "1", "Pulling something", "2", "Shaking something", "0.800000"],
                    ["a/b/c", "", "", "1", "Pulling something", "0.400000"]]       # label unknown: left empty


def test_the_submission_is_one_id_semicolon_class_line_per_video_in_order(tmp_path):
    write_submission(tmp_path / "sub.csv", IDS, np.array([2, 0, 1]), CLASSES)
    assert (tmp_path / "sub.csv").read_bytes() == (b"1001;Shaking something\nvid_07;Pushing something\n"
                                                   b"a/b/c;Pulling something\n")


def test_rows_and_ids_that_do_not_match_write_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_submission(tmp_path / "sub.csv", IDS, np.array([2, 0]), CLASSES)
    with pytest.raises(ValueError):
        write_predictions(tmp_path / "p.csv", IDS, PROBS[:2], np.array([0, 1]), np.array([0, 2]), CLASSES)
    assert list(tmp_path.iterdir()) == []                   # no half file, no temporary


def test_a_file_that_cannot_be_written_is_one_write_error_naming_it(tmp_path):
    (tmp_path / "sub.csv").mkdir()
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'sub.csv'}: Is a directory"):
        write_submission(tmp_path / "sub.csv", IDS, np.array([2, 0, 1]), CLASSES)
