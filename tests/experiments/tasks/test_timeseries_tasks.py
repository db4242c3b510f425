"""The time-series tasks: CSDI's target strategies as batch transforms, forecasting
targets, and scores that are exact ratios of per-batch sums (so evaluating in chunks
gives the number CSDI computes on the whole split)."""

import types

import jax
import numpy as np
import pytest

from configs.timeseries import defaults
from diffax import metrics
from diffax.data import get_dataset
from experiments.tasks import get_task


@pytest.fixture(scope="module")
def co2():
    config = defaults.get_config()
    config.task.scaling = "standardize"  # the level and the scale (defaults: level only)
    dataset = get_dataset("ts:co2", split="train", **dict(config.data.kwargs))
    return config, dataset, dataset.get(np.arange(0, 96, 3))


def _spec(task, config, dataset, batch):
    return task.spec(config, dataset, batch)


def test_imputation_batches_hide_observed_values_and_give_the_rest(co2):
    config, dataset, batch = co2
    task = get_task("ts_imputation", config)
    spec = _spec(task, config, dataset, batch)
    assert spec.condition == ("observed_mask", "time") and spec.masks == ("observed_mask",)
    observed = batch["observed_mask"]
    assert observed.min() == 0  # co2 has real gaps in these windows
    out = task.batch_transform(config, spec, train=True)(batch, jax.random.PRNGKey(0))
    assert sorted(out) == ["cond_mask", "cond_values", "loss_mask", "time", "x"]
    target, cond = np.asarray(out["loss_mask"]), np.asarray(out["cond_mask"])
    assert np.all(target <= observed) and np.all(cond == observed * (1 - target))
    np.testing.assert_array_equal(out["cond_values"], np.asarray(out["x"]) * cond)
    # standardized: each window and channel by the mean and standard deviation of its
    # conditioning values only (float32: a few ulp of values of order 1)
    level, scale = _stats(batch, {"cond_mask": cond})
    np.testing.assert_allclose(out["x"], (batch["x"] - level) / scale, rtol=1e-5, atol=1e-5)
    config.task.scaling = "none"
    plain = task.batch_transform(config, spec, train=True)(batch, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(plain["x"], batch["x"])
    np.testing.assert_array_equal(plain["loss_mask"], out["loss_mask"])
    config.task.scaling = "standardize"
    # training draws a ratio per window: the hidden fractions spread over (0, 1)
    frac = target.sum((1, 2)) / observed.sum((1, 2))
    assert frac.min() < 0.3 and frac.max() > 0.7
    # evaluation hides exactly round(rate * observed) values of each window
    config.task.missing_rate = 0.5
    held = task.batch_transform(config, spec, train=False)(batch, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(held["loss_mask"]).sum((1, 2)),
                                  np.round(0.5 * observed.sum((1, 2))))


def test_forecasting_targets_are_the_observed_values_of_the_horizon(co2):
    config, dataset, batch = co2
    task = get_task("ts_forecasting", config)
    config.task.horizon = 13
    spec = _spec(task, config, dataset, batch)
    out = task.batch_transform(config, spec, train=True)(batch, jax.random.PRNGKey(0))
    expected = np.zeros_like(batch["observed_mask"])
    expected[:, -13:] = batch["observed_mask"][:, -13:]
    np.testing.assert_array_equal(out["loss_mask"], expected)


def _summaries(task, samples, batch, cond, dataset, cuts):
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        pick = lambda tree: {k: v[lo:hi] for k, v in tree.items()}
        parts.append(task.summarize(samples[:, lo:hi], pick(batch), pick(cond), dataset))
    return parts


def test_scores_in_chunks_equal_the_scores_of_the_whole_split():
    """CRPS (CSDI's), CRPS-sum and MAE/RMSE are ratios of sums: scoring three chunks
    equals scoring everything at once and equals diffax.metrics on all of it (float32
    sums in another order: relative 1e-5)."""
    rng = np.random.default_rng(0)
    b, length, k, draws = 12, 10, 3, 16
    dataset = types.SimpleNamespace(mean=np.array([5.0, -2.0, 30.0]),
                                    std=np.array([2.0, 0.5, 4.0]))
    x = rng.normal(size=(b, length, k)).astype(np.float32)
    observed = (rng.uniform(size=x.shape) < 0.9).astype(np.float32)
    cond_mask = observed * (rng.uniform(size=x.shape) < 0.5)
    samples = (x + 0.5 * rng.normal(size=(draws, *x.shape))).astype(np.float32)
    batch = {"x": x, "observed_mask": observed}
    cond = {"cond_mask": cond_mask}
    task = get_task("ts_imputation", defaults.get_config())
    whole = task.score(_summaries(task, samples, batch, cond, dataset, [0, b]), dataset)
    chunks = task.score(_summaries(task, samples, batch, cond, dataset, [0, 5, 7, b]), dataset)
    target = observed * (1 - cond_mask)
    truth = x * dataset.std + dataset.mean
    direct = {"crps": metrics.crps_quantile_csdi(samples, x, target, dataset.mean, dataset.std),
              "crps_sum": metrics.crps_sum(samples, x, target, dataset.mean, dataset.std),
              "mae": metrics.masked_mae(samples * dataset.std + dataset.mean, truth, target),
              "rmse": metrics.masked_rmse(samples * dataset.std + dataset.mean, truth, target)}
    for name, value in direct.items():
        np.testing.assert_allclose(whole[name], float(value), rtol=1e-5)
        np.testing.assert_allclose(chunks[name], float(value), rtol=1e-5)
    assert whole["num_targets"] == chunks["num_targets"] == int(target.sum())
    for base in ("baseline_mean", "baseline_linear_interpolation"):
        np.testing.assert_allclose(chunks[base]["mae"], whole[base]["mae"], rtol=1e-5)
        # a point prediction's CRPS is its absolute error over sum |y|
        np.testing.assert_allclose(
            whole[base]["crps"] * np.sum(target * np.abs(truth)),
            whole[base]["mae"] * target.sum(), rtol=1e-5)


def test_draws_equal_to_the_truth_score_zero_and_beat_every_baseline():
    rng = np.random.default_rng(1)
    dataset = types.SimpleNamespace(mean=np.array([1.0]), std=np.array([3.0]))
    x = np.cumsum(rng.normal(size=(4, 20, 1)), axis=1).astype(np.float32)
    observed = np.ones_like(x)
    cond_mask = (rng.uniform(size=x.shape) < 0.5).astype(np.float32)
    task = get_task("ts_imputation", defaults.get_config())
    score = task.score([task.summarize(np.stack([x] * 8), {"x": x, "observed_mask": observed},
                                       {"cond_mask": cond_mask}, dataset)], dataset)
    # zero up to float32 rounding of the denormalised quantiles (values of order 10)
    assert score["crps"] < 1e-6 and score["mae"] < 1e-5 and score["rmse"] < 1e-5
    assert min(score["baseline_mean"]["mae"], score["baseline_linear_interpolation"]["mae"]) > 0


def test_scaled_draws_are_mapped_back_before_scoring(co2):
    """Draws equal to the standardized held-out windows (what a perfect model gives in
    its window coordinates) score zero: evaluation maps each window back."""
    config, dataset, batch = co2
    task = get_task("ts_imputation", config)
    cond = task.eval_condition(config, batch, jax.random.PRNGKey(3))
    level, scale = _stats(batch, cond)
    perfect = (batch["x"] - level) / scale
    score = task.score([task.summarize(np.stack([perfect] * 4), batch, cond, dataset)], dataset)
    assert score["mae"] < 1e-3 and score["crps"] < 1e-5  # float32 values of order 300 ppm
    unmapped = task.score([task.summarize(np.stack([batch["x"]] * 4), batch, cond, dataset)],
                          dataset)
    assert unmapped["mae"] > 1.0  # the level and scale would be applied twice


def _stats(batch, cond):
    c = np.asarray(cond["cond_mask"])
    n = c.sum(1, keepdims=True)
    level = (batch["x"] * c).sum(1, keepdims=True) / np.maximum(n, 1)
    std = np.sqrt((c * (batch["x"] - level) ** 2).sum(1, keepdims=True) / np.maximum(n, 1))
    return level, np.where(n > 1, np.maximum(std, 1e-2), 1.0)
