"""CSDI's CRPS, CRPS-sum, masked MAE/RMSE: hand-computed cases and a NumPy reference.

Float32 results are compared with rtol 1e-6 (a few float32 ulps over sums of < 100
terms); the float64 reference comparison uses rtol 1e-12."""

import numpy as np
import pytest

from diffax.metrics import (crps_quantile_csdi, crps_sum, masked_mae, masked_rmse,
                            sample_median, sample_quantiles)
from diffax.metrics.timeseries import CSDI_QUANTILE_LEVELS

LEVELS = np.arange(1, 20) / 20


def test_levels_are_csdis():
    np.testing.assert_allclose(CSDI_QUANTILE_LEVELS, np.arange(0.05, 1.0, 0.05), atol=1e-15)
    assert len(CSDI_QUANTILE_LEVELS) == 19


def test_crps_by_hand():
    # Samples 0..4 at one position: linear-interpolation quantile q_a = 4a. Target 2:
    # rho_a(2 - 4a) = a(2 - 4a) for a < 1/2, (1 - a)(4a - 2) for a > 1/2, 0 at 1/2; over
    # a = k/20 each half sums to 2 * 2.25 - 4 * 0.7125 = 1.65, so sum_a rho = 3.3 and
    # CRPS = 1/19 * 2 * 3.3 / |2| = 3.3 / 19.
    samples = np.arange(5.0)[:, None, None, None]
    got = crps_quantile_csdi(samples, np.full((1, 1, 1), 2.0), np.ones((1, 1, 1)))
    np.testing.assert_allclose(got, 3.3 / 19, rtol=1e-6)
    # Denormalised with scaler 2, mean 1: samples 1, 3, ..., 9, target 5, all losses
    # doubled: 1/19 * 2 * 6.6 / 5.
    got = crps_quantile_csdi(samples, np.full((1, 1, 1), 2.0), np.ones((1, 1, 1)), 1.0, 2.0)
    np.testing.assert_allclose(got, 13.2 / 95, rtol=1e-6)


def test_crps_ignores_unscored_positions():
    samples = np.stack([np.arange(5.0), np.full(5, np.nan)], axis=1)[:, None, :, None]
    target = np.array([2.0, 1e6]).reshape(1, 2, 1)
    mask = np.array([1.0, 0.0]).reshape(1, 2, 1)
    np.testing.assert_allclose(crps_quantile_csdi(samples, target, mask), 3.3 / 19, rtol=1e-6)
    # Sample order does not matter; the sample axis can be anywhere.
    moved = np.moveaxis(samples[::-1], 0, 1)
    np.testing.assert_allclose(crps_quantile_csdi(moved, target, mask, sample_axis=1),
                               3.3 / 19, rtol=1e-6)


def _reference_crps(samples, target, mask):
    """Direct NumPy transcription of the formula (not through weighted_quantile_loss)."""
    total = 0.0
    for a in LEVELS:
        q = np.quantile(samples, a, axis=0, method="linear")
        u = target - q
        total += 2 * np.sum(mask * np.maximum(a * u, (a - 1) * u)) / np.sum(mask * np.abs(target))
    return total / len(LEVELS)


