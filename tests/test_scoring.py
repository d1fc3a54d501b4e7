"""Scoring: multi-view probability averaging, top-1/5, mean class accuracy, the confusion matrix and its CSV."""

import csv

import numpy as np
import pytest
import torch

from arc.evaluation import write_per_class
from arc.runtime.distributed import Context
from arc.scoring import Scores, row_normalised, score, view_probs


class Fixed(torch.nn.Module):
    """A 'model' whose logits are the mean of each clip's pixels per class channel: `[B, T, C, 1, 1]` → `[B, C]`."""

    def forward(self, x):
        return x.mean(dim=(1, 3, 4))


def clips_with_logits(logits):
    """Clips `[B, V, T=2, C, 1, 1]` that `Fixed` scores as `logits [B, V, C]`."""
    t = torch.as_tensor(logits, dtype=torch.float32)
    return t[:, :, None, :, None, None].expand(*t.shape[:2], 2, t.shape[2], 1, 1).contiguous()


def test_views_are_averaged_as_probabilities_not_logits():
    logits = [[[4.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]        # one video, two views
    probs, logp = view_probs(Fixed(), clips_with_logits(logits))
    expected = torch.tensor(logits).softmax(-1).mean(1)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(logp, expected.log())
    single, log_single = view_probs(Fixed(), clips_with_logits([[[1.0, 2.0, 3.0]]]))
    torch.testing.assert_close(log_single, torch.tensor([[1.0, 2.0, 3.0]]).log_softmax(-1))


def test_mean_class_accuracy_averages_the_classes_that_occur():
    confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]])   # class 1 has no videos
    s = Scores(videos=8, correct1=5, confusion=confusion)
    assert s.mean_class_acc == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert s.top1 == pytest.approx(5 / 8)
    assert Scores(confusion=np.zeros((2, 2), dtype=np.int64)).mean_class_acc == 0.0


def test_score_counts_top1_top5_loss_confusion_and_passes_bad_samples_on():
    # 6 classes; video 0: true 2 predicted 2; video 1: true 0 predicted 5 (0 is 2nd); video 2: true 4, ranked last
    logits = torch.tensor([[0, 0, 9, 0, 0, 0], [8, 0, 0, 0, 0, 9], [5, 4, 3, 2, 1, 0]], dtype=torch.float32)
    labels = torch.tensor([2, 0, 5])
    batches = [(clips_with_logits(logits[:2, None]), labels[:2], torch.arange(2), ["bad.mp4"]),
               (clips_with_logits(logits[2:, None]), labels[2:], torch.arange(1), [])]
    seen = []
    s = score(Fixed(), batches, 6, Context(), on_bad=seen.append)
    assert (s.videos, s.correct1, s.correct5) == (3, 1, 2)
    assert s.loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-6)
    expected = np.zeros((6, 6), dtype=np.int64)
    expected[2, 2] = expected[0, 5] = expected[5, 0] = 1
    assert np.array_equal(s.confusion, expected)
    assert s.bad == seen == ["bad.mp4"]


def test_per_class_csv_has_one_row_per_class_and_leaves_absent_classes_empty(tmp_path):
    confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]])
    path = tmp_path / "per_class.csv"
    write_per_class(path, confusion, ["a", "b", "c"])
    rows = list(csv.reader(path.open()))
    assert rows == [["index", "name", "videos", "correct", "accuracy"], ["0", "a", "4", "3", "0.750000"],
                    ["1", "b", "0", "0", ""], ["2", "c", "4", "2", "0.500000"]]


def test_one_row_normalised_confusion_serves_validation_the_board_and_the_figures():
    from matplotlib import colormaps

    from arc.training.board import confusion_image
    from arc.viz.confusion import confusion_figure, group_matrix

    confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])   # rows = true class; class 1 has no videos
    fraction = row_normalised(confusion)
    np.testing.assert_array_equal(fraction, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert Scores(confusion=confusion).mean_class_acc == pytest.approx((0.75 + 0.5) / 2)
    image = confusion_image(confusion, side=3)   # one pixel per cell
    np.testing.assert_array_equal(image, (255 * colormaps["Blues"](fraction)[..., :3]).round().astype(np.uint8))
    np.testing.assert_array_equal(group_matrix(confusion, [0, 2]), [[0.75, 0], [0.25, 0.5]])
    figure = confusion_figure(confusion)
    np.testing.assert_array_equal(figure.axes[0].get_images()[0].get_array(), fraction)
