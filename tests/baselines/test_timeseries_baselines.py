"""Time-series baselines on small arrays with hand-computed outputs.

Expected values are exact in float32 where the arithmetic is (means of small integers
that are binary fractions, interpolation at halves); elsewhere rtol 1e-6 covers the
float64 computation rounded once to float32."""

import numpy as np
import pytest

from diffax.baselines import (last_value_forecast, linear_forecast, linear_interpolate,
                              mean_impute, reconstruction_error_scores,
                              seasonal_naive_forecast)

NAN = np.nan


def _col(*values):
    """A (1, L, 1) float32 array."""
    return np.array(values, np.float32).reshape(1, -1, 1)


def _two_channels():
    # Example with two channels over 5 steps; target at steps 1 and 3 of channel 0,
    # channel 1 observed only at steps 0 and 4 (step 4 is a target).
    x = np.array([[[1.0, 10.0], [NAN, NAN], [3.0, NAN], [NAN, NAN], [7.0, 20.0]]],
                 np.float32)
    obs = np.array([[[1, 1], [1, 0], [1, 0], [1, 0], [1, 1]]], np.float32)
    tgt = np.array([[[0, 0], [1, 0], [0, 0], [1, 0], [0, 1]]], np.float32)
    x = np.where(tgt > 0, 1e9, x)  # target values must never be read
    x[0, 1, 0], x[0, 3, 0] = 123.0, -5.0
    return x, obs, tgt


