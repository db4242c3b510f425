"""Anomaly-detection scores: hand-computed F1, point adjustment and best F1; AUC-PR
against sklearn's average_precision_score and a brute-force threshold search.

All quantities are ratios of integer counts computed in float64 by NumPy; the
comparisons with other implementations use rtol 1e-12."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from diffax.metrics import (accuracy, auc_pr, best_f1, f1_score, point_adjust,
                            point_adjusted_f1, precision_recall_f1)

#                  0  1  2  3  4  5  6  7  8  9
LABEL = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])  # segments [1, 3] and [6, 7]
PRED = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])  # hits segment 1 once, misses segment 2


def test_f1_precision_recall_accuracy_by_hand():
    # TP = 1 (step 2), FP = 2 (steps 0, 9), FN = 4 (1, 3, 6, 7).
    p, r, f = precision_recall_f1(PRED, LABEL)
    assert (p, r) == pytest.approx((1 / 3, 1 / 5))
    assert f == pytest.approx(2 * 1 / (2 * 1 + 2 + 4)) == f1_score(PRED, LABEL)
    assert accuracy(PRED, LABEL) == pytest.approx(4 / 10)  # steps 4, 5, 8 and 2


def test_degenerate_counts_give_zero():
    zeros = np.zeros(5, int)
    assert precision_recall_f1(zeros, np.array([0, 1, 0, 0, 0])) == (0.0, 0.0, 0.0)
    assert precision_recall_f1(np.array([1, 0, 0, 0, 0]), zeros) == (0.0, 0.0, 0.0)
    assert f1_score(zeros, zeros) == 0.0
    assert accuracy(zeros, zeros) == 1.0


def test_point_adjust_by_hand():
    adjusted = point_adjust(PRED, LABEL)
    assert adjusted.dtype == bool
    # Segment [1, 3] has a hit -> all flagged; segment [6, 7] untouched; FPs kept.
    np.testing.assert_array_equal(adjusted, [1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    # TP = 3, FP = 2, FN = 2: F1 = 6 / 10.
    assert point_adjusted_f1(PRED, LABEL) == pytest.approx(0.6)


def test_point_adjust_segments_at_the_ends():
    label = np.array([1, 1, 0, 1, 1])
    np.testing.assert_array_equal(point_adjust([0, 1, 0, 0, 0], label), [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(point_adjust([0, 0, 0, 0, 1], label), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(point_adjust([0, 0, 1, 0, 0], label), [0, 0, 1, 0, 0])
    assert point_adjust(np.ones(5, bool), np.zeros(5, bool)).all()


def test_best_f1_by_hand():
    scores = np.array([0.1, 0.9, 0.2, 0.3, 0.1, 0.8, 0.05, 0.4, 0.0, 0.2])
    # Thresholds (decreasing): 0.9: TP 1 FP 0 -> F1 2/(1+0+5) = 1/3; 0.8: TP 1 FP 1 ->
    # 2/7; 0.4: TP 2 FP 1 -> 4/8 = 1/2; 0.3: TP 3 FP 1 -> 6/9 = 2/3; 0.2: TP 4 FP 2 ->
    # 8/11; 0.1: TP 4 FP 4 -> 8/13; 0.05: TP 5 FP 4 -> 10/14; 0.0: 10/15.
    best = best_f1(scores, LABEL)
    assert best.f1 == pytest.approx(8 / 11)
    assert best.threshold == 0.2
    assert (best.precision, best.recall) == pytest.approx((4 / 6, 4 / 5))
    # Point-adjusted: segment maxima 0.9 ([1, 3], 3 steps) and 0.4 ([6, 7], 2 steps).
    # 0.9: TP 3 FP 0 -> 6/8; 0.8: TP 3 FP 1 -> 6/9; 0.4: TP 5 FP 1 -> 10/11.
    best = best_f1(scores, LABEL, point_adjusted=True)
    assert best.f1 == pytest.approx(10 / 11)
    assert best.threshold == 0.4
    assert (best.precision, best.recall) == pytest.approx((5 / 6, 1.0))


@pytest.mark.parametrize("point_adjusted", [False, True])
def test_best_f1_matches_brute_force(point_adjusted):
    rng = np.random.default_rng(0)
    labels = np.zeros(300, int)
    for start in rng.choice(290, 12, replace=False):
        labels[start:start + rng.integers(1, 10)] = 1
    scores = np.round(rng.random(300) + 0.5 * labels, 2)  # rounding makes ties
    f1s = []
    for t in np.unique(scores):
        pred = scores >= t
        f1s.append(point_adjusted_f1(pred, labels) if point_adjusted else f1_score(pred, labels))
    best = best_f1(scores, labels, point_adjusted=point_adjusted)
    np.testing.assert_allclose(best.f1, max(f1s), rtol=1e-12)
    ties = np.unique(scores)[np.isclose(f1s, max(f1s), rtol=1e-12)]
    assert best.threshold == ties.max()  # ties go to the largest threshold


def test_auc_pr_by_hand():
    # Decreasing scores 0.9 (1), 0.8 (0), 0.7 (1), 0.2 (0): AP = 1/2 * 1 + 1/2 * 2/3.
    assert auc_pr([0.8, 0.9, 0.2, 0.7], [0, 1, 0, 1]) == pytest.approx(0.5 + 1 / 3)
    # Tied scores enter together: one point with P = 1/2, R = 1.
    assert auc_pr([0.5, 0.5], [1, 0]) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
def test_auc_pr_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(500) < 0.1).astype(int)
    scores = rng.normal(size=500) + labels
    if seed % 2:
        scores = np.round(scores, 1)  # many ties
    np.testing.assert_allclose(auc_pr(scores, labels), average_precision_score(labels, scores),
                               rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match=r"pred must contain only 0 and 1, got 2 at index 1"):
        f1_score([0, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="must have the same length, got 3 and 2"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"label must be a non-empty 1-D array over time"):
        point_adjust(np.zeros(3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels contain no anomaly"):
        auc_pr([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="scores must be finite, got nan at index 1"):
        best_f1([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="point_adjusted must be True or False"):
        best_f1([0.1, 0.2], [0, 1], point_adjusted="yes")
