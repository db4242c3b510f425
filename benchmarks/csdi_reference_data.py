"""The data side of benchmarks/csdi_reference.py: the windows and evaluation masks both
models share, and the scores of every set of draws with diffax's metrics only.

* :func:`export_windows`: diffax's training windows, its held-out windows, their
  observed masks and the evaluation masks the ``ts_imputation`` task draws (chunks of
  ``data.batch_size`` windows, key ``fold_in(PRNGKey(seed + 20000), chunk)``, as
  ``experiments.evaluation.conditional_metrics``), written to one ``.npz``.
* :func:`score`: CRPS (``diffax.metrics.crps_quantile_csdi``, CSDI's 19 quantile
  levels), MAE and RMSE of the median, in data units, on the hidden values
  (observed and not given as conditioning); :func:`score_point` the same for one point
  prediction, whose CRPS is its normalised absolute error.
"""

from __future__ import annotations

import jax
import numpy as np


def export_windows(config, path: str) -> dict:
    """Training and held-out windows and the task's evaluation masks (.npz at ``path``)."""
    from experiments import runner

    train = runner.build(config)
    test = runner.build(config, split=config.eval.split)
    tr = train.examples(np.arange(train.dataset.num_examples))
    total = test.dataset.num_examples
    rows = min(int(config.data.batch_size), total)
    parts = {"x": [], "observed_mask": [], "time": [], "cond_mask": []}
    config.eval.num_batches = -(-total // rows)  # conditional_metrics: every window
    for i in range(config.eval.num_batches):
        index = np.arange(i * rows, (i + 1) * rows)
        real = int(np.sum(index < total))
        batch = test.examples(np.minimum(index, total - 1))
        cond = test.task.eval_condition(config, batch, jax.random.fold_in(
            jax.random.PRNGKey(config.seed + 20_000), i))
        for k in ("x", "observed_mask", "time"):
            parts[k].append(np.asarray(batch[k])[:real])
        parts["cond_mask"].append(np.asarray(cond["cond_mask"])[:real])
    te = {k: np.concatenate(v) for k, v in parts.items()}
    data = {"train_x": np.asarray(tr["x"], np.float32),
            "train_observed_mask": np.asarray(tr["observed_mask"], np.float32),
            "train_time": np.asarray(tr["time"], np.float32),
            "test_x": te["x"].astype(np.float32),
            "test_observed_mask": te["observed_mask"].astype(np.float32),
            "test_time": te["time"].astype(np.float32),
            "test_cond_mask": te["cond_mask"].astype(np.float32),
            "test_target_mask": (te["observed_mask"] * (1 - te["cond_mask"])).astype(
                np.float32),
            "mean": np.asarray(test.dataset.mean, np.float64),
            "std": np.asarray(test.dataset.std, np.float64)}
    np.savez(path, **data)
    return data


# ---- scoring (both models) ----------------------------------------------------------------

def score(samples: np.ndarray, data: dict) -> dict:
    """CRPS / MAE / RMSE (data units) of draws (S, M, L, K) in normalised units on the
    hidden values, with diffax.metrics only."""
    from diffax import metrics

    x, target = data["test_x"], data["test_target_mask"]
    mean, std = data["mean"], data["std"]
    pred, truth = samples * std + mean, x * std + mean
    return {"crps": float(metrics.crps_quantile_csdi(samples, x, target, mean, std)),
            "mae": float(metrics.masked_mae(pred, truth, target)),
            "rmse": float(metrics.masked_rmse(pred, truth, target)),
            # median over the hidden values of the draws' standard deviation (data units)
            "spread_median": float(np.median(pred.std(axis=0)[target > 0]))}


def score_point(pred: np.ndarray, data: dict) -> dict:
    """A point prediction (M, L, K), normalised: its CRPS is its absolute error."""
    from diffax import metrics

    x, target, mean, std = data["test_x"], data["test_target_mask"], data["mean"], data["std"]
    mae = float(metrics.masked_mae(pred * std + mean, x * std + mean, target, sample_axis=None))
    crps = mae * float(target.sum()) / float(np.sum(target * np.abs(x * std + mean)))
    return {"crps": crps, "mae": mae, "rmse": float(metrics.masked_rmse(
        pred * std + mean, x * std + mean, target, sample_axis=None))}