def test_mean_impute():
    x, obs, tgt = _two_channels()
    got = mean_impute(x, obs, tgt)
    assert got.shape == x.shape and got.dtype == np.float32
    # Channel 0: mean of 1, 3, 7 = 11/3; channel 1: only 10 conditions.
    expected = np.array([[[1, 10], [11 / 3, 10], [3, 10], [11 / 3, 10], [7, 10]]], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_mean_impute_channel_without_conditioning_is_zero():
    x = np.ones((2, 3, 2), np.float32) * 4
    obs = np.ones_like(x)
    tgt = np.zeros_like(x)
    tgt[1, :, 1] = 1
    got = mean_impute(x, obs, tgt)
    np.testing.assert_array_equal(got[1, :, 1], 0.0)
    np.testing.assert_array_equal(got[0], 4.0)


def test_linear_interpolate():
    x, obs, tgt = _two_channels()
    got = linear_interpolate(x, obs, tgt)
    # Channel 0: 1, (1+3)/2, 3, (3+7)/2, 7; channel 1: constant 10 after its only value.
    expected = np.array([[[1, 10], [2, 10], [3, 10], [5, 10], [7, 10]]], np.float32)
    np.testing.assert_array_equal(got, expected)


def test_linear_interpolate_ends_and_uneven_gaps():
    x = _col(NAN, 2.0, NAN, NAN, 8.0, NAN)
    obs = (~np.isnan(x)).astype(np.float32)
    got = linear_interpolate(x, obs, np.zeros_like(x))
    # Constant before 2 and after 8; 2 + (8 - 2) / 3 * (1, 2) inside.
    np.testing.assert_array_equal(got.ravel(), [2, 2, 4, 6, 8, 8])


def test_last_value_forecast():
    x = _col(NAN, 2.0, 5.0, NAN, 1e9, 1e9)
    obs = _col(0, 1, 1, 0, 1, 1)
    tgt = _col(0, 0, 0, 0, 1, 1)  # forecast the last 2 steps
    got = last_value_forecast(x, obs, tgt)
    # Step 0 takes the first value; steps 3..5 repeat the last context value.
    np.testing.assert_array_equal(got.ravel(), [2, 2, 5, 5, 5, 5])


def test_seasonal_naive_forecast():
    x = _col(1, 2, 3, 4, 5, 6, 0, 0, 0, 0)
    obs = np.ones_like(x)
    tgt = _col(0, 0, 0, 0, 0, 0, 1, 1, 1, 1)
    got = seasonal_naive_forecast(x, obs, tgt, period=3)
    # The last season (4, 5, 6) repeated: t = 6..9 -> 4, 5, 6, 4.
    np.testing.assert_array_equal(got.ravel(), [1, 2, 3, 4, 5, 6, 4, 5, 6, 4])
    # Period 1 is the naive forecast.
    np.testing.assert_array_equal(seasonal_naive_forecast(x, obs, tgt, period=1),
                                  last_value_forecast(x, obs, tgt))


def test_seasonal_naive_skips_missing_and_falls_back():
    x = _col(1, 2, 3, 4, NAN, 6, 0, 0)
    obs = _col(1, 0, 1, 1, 0, 1, 1, 1)
    tgt = _col(0, 0, 0, 0, 0, 0, 1, 1)
    got = seasonal_naive_forecast(x, obs, tgt, period=2)
    # Phase 0 (t even): 1, 3, [4 missing -> 3], t=6 -> 3. Phase 1: t=1 has no earlier
    # same-phase value -> last value 1; t=3: 4; t=5: 6; t=7: 6.
    np.testing.assert_array_equal(got.ravel(), [1, 1, 3, 4, 3, 6, 3, 6])


def test_linear_forecast_trend():
    x = _col(1, 4, 5, 7, 0, 0)
    obs = np.ones_like(x)
    tgt = _col(0, 0, 0, 0, 1, 1)
    # Fit on t = 0..3: t_mean 1.5, y_mean 4.25, slope = sum dt dy / sum dt^2 = 9.5 / 5
    # = 1.9; forecast 4.25 + 1.9 (t - 1.5).
    got = linear_forecast(x, obs, tgt)
    np.testing.assert_allclose(got.ravel(), [1, 4, 5, 7, 4.25 + 1.9 * 2.5, 4.25 + 1.9 * 3.5],
                               rtol=1e-6)


def test_linear_forecast_degenerate_channels():
    x = np.array([[[3.0, 1.0], [0.0, 0.0], [0.0, 0.0]]], np.float32)
    obs = np.array([[[1, 0], [0, 0], [0, 0]]], np.float32)
    got = linear_forecast(x, obs, np.zeros_like(x))
    # One conditioning value: that constant; none: 0.
    np.testing.assert_array_equal(got[0], [[3, 0], [3, 0], [3, 0]])


def test_linear_forecast_with_ar_continues_the_pattern():
    # Context c_t = 1, -1, -1, 1, ... (c_t = -c_{t-2}, an AR(2) with phi = (0, -1)) on a
    # trend 2 + 0.5 t. Over t = 0..7, sum c = sum t c = 0, so the least-squares trend is
    # exactly 2 + 0.5 t and the residual is c; AR(2) with a tiny ridge recovers phi.
    t = np.arange(12)
    c = np.tile([1.0, -1.0, -1.0, 1.0], 3)
    x = (2 + 0.5 * t + c).astype(np.float32).reshape(1, 12, 1)
    obs = np.ones_like(x)
    tgt = (t >= 8).astype(np.float32).reshape(1, 12, 1)
    trend_only = linear_forecast(x, obs, tgt)
    np.testing.assert_allclose(trend_only.ravel()[8:], 2 + 0.5 * t[8:], rtol=1e-6)
    got = linear_forecast(x, obs, tgt, ar_order=2, ridge=1e-9)
    # Ridge bias ~ 1e-9 / 6 relative; the output is float32: rtol 1e-5.
    np.testing.assert_allclose(got, x, rtol=1e-5)


def test_reconstruction_error_scores():
    x = _col(0.0, 0.0, 0.0, 5.0, 0.0, 0.0)
    got = reconstruction_error_scores(x, half_width=1)
    # Spike at t=3: its neighbours average 0 -> 25; t=2 and t=4 see (0 + 5) / 2 -> 6.25.
    np.testing.assert_array_equal(got, [[0, 0, 6.25, 25, 6.25, 0]])
    assert got.dtype == np.float32


def test_reconstruction_error_scores_with_mask_and_channels():
    x = np.array([[[1.0, 0.0], [3.0, NAN], [5.0, 4.0]]], np.float32)
    obs = np.array([[[1, 1], [1, 0], [1, 1]]], np.float32)
    got = reconstruction_error_scores(x, obs, half_width=1)
    # t=0: ch0 recon 3 -> 4; ch1 has no observed neighbour -> left out. Score 4.
    # t=1: ch0 recon (1 + 5) / 2 = 3 -> 0; ch1 unobserved. Score 0.
    # t=2: ch0 recon 3 -> 4; ch1 no observed neighbour. Score 4.
    np.testing.assert_array_equal(got, [[4, 0, 4]])
    wide = reconstruction_error_scores(x, obs, half_width=2)
    # t=0: ch0 recon (3 + 5) / 2 = 4 -> 9; ch1 recon 4 -> 16. Mean 12.5.
    assert wide[0, 0] == 12.5


def test_baselines_batch_equals_single_examples():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 9, 3))
    obs = (rng.random(x.shape) < 0.7).astype(float)
    tgt = obs * (rng.random(x.shape) < 0.3)
    for fn in (mean_impute, linear_interpolate, last_value_forecast,
               lambda *a: seasonal_naive_forecast(*a, period=4),
               lambda *a: linear_forecast(*a, ar_order=2)):
        batch = fn(x, obs, tgt)
        assert batch.dtype == np.float64
        single = np.concatenate([fn(x[i:i + 1], obs[i:i + 1], tgt[i:i + 1]) for i in range(4)])
        np.testing.assert_allclose(batch, single, rtol=1e-12)
        # Conditioning values are returned as given; nothing else of x is read.
        cond = (obs > 0) & (tgt == 0)
        np.testing.assert_array_equal(batch[cond], x[cond])
        np.testing.assert_array_equal(fn(np.where(cond, x, NAN), obs, tgt), batch)
        # target_mask=None: the second argument is the conditioning mask itself.
        np.testing.assert_array_equal(fn(x, cond.astype(float), None), batch)


def test_errors():
    x, obs, tgt = _two_channels()
    with pytest.raises(ValueError, match=r"x must have shape \(B, L, K\)"):
        mean_impute(x[0], obs[0], tgt[0])
    with pytest.raises(ValueError, match=r"target_mask must have the shape of x \(1, 5, 2\)"):
        linear_interpolate(x, obs, tgt[:, :3])
    with pytest.raises(ValueError, match=r"observed_mask must contain only 0 and 1 \(1 = observed\), got 0.5"):
        last_value_forecast(x, obs * 0.5, tgt)
    with pytest.raises(ValueError, match=r"period must be an integer in \[1, 4\], got period=5"):
        seasonal_naive_forecast(x, obs, tgt, period=5)
    with pytest.raises(ValueError, match="ar_order must be an integer >= 0"):
        linear_forecast(x, obs, tgt, ar_order=-1)
    with pytest.raises(ValueError, match="ridge must be finite and > 0"):
        linear_forecast(x, obs, tgt, ar_order=1, ridge=0.0)
    with pytest.raises(ValueError, match="half_width must be an integer >= 1"):
        reconstruction_error_scores(x, half_width=0)
