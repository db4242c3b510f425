"""Time-series anomaly detection scores (NumPy, on the host).

Inputs are 1-D over time: ``label`` / ``labels`` in {0, 1} (1 = anomalous step),
``pred`` in {0, 1} (1 = flagged), ``scores`` real (higher = more anomalous); a test set
of several series is scored on their concatenation (a segment never crosses a series
boundary if the series are separated, e.g. scored one by one).

* precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN),
  each 0 where its denominator is 0;
* point adjustment (Xu et al., 2018, "Unsupervised Anomaly Detection via Variational
  Auto-Encoder for Seasonal KPIs in Web Applications", Sec. 4.2): if any step of a true
  anomalous segment (a maximal run of label 1) is flagged, the whole segment counts as
  flagged; steps outside anomalies are left alone. ImDiffusion (Chen et al., 2023) and
  most deep detectors report the point-adjusted F1;
* best F1: the F1 maximised over the threshold of ``pred = scores >= threshold``, over
  every distinct score (exact, O(n log n));
* AUC-PR: average precision, AP = sum_n (R_n - R_{n-1}) P_n over the distinct scores
  in decreasing order (step-wise, no interpolation; R_0 = 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BestF1", "accuracy", "auc_pr", "best_f1", "f1_score", "point_adjust",
           "point_adjusted_f1", "precision_recall_f1"]


def _binary(fn: str, name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fn}: {name} must be a non-empty 1-D array over time, got shape "
                         f"{a.shape}.")
    if a.dtype != bool:
        bad = (a != 0) & (a != 1)
        if bad.any():
            raise ValueError(f"{fn}: {name} must contain only 0 and 1, got "
                             f"{a[bad][0].item()!r} at index {int(np.flatnonzero(bad)[0])}.")
    return a.astype(bool)


def _pair(fn: str, first: str, a, b) -> tuple[np.ndarray, np.ndarray]:
    if first == "scores":
        x = np.asarray(a, dtype=np.float64)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"{fn}: scores must be a non-empty 1-D array over time, got "
                             f"shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{fn}: scores must be finite, got {x[~np.isfinite(x)][0]} at "
                             f"index {int(np.flatnonzero(~np.isfinite(x))[0])}.")
        label = _binary(fn, "labels", b)
        if not label.any():
            raise ValueError(f"{fn}: labels contain no anomaly; the score is undefined.")
    else:
        x = _binary(fn, first, a)
        label = _binary(fn, "label", b)
    if x.shape != label.shape:
        raise ValueError(f"{fn}: {first} and the labels must have the same length, got "
                         f"{x.shape[0]} and {label.shape[0]}.")
    return x, label


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def _scores(fn: str, pred, label) -> tuple[float, float, float]:
    pred, label = _pair(fn, "pred", pred, label)
    tp = int(np.sum(pred & label))
    fp = int(np.sum(pred & ~label))
    fn_ = int(np.sum(~pred & label))
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn_), _ratio(2 * tp, 2 * tp + fp + fn_)


def precision_recall_f1(pred, label) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` of the flagged steps (module docstring; 0 where a
    denominator is 0, e.g. F1 = 0 when nothing is flagged or nothing is anomalous)."""
    return _scores("precision_recall_f1", pred, label)


def f1_score(pred, label) -> float:
    """F1 = 2 TP / (2 TP + FP + FN) = 2 P R / (P + R) of the flagged steps (0 if TP = 0)."""
    return _scores("f1_score", pred, label)[2]


def accuracy(pred, label) -> float:
    """Fraction of steps where ``pred`` equals ``label``."""
    pred, label = _pair("accuracy", "pred", pred, label)
    return float(np.mean(pred == label))


def _segments(label: np.ndarray) -> tuple[np.ndarray, int]:
    """Segment id per step (1..n for the n anomalous segments in time order, 0 outside
    them) and n."""
    starts = label & ~np.concatenate([[False], label[:-1]])
    ids = np.cumsum(starts) * label
    return ids, int(starts.sum())


