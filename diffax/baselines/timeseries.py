"""Non-learned baselines for time-series imputation, forecasting and anomaly detection
(NumPy, vectorised over the batch).

Inputs follow the time-series convention: ``x`` (B, L, K), ``observed_mask`` and
``target_mask`` (B, L, K) in {0, 1}. A baseline reads only the *conditioning* values,
``cond = observed_mask * (1 - target_mask)`` (values elsewhere, NaN included, are never
used; with ``target_mask=None``, ``observed_mask`` is taken as the conditioning mask),
and returns a full (B, L, K) prediction in ``x``'s float dtype: ``x`` itself at the
conditioning positions, its estimate everywhere else. Every estimate is per
example and channel; a channel with no conditioning value gets 0 (the mean of
normalised data). Score the prediction on ``target_mask`` (diffax.metrics.masked_mae
with ``sample_axis=None``).

* :func:`mean_impute`: the channel's conditioning mean;
* :func:`linear_interpolate`: linear in time between the neighbouring conditioning
  values, constant before the first and after the last;
* :func:`last_value_forecast`: the last conditioning value at or before t (the naive
  forecast);
* :func:`seasonal_naive_forecast`: the last conditioning value one or more periods back
  (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", Sec. 5.2);
* :func:`linear_forecast`: a least-squares linear trend, optionally plus a ridge AR(p)
  on the detrended context;
* :func:`reconstruction_error_scores`: per-step anomaly scores from a moving-average
  reconstruction.
"""

from __future__ import annotations

import numpy as np

from diffax import checks

__all__ = ["last_value_forecast", "linear_forecast", "linear_interpolate", "mean_impute",
           "reconstruction_error_scores", "seasonal_naive_forecast"]


def _data(fn: str, x, observed_mask, target_mask=None):
    """(x as float64 with 0 off the conditioning set, cond bool, output dtype)."""
    x = np.asarray(x)
    checks.ndim(fn, "x", x, 3, "(B, L, K)")
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    cond = checks.binary_mask(fn, "observed_mask", observed_mask, x.shape)
    if target_mask is not None:
        cond &= ~checks.binary_mask(fn, "target_mask", target_mask, x.shape)
    return np.where(cond, x, 0.0).astype(np.float64), cond, out_dtype


def _finish(x, cond: np.ndarray, estimate: np.ndarray, dtype) -> np.ndarray:
    return np.where(cond, x, estimate).astype(dtype)