def test_crps_matches_reference(x64):
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(30, 4, 8, 3))
    target = rng.normal(size=(4, 8, 3)) + 1.0
    mask = (rng.random((4, 8, 3)) < 0.4).astype(float)
    got = crps_quantile_csdi(samples, target, mask)
    np.testing.assert_allclose(got, _reference_crps(samples, target, mask), rtol=1e-12)
    # CRPS-sum: the same on the channel sums with weights mean_k m.
    got = crps_sum(samples, target, mask)
    expected = _reference_crps(samples.sum(-1), target.sum(-1), mask.mean(-1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_crps_sum_by_hand():
    # Step 0: both channels scored (w = 1); channel sums of the samples 0..4, target 2:
    # sum_a rho = 3.3 as above. Step 1: one of two channels scored (w = 1/2); samples
    # sum to 0, target 2: rho_a(2) = 2a, sum_a 2a = 19.
    # CRPS-sum = 1/19 * 2 (3.3 + 19 / 2) / (2 + 2 / 2) = 25.6 / 57.
    samples = np.zeros((5, 1, 2, 2))
    samples[:, 0, 0, 0] = np.arange(5.0)
    target = np.array([[[1.0, 1.0], [2.0, 0.0]]])
    mask = np.array([[[1.0, 1.0], [1.0, 0.0]]])
    np.testing.assert_allclose(crps_sum(samples, target, mask), 25.6 / 57, rtol=1e-6)


def test_sample_quantiles_linear_interpolation():
    q = sample_quantiles(np.array([0.0, 10.0, 20.0, 40.0]), [0.0, 0.25, 0.5, 0.9, 1.0])
    # h = 3a: 0 -> 0, 0.75 -> 7.5, 1.5 -> 15, 2.7 -> 20 + 0.7 * 20 = 34, 3 -> 40.
    np.testing.assert_allclose(q, [0.0, 7.5, 15.0, 34.0, 40.0], rtol=1e-6)


def test_sample_median_lower_and_midpoint():
    s = np.array([[4.0, 1.0], [1.0, 2.0], [3.0, 3.0], [2.0, 9.0]])  # (S=4, 2)
    np.testing.assert_array_equal(sample_median(s), [2.0, 2.0])  # lower middle value
    np.testing.assert_allclose(sample_median(s, method="midpoint"), [2.5, 2.5], rtol=1e-7)
    np.testing.assert_array_equal(sample_median(s[:3]), [3.0, 2.0])  # odd S: the middle
    with pytest.raises(ValueError, match="unknown method 'mean'"):
        sample_median(s, method="mean")


def test_mae_rmse_by_hand():
    # Median over 3 samples: [1, 5, 0]; target [2, 1, 100]; third position unscored.
    samples = np.array([[0.0, 5.0, 7.0], [1.0, 6.0, 0.0], [3.0, 4.0, -7.0]])[:, None]
    target = np.array([[2.0, 1.0, 100.0]])
    mask = np.array([[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(masked_mae(samples, target, mask), (1 + 4) / 2, rtol=1e-7)
    np.testing.assert_allclose(masked_rmse(samples, target, mask), np.sqrt((1 + 16) / 2),
                               rtol=1e-6)
    point = np.array([[1.0, 5.0, np.nan]])  # a point prediction; NaN where unscored
    np.testing.assert_allclose(masked_mae(point, target, mask, sample_axis=None), 2.5,
                               rtol=1e-7)
    np.testing.assert_allclose(masked_rmse(point, target, mask, sample_axis=None),
                               np.sqrt(8.5), rtol=1e-6)


def test_errors():
    samples, target, mask = np.zeros((3, 2, 4, 2)), np.ones((2, 4, 2)), np.ones((2, 4, 2))
    with pytest.raises(ValueError, match="eval_mask selects no position"):
        crps_quantile_csdi(samples, target, 0 * mask)
    with pytest.raises(ValueError, match="eval_mask must contain only 0 and 1"):
        masked_mae(samples, target, 0.5 * mask)
    with pytest.raises(ValueError, match="eval_mask of shape \\(3,\\) does not broadcast"):
        crps_sum(samples, target, np.ones(3))
    with pytest.raises(ValueError, match="samples must have one more axis"):
        crps_quantile_csdi(samples[0], target, mask)
    with pytest.raises(ValueError, match="samples must have shape \\(S, \\*\\(2, 4, 2\\)\\)"):
        masked_rmse(samples, target, mask, sample_axis=1)
    with pytest.raises(ValueError, match="scaler must be > 0"):
        crps_quantile_csdi(samples, target, mask, 0.0, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="time and a channel axis"):
        crps_sum(samples[:, 0, 0], target[0, 0], mask[0, 0])
    with pytest.raises(ValueError, match="point prediction .* target shape"):
        masked_mae(samples, target, mask, sample_axis=None)
