"""The scoring logic of :class:`experiments.tasks.anomaly.AnomalyTask` (pure NumPy, tested
on synthetic scores): per-window step errors assembled back onto the series, per-member
thresholds and ImDiffusion's ensemble vote, detection scores at a threshold and over all
thresholds, and the moving-average reconstruction baseline on whole series."""

from __future__ import annotations

import numpy as np

from diffax import metrics


def assemble_steps(values: np.ndarray, offsets: np.ndarray, weight: np.ndarray,
                   num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-window step values back on the stored series: ``values`` (..., N, L) of windows
    starting at stored rows ``offsets`` (N,), each step weighted by ``weight`` (N, L) >= 0
    (0: not counted). Returns ``(mean, count)``: (..., R) the weighted mean over the
    windows covering each row (0 where none) and (R,) the total weight of each row."""
    values = np.asarray(values, np.float64)
    n, length = weight.shape
    rows = (np.asarray(offsets)[:, None] + np.arange(length)).ravel()
    count = np.bincount(rows, weights=weight.ravel(), minlength=num_rows)
    lead = values.shape[:-2]
    flat = (values * weight).reshape(-1, n * length)
    sums = np.stack([np.bincount(rows, weights=f, minlength=num_rows) for f in flat])
    return (sums / np.maximum(count, 1)).reshape(*lead, num_rows), count


def member_thresholds(reference: np.ndarray, quantile: float) -> np.ndarray:
    """(M,) per-member thresholds: the ``quantile`` of each member's errors (M, n) on
    reference (normal) steps."""
    return np.quantile(np.asarray(reference, np.float64), quantile, axis=-1)


def vote_counts(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n,) number of members whose error (M, n) exceeds its threshold (M,)."""
    return np.sum(np.asarray(errors) > np.asarray(thresholds)[:, None], axis=0)


def vote_scores(votes: np.ndarray, labels: np.ndarray, members: int) -> dict:
    """F1 and point-adjusted F1 of the majority vote (votes > M / 2), and the best
    point-adjusted F1 over the vote level k (votes >= k, k = 1..M) with its k."""
    votes, labels = np.asarray(votes), np.asarray(labels)
    majority = votes > members / 2
    levels = [metrics.point_adjusted_f1(votes >= k, labels) for k in range(1, members + 1)]
    k = int(np.argmax(levels))
    return {"vote_f1": metrics.f1_score(majority, labels),
            "vote_pa_f1": metrics.point_adjusted_f1(majority, labels),
            "vote_best_pa_f1": float(levels[k]), "vote_best_level": k + 1}


def detection_scores(score: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Best F1 / point-adjusted F1 over every threshold (oracle), AUC-PR, and F1 /
    point-adjusted F1 / precision / recall of ``score > threshold``."""
    best = metrics.best_f1(score, labels)
    best_pa = metrics.best_f1(score, labels, point_adjusted=True)
    flagged = np.asarray(score) > threshold
    precision, recall, f1 = metrics.precision_recall_f1(flagged, labels)
    return {"best_f1": best.f1, "best_f1_threshold": best.threshold,
            "best_pa_f1": best_pa.f1, "best_pa_f1_threshold": best_pa.threshold,
            "auc_pr": metrics.auc_pr(score, labels),
            "fixed_f1": f1, "fixed_pa_f1": metrics.point_adjusted_f1(flagged, labels),
            "fixed_precision": precision, "fixed_recall": recall,
            "fixed_threshold": float(threshold)}


def series_baseline(dataset) -> np.ndarray:
    """(R,) :func:`diffax.baselines.timeseries.reconstruction_error_scores` of every
    stored series of ``dataset`` as a whole (no window edges)."""
    from diffax.baselines import timeseries as base

    out = np.zeros(dataset.values.shape[0])
    first = dataset.offsets - dataset.start
    for s in np.unique(dataset.series_index):
        pick = dataset.series_index == s
        lo, hi = int(first[pick][0]), int(first[pick][0] + dataset.start[pick].max()
                                          + dataset.length)
        out[lo:hi] = base.reconstruction_error_scores(dataset.values[None, lo:hi],
                                                      dataset.mask[None, lo:hi])[0]
    return out


__all__ = ["assemble_steps", "detection_scores", "member_thresholds", "series_baseline",
           "vote_counts", "vote_scores"]