def _neighbours(cond: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last conditioning step <= t (-1 if none) and of the first >= t (L if
    none), per example and channel: (B, L, K) each."""
    length = cond.shape[1]
    t = np.arange(length)[None, :, None]
    prev = np.maximum.accumulate(np.where(cond, t, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(cond, t, length)[:, ::-1], axis=1)[:, ::-1]
    return prev, nxt


def _at(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[b, index[b, t, k], k], with out-of-range indices clipped (mask them)."""
    return np.take_along_axis(values, np.clip(index, 0, values.shape[1] - 1), axis=1)


def mean_impute(x, observed_mask, target_mask=None) -> np.ndarray:
    """Per-example, per-channel mean of the conditioning values,

        x_hat[b, t, k] = sum_s c[b, s, k] x[b, s, k] / sum_s c[b, s, k]   (0 if no c).
    """
    xc, cond, dtype = _data("mean_impute", x, observed_mask, target_mask)
    count = cond.sum(axis=1, keepdims=True)
    mean = xc.sum(axis=1, keepdims=True) / np.maximum(count, 1)
    return _finish(x, cond, np.broadcast_to(mean, xc.shape), dtype)


def _interpolate(xc: np.ndarray, cond: np.ndarray) -> np.ndarray:
    prev, nxt = _neighbours(cond)
    length = cond.shape[1]
    has_prev, has_next = prev >= 0, nxt < length
    x_prev, x_next = _at(xc, prev), _at(xc, nxt)
    t = np.arange(length)[None, :, None]
    frac = (t - prev) / np.maximum(nxt - prev, 1)
    between = x_prev + frac * (x_next - x_prev)
    return np.where(has_prev & has_next, between,
                    np.where(has_prev, x_prev, np.where(has_next, x_next, 0.0)))


def linear_interpolate(x, observed_mask, target_mask=None) -> np.ndarray:
    """Linear interpolation in time per channel between the conditioning values around
    t (steps s0 <= t <= s1),

        x_hat_t = x_s0 + (t - s0) / (s1 - s0) (x_s1 - x_s0),

    the nearest conditioning value before the first or after the last (constant
    extrapolation), 0 for a channel without conditioning values.
    """
    xc, cond, dtype = _data("linear_interpolate", x, observed_mask, target_mask)
    return _finish(x, cond, _interpolate(xc, cond), dtype)


def _last_value(xc: np.ndarray, cond: np.ndarray) -> np.ndarray:
    prev, nxt = _neighbours(cond)
    return np.where(prev >= 0, _at(xc, prev),
                    np.where(nxt < cond.shape[1], _at(xc, nxt), 0.0))


def last_value_forecast(x, observed_mask, target_mask=None) -> np.ndarray:
    """Naive forecast: x_hat_t = x_s with s the last conditioning step <= t (the first
    conditioning value before it; 0 for a channel without conditioning values). For a
    forecast target the whole horizon repeats the last context value."""
    xc, cond, dtype = _data("last_value_forecast", x, observed_mask, target_mask)
    return _finish(x, cond, _last_value(xc, cond), dtype)


def seasonal_naive_forecast(x, observed_mask, target_mask=None, *,
                            period: int) -> np.ndarray:
    """Seasonal naive forecast: x_hat_t = x_{t - j m}, m = ``period``, with j >= 1 the
    smallest such that step t - j m is a conditioning step, i.e. the latest value of the
    same phase (with a fully observed context: the last season repeated). Steps with no
    same-phase conditioning value before them fall back to :func:`last_value_forecast`.

    Args:
      period: season length m, an integer in [1, L - 1] (1 is the naive forecast).
    """
    fn = "seasonal_naive_forecast"
    xc, cond, dtype = _data(fn, x, observed_mask, target_mask)
    b, length, k = xc.shape
    period = checks.integer(fn, "period", period, minimum=1, maximum=length - 1)
    cycles = -(-length // period)
    pad = cycles * period - length

    def by_phase(a, fill):  # (B, L, K) -> (B, cycles, period * K): one column per phase
        a = np.concatenate([a, np.full((b, pad, k), fill, a.dtype)], axis=1)
        return a.reshape(b, cycles, period * k)

    xp, cp = by_phase(xc, 0.0), by_phase(cond, False)
    prev, _ = _neighbours(cp)
    seasonal = _at(xp, prev).reshape(b, cycles * period, k)[:, :length]
    found = (prev >= 0).reshape(b, cycles * period, k)[:, :length]
    return _finish(x, cond, np.where(found, seasonal, _last_value(xc, cond)), dtype)


def _trend(xc: np.ndarray, cond: np.ndarray) -> np.ndarray:
    t = np.arange(xc.shape[1], dtype=np.float64)[None, :, None]
    n = cond.sum(axis=1, keepdims=True)
    safe_n = np.maximum(n, 1)
    t_mean = (cond * t).sum(axis=1, keepdims=True) / safe_n
    y_mean = xc.sum(axis=1, keepdims=True) / safe_n
    dt = np.where(cond, t - t_mean, 0.0)
    s_tt = (dt * dt).sum(axis=1, keepdims=True)
    slope = (dt * (xc - y_mean)).sum(axis=1, keepdims=True) / np.where(s_tt > 0, s_tt, 1.0)
    return y_mean + slope * (t - t_mean)  # n = 0: 0; n = 1 (s_tt = 0): constant


def _ar_residual(resid: np.ndarray, cond: np.ndarray, order: int, ridge: float) -> np.ndarray:
    """Residuals interpolated inside each context and forecast by a ridge AR(p) fitted
    on it after the last conditioning step; series-major (B * K, L) internally."""
    b, length, k = resid.shape
    r = _interpolate(resid, cond).transpose(0, 2, 1).reshape(b * k, length)
    prev, nxt = _neighbours(cond)
    last = prev[:, -1, :].reshape(-1, 1)  # last conditioning step per series (-1: none)
    first = nxt[:, 0, :].reshape(-1, 1)
    padded = np.concatenate([np.zeros((b * k, order)), r], axis=1)
    lags = np.stack([padded[:, order - j:order - j + length] for j in range(1, order + 1)],
                    axis=-1)  # lags[n, t, j - 1] = r[n, t - j] (0 before the start)
    t = np.arange(length)[None, :]
    rows = ((t >= first + order) & (t <= last)).astype(np.float64)[..., None]
    gram = np.einsum("ntp,ntq->npq", rows * lags, lags) + ridge * np.eye(order)
    phi = np.linalg.solve(gram, np.einsum("ntp,nt->np", rows * lags, r)[..., None])[..., 0]
    for step in range(length):  # recursive forecast after the context
        ahead = step > last[:, 0]
        if ahead.any():
            history = padded[:, step:step + order][:, ::-1]  # r[t - 1], ..., r[t - p]
            padded[:, order + step] = np.where(ahead, np.sum(phi * history, axis=1),
                                               padded[:, order + step])
    return padded[:, order:].reshape(b, k, length).transpose(0, 2, 1)


def linear_forecast(x, observed_mask, target_mask=None, *, ar_order: int = 0,
                    ridge: float = 1.0) -> np.ndarray:
    """Least-squares linear trend per example and channel on the conditioning values,

        x_hat_t = a + b t,  (a, b) = argmin sum_s c_s (x_s - a - b s)^2,

    (one conditioning value: that constant; none: 0). With ``ar_order = p > 0`` the
    residual e_s = x_s - a - b s is linearly interpolated over the context (up to the
    last conditioning step, as :func:`linear_interpolate`), a ridge AR(p)

        e_t = sum_{j=1..p} phi_j e_{t-j},  phi = (X^T X + ridge I)^{-1} X^T e,

    is fitted on it (rows from p steps after the first conditioning step to the last;
    lags before the window count as 0), and forecast recursively after the context:
    x_hat_t = a + b t + e_hat_t.

    Args:
      ar_order: p >= 0 (0: the trend alone).
      ridge: ridge penalty > 0 of the AR fit (keeps it defined on short contexts).
    """
    fn = "linear_forecast"
    xc, cond, dtype = _data(fn, x, observed_mask, target_mask)
    ar_order = checks.integer(fn, "ar_order", ar_order, minimum=0)
    ridge = checks.positive(fn, "ridge", ridge)
    estimate = _trend(xc, cond)
    if ar_order:
        resid = np.where(cond, xc - estimate, 0.0)
        estimate = estimate + _ar_residual(resid, cond, ar_order, ridge)
    return _finish(x, cond, estimate, dtype)


def reconstruction_error_scores(x, observed_mask=None, *, half_width: int = 2) -> np.ndarray:
    """Anomaly score per time step: the error of a leave-one-out moving-average
    reconstruction,

        x_hat[t, k] = sum_{0 < |s - t| <= h} m[s, k] x[s, k] / sum_{0 < |s - t| <= h} m[s, k],
        score_t = sum_k v[t, k] (x[t, k] - x_hat[t, k])^2 / sum_k v[t, k],

    h = ``half_width``, v[t, k] = m[t, k] and at least one observed neighbour (score 0
    where no channel qualifies). The point itself is left out so an isolated spike is
    not averaged into its own reconstruction. Channels should be on comparable scales
    (normalised data).

    Args:
      x: (B, L, K).
      observed_mask: (B, L, K) in {0, 1}, or ``None`` (everything observed).
      half_width: neighbours on each side, an integer >= 1.
    Returns:
      (B, L) scores, higher = more anomalous.
    """
    fn = "reconstruction_error_scores"
    x_arr = np.asarray(x)
    mask = np.ones(x_arr.shape) if observed_mask is None else observed_mask
    xc, cond, dtype = _data(fn, x_arr, mask)
    h = checks.integer(fn, "half_width", half_width, minimum=1)
    length = xc.shape[1]

    def window_sum(a):  # sum over s in [t - h, t + h] minus a[t]
        c = np.concatenate([np.zeros_like(a[:, :1]), np.cumsum(a, axis=1)], axis=1)
        hi = np.minimum(np.arange(length) + h + 1, length)
        lo = np.maximum(np.arange(length) - h, 0)
        return c[:, hi] - c[:, lo] - a

    weight = window_sum(cond.astype(np.float64))
    recon = window_sum(xc) / np.maximum(weight, 1.0)
    valid = cond & (weight > 0)
    err = np.where(valid, (xc - recon) ** 2, 0.0).sum(axis=2)
    return (err / np.maximum(valid.sum(axis=2), 1)).astype(dtype)