def point_adjust(pred, label) -> np.ndarray:
    """Point adjustment (Xu et al., 2018): ``pred`` with every true anomalous segment
    that has at least one flagged step flagged entirely,

        pred'_t = pred_t or (label_t and exists s in segment(t): pred_s).

    Returns a bool array of the same length."""
    pred, label = _pair("point_adjust", "pred", pred, label)
    ids, n = _segments(label)
    detected = np.bincount(ids, weights=pred & label, minlength=n + 1) > 0
    detected[0] = False  # id 0 = outside anomalies: not adjusted
    return pred | detected[ids]


def point_adjusted_f1(pred, label) -> float:
    """F1 after :func:`point_adjust`."""
    return f1_score(point_adjust(pred, label), label)


class BestF1(NamedTuple):
    """Best F1 over thresholds, with its precision, recall and threshold
    (``pred = scores >= threshold``)."""
    f1: float
    precision: float
    recall: float
    threshold: float


def best_f1(scores, labels, *, point_adjusted: bool = False) -> BestF1:
    """F1 maximised over the threshold of ``pred = scores >= threshold`` (every distinct
    score is tried, so the search is exact), without or with point adjustment.

    For a threshold tau, FP(tau) = #{normal t: s_t >= tau} and
    TP(tau) = #{anomalous t: s_t >= tau}, or with point adjustment
    TP(tau) = sum over segments with max_{t in seg} s_t >= tau of |seg|; both come from
    sorted scores, so all thresholds cost O(n log n). F1 = 2 TP / (TP + FP + P), P the
    number of anomalous steps. Ties go to the largest threshold.

    Args:
      scores: (n,) finite anomaly scores.
      labels: (n,) in {0, 1}, with at least one anomaly.
      point_adjusted: score after :func:`point_adjust`.
    Returns:
      :class:`BestF1` ``(f1, precision, recall, threshold)``.
    """
    fn = "best_f1"
    if not isinstance(point_adjusted, (bool, np.bool_)):
        raise ValueError(f"{fn}: point_adjusted must be True or False, got "
                         f"point_adjusted={point_adjusted!r}.")
    scores, labels = _pair(fn, "scores", scores, labels)
    thresholds = np.unique(scores)[::-1]  # decreasing
    normal = np.sort(scores[~labels])
    fp = normal.size - np.searchsorted(normal, thresholds, side="left")
    if point_adjusted:
        ids, n = _segments(labels)
        seg_max = np.full(n + 1, -np.inf)
        np.maximum.at(seg_max, ids, scores)
        seg_len = np.bincount(ids, minlength=n + 1)
        order = np.argsort(seg_max[1:])
        maxima = seg_max[1:][order]
        # suffix[i] = total length of the segments whose maximum is >= maxima[i].
        suffix = np.concatenate([np.cumsum(seg_len[1:][order][::-1])[::-1], [0]])
        tp = suffix[np.searchsorted(maxima, thresholds, side="left")]
    else:
        anomalous = np.sort(scores[labels])
        tp = anomalous.size - np.searchsorted(anomalous, thresholds, side="left")
    positives = int(labels.sum())
    f1 = 2.0 * tp / (tp + fp + positives)
    i = int(np.argmax(f1))
    return BestF1(float(f1[i]), _ratio(tp[i], tp[i] + fp[i]), _ratio(tp[i], positives),
                  float(thresholds[i]))


def auc_pr(scores, labels) -> float:
    """Area under the precision-recall curve as average precision,

        AP = sum_n (R_n - R_{n-1}) P_n,   R_0 = 0,

    where n runs over the distinct scores in decreasing order and (P_n, R_n) are the
    precision and recall of ``scores >= score_n`` (step-wise: no interpolation between
    operating points; tied scores enter together).

    Args:
      scores: (n,) finite anomaly scores.
      labels: (n,) in {0, 1}, with at least one anomaly.
    Returns:
      AP in [0, 1].
    """
    scores, labels = _pair("auc_pr", "scores", scores, labels)
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    last_of_tie = np.concatenate([np.flatnonzero(np.diff(ranked) != 0), [ranked.size - 1]])
    tp = np.cumsum(hits)[last_of_tie]
    flagged = last_of_tie + 1
    precision = tp / flagged
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
