"""Probabilistic imputation / forecasting scores as CSDI reports them (Tashiro et al.,
2021, "CSDI: Conditional Score-based Diffusion Models for Probabilistic Time Series
Imputation", Sec. 6 and App. E).

Inputs: ``samples`` (S, *shape) (the sample axis is ``sample_axis``), ``target``
``shape`` with channels last, e.g. (B, L, K), and ``eval_mask`` broadcastable to
``shape`` in {0, 1} (1 = scored: the target mask). Values are scored as given; to
score in data units, denormalise first or pass ``mean_scaler``/``scaler`` to the CRPS
functions (CSDI scores ``x * scaler + mean_scaler``).

* CRPS (CSDI's ``calc_quantile_CRPS``): the normalised quantile loss over the 19 levels
  a = 0.05, 0.10, ..., 0.95, with sample quantiles by linear interpolation,
      CRPS = 1/19 sum_a 2 sum_i m_i rho_a(y_i - q_{a,i}) / sum_i m_i |y_i|,
      rho_a(u) = max(a u, (a - 1) u),
  i.e. :func:`diffax.metrics.crps.weighted_quantile_loss` over the scored positions.
* CRPS-sum: the same on the channel sums y_t = sum_k y_{t,k} and their sample sums,
  each step weighted by its scored fraction w_t = mean_k m_{t,k}.
* MAE / RMSE of the sample median over the scored positions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.metrics._common import as_float_array
from diffax.metrics.crps import weighted_quantile_loss

Array = jax.Array

#: CSDI's quantile levels 0.05, 0.10, ..., 0.95 (k / 20, exact to float rounding).
CSDI_QUANTILE_LEVELS = np.arange(1, 20) / 20.0


def _target_and_mask(fn: str, target, eval_mask) -> tuple[Array, Array]:
    target = as_float_array(target)
    if target.ndim == 0:
        raise ValueError(f"{fn}: target must have at least one dimension, got a scalar.")
    mask = as_float_array(eval_mask)
    try:
        mask = jnp.broadcast_to(mask, target.shape).astype(target.dtype)
    except ValueError:
        raise ValueError(f"{fn}: eval_mask of shape {mask.shape} does not broadcast to the "
                         f"target shape {target.shape}.") from None
    c = checks.concrete(mask)
    if c is not None:
        if np.any((c != 0) & (c != 1)):
            raise ValueError(f"{fn}: eval_mask must contain only 0 and 1, got values "
                             f"{np.unique(c)[:5]}.")
        if not c.any():
            raise ValueError(f"{fn}: eval_mask selects no position (all zero); nothing to "
                             "score.")
    return target, mask


def _samples(fn: str, samples, target: Array, sample_axis: int) -> Array:
    samples = as_float_array(samples)
    if samples.ndim != target.ndim + 1:
        raise ValueError(f"{fn}: samples must have one more axis than target {target.shape} "
                         f"(the sample axis), got shape {samples.shape}.")
    if not -samples.ndim <= sample_axis < samples.ndim:
        raise ValueError(f"{fn}: sample_axis must be in [{-samples.ndim}, {samples.ndim - 1}] "
                         f"for samples of shape {samples.shape}, got sample_axis={sample_axis}.")
    samples = jnp.moveaxis(samples, sample_axis, 0)
    if samples.shape[1:] != target.shape or samples.shape[0] < 1:
        raise ValueError(f"{fn}: samples must have shape (S, *{target.shape}) with S >= 1 "
                         f"after moving axis {sample_axis} first, got {samples.shape}.")
    return samples.astype(jnp.result_type(samples, target))


def _denormalise(fn: str, x: Array, mean_scaler, scaler) -> Array:
    scaler = as_float_array(scaler)
    c = checks.concrete(scaler)
    if c is not None and not np.all(c > 0):
        raise ValueError(f"{fn}: scaler must be > 0 (a standard deviation), got {c}.")
    return x * scaler + as_float_array(mean_scaler)


def sample_quantiles(samples: Array, levels, *, sample_axis: int = 0) -> Array:
    """Sample quantiles by linear interpolation between order statistics (numpy's and
    ``torch.quantile``'s default): with x_(0) <= ... <= x_(S-1) and h = (S - 1) a,

        q_a = x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h)).

    Returns (len(levels), *batch)."""
    samples = as_float_array(samples)
    levels = jnp.asarray(levels, samples.dtype)
    return jnp.quantile(samples, levels, axis=sample_axis, method="linear")


def _csdi_crps(samples: Array, target: Array, weight: Array) -> Array:
    # The levels in the samples' dtype, built here rather than converted from the NumPy
    # constant (JAX can reuse a float32 copy of it after jax_enable_x64 is switched on).
    levels = jnp.arange(1, 20, dtype=samples.dtype) / 20
    q = sample_quantiles(samples, levels)
    # rho_a and |.| are positively homogeneous: rho_a(w y - w q) = w rho_a(y - q), so
    # scaling both by the weight (0 off the scored positions) weights the sums.
    q = jnp.where(weight > 0, weight * q, 0.0)
    y = jnp.where(weight > 0, weight * target, 0.0)
    return weighted_quantile_loss(q, levels, y)


_csdi_crps_jit = jax.jit(_csdi_crps)


def crps_quantile_csdi(samples: Array, target: Array, eval_mask: Array,
                       mean_scaler: float | Array = 0.0, scaler: float | Array = 1.0, *,
                       sample_axis: int = 0) -> Array:
    """CSDI's CRPS: normalised quantile loss of the sample quantiles (module docstring),

        CRPS = 1/19 sum_{a in 0.05..0.95} 2 sum_i m_i rho_a(y_i - q_{a,i}) / sum_i m_i |y_i|,

    with y and the samples denormalised as ``v * scaler + mean_scaler`` and q_{a,i} the
    linear-interpolation sample quantile (``torch.quantile`` in CSDI). This is
    :func:`weighted_quantile_loss` restricted to the scored positions and CSDI's number,
    a coarse approximation of sum_i m_i CRPS_i / sum_i m_i |y_i| (19 levels, the tails
    left out: 3% above it for a 4000-member Gaussian ensemble). Values at unscored
    positions are never used.

    Args:
      samples: (S, *shape) draws (sample axis ``sample_axis``).
      target: ``shape``, e.g. (B, L, K).
      eval_mask: {0, 1}, broadcastable to ``shape``; 1 = scored.
      mean_scaler, scaler: per-channel normalisation, broadcastable to ``shape``
        (scaler > 0).
    Returns:
      scalar; inf/nan when the scored targets are all zero.
    """
    fn = "crps_quantile_csdi"
    target, mask = _target_and_mask(fn, target, eval_mask)
    samples = _samples(fn, samples, target, sample_axis)
    target = _denormalise(fn, target, mean_scaler, scaler)
    samples = _denormalise(fn, samples, mean_scaler, scaler)
    return _csdi_crps_jit(samples, target, mask)


def crps_sum(samples: Array, target: Array, eval_mask: Array,
             mean_scaler: float | Array = 0.0, scaler: float | Array = 1.0, *,
             sample_axis: int = 0) -> Array:
    """CSDI's CRPS-sum: the CRPS above on the sums over channels (the last axis),

        y_t = sum_k y_{t,k},   x^s_t = sum_k x^s_{t,k},   w_t = mean_k m_{t,k},
        CRPS-sum = 1/19 sum_a 2 sum_t w_t rho_a(y_t - q_{a,t}) / sum_t w_t |y_t|,

    after denormalising as in :func:`crps_quantile_csdi`. As in CSDI, every channel
    enters the sums and a partly scored step gets a fractional weight; it is meant for
    forecasting, where the scored positions are whole time steps (w_t in {0, 1}).

    Args:
      samples: (S, *shape) draws, ``shape = (..., K)`` (sample axis ``sample_axis``).
      target: ``shape`` with at least 2 axes, channels last.
      eval_mask: {0, 1}, broadcastable to ``shape``.
      mean_scaler, scaler: as in :func:`crps_quantile_csdi`.
    Returns:
      scalar.
    """
    fn = "crps_sum"
    target, mask = _target_and_mask(fn, target, eval_mask)
    if target.ndim < 2:
        raise ValueError(f"{fn}: target must have a time and a channel axis (..., L, K), got "
                         f"shape {target.shape}.")
    samples = _samples(fn, samples, target, sample_axis)
    target = _denormalise(fn, target, mean_scaler, scaler).sum(-1)
    samples = _denormalise(fn, samples, mean_scaler, scaler).sum(-1)
    return _csdi_crps_jit(samples, target, mask.mean(-1))


def sample_median(samples: Array, *, sample_axis: int = 0, method: str = "lower") -> Array:
    """Median over the sample axis. ``method="lower"``: the order statistic
    x_(floor((S - 1) / 2)), the lower of the two middle values for even S (what
    ``torch.median``, hence CSDI, returns); ``"midpoint"``: their mean (numpy's median).
    The two agree for odd S."""
    checks.choice("sample_median", "method", method, ("lower", "midpoint"))
    samples = as_float_array(samples)
    if method == "midpoint":
        return jnp.median(samples, axis=sample_axis)
    s = samples.shape[sample_axis]
    return jnp.take(jnp.sort(samples, axis=sample_axis), (s - 1) // 2, axis=sample_axis)


def _point(fn: str, samples, target: Array, sample_axis: int | None, median: str) -> Array:
    if sample_axis is None:
        prediction = as_float_array(samples)
        if prediction.shape != target.shape:
            raise ValueError(f"{fn}: a point prediction (sample_axis=None) must have the "
                             f"target shape {target.shape}, got {prediction.shape}.")
        return prediction
    samples = _samples(fn, samples, target, sample_axis)
    return sample_median(samples, method=median)


def masked_mae(samples: Array, target: Array, eval_mask: Array, *,
               sample_axis: int | None = 0, median: str = "lower") -> Array:
    """Mean absolute error of the sample median over the scored positions,

        MAE = sum_i m_i |median_s(x^s_i) - y_i| / sum_i m_i

    (CSDI's MAE). ``sample_axis=None``: ``samples`` is already a point prediction of
    the target's shape (e.g. a baseline's). ``median``: see :func:`sample_median`.
    No denormalisation: pass values in the units to report.
    """
    fn = "masked_mae"
    target, mask = _target_and_mask(fn, target, eval_mask)
    err = jnp.abs(_point(fn, samples, target, sample_axis, median) - target)
    return jnp.sum(jnp.where(mask > 0, err, 0.0)) / jnp.sum(mask)


def masked_rmse(samples: Array, target: Array, eval_mask: Array, *,
                sample_axis: int | None = 0, median: str = "lower") -> Array:
    """Root mean squared error of the sample median over the scored positions,

        RMSE = sqrt( sum_i m_i (median_s(x^s_i) - y_i)^2 / sum_i m_i )

    (CSDI's RMSE). Arguments as in :func:`masked_mae`.
    """
    fn = "masked_rmse"
    target, mask = _target_and_mask(fn, target, eval_mask)
    err = jnp.square(_point(fn, samples, target, sample_axis, median) - target)
    return jnp.sqrt(jnp.sum(jnp.where(mask > 0, err, 0.0)) / jnp.sum(mask))
