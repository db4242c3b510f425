"""Continuous ranked probability score for probabilistic forecasts (Gneiting & Raftery, 2007).

    CRPS(F, y) = int (F(z) - 1[y <= z])^2 dz = E|X - y| - 1/2 E|X - X'|,  X, X' ~ F iid
               = 2 int_0^1 rho_a(y - F^{-1}(a)) da,   rho_a(u) = u (a - 1[u < 0])

(the last form is the quantile decomposition, Laio & Tamea, 2007). Lower is better;
it has the units of y. ``crps_samples`` scores an ensemble, ``crps_quantiles`` a
set of predicted quantiles, and ``weighted_quantile_loss`` is the GluonTS-style
normalised aggregate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.metrics._common import as_float_array

Array = jax.Array


def _move_axis(x: Array, axis: int, name: str, fn: str) -> Array:
    if x.ndim == 0:
        raise ValueError(f"{fn}: {name} must have at least one dimension (the "
                         f"{name} axis), got a scalar.")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for {name} of shape {x.shape}.")
    return jnp.moveaxis(x, axis, 0)


def _broadcast(stack: Array, y: Array, names: tuple[str, str], fn: str) -> tuple[Array, Array]:
    try:
        shape = np.broadcast_shapes(stack.shape[1:], y.shape)
    except ValueError:
        raise ValueError(f"{fn}: {names[1]} of shape {y.shape} does not broadcast with the "
                         f"non-{names[0]} dimensions {stack.shape[1:]} of {names[0]}.") from None
    dtype = jnp.result_type(stack, y)
    stack = jnp.broadcast_to(stack, stack.shape[:1] + shape).astype(dtype)
    return stack, jnp.broadcast_to(y, shape).astype(dtype)


def _crps_sorted(samples: Array, y: Array, fair: bool) -> Array:
    m = samples.shape[0]
    abs_err = jnp.mean(jnp.abs(samples - y), axis=0)
    xs = jnp.sort(samples, axis=0)
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2i - m - 1) x_(i), i = 1..m (sorted order).
    w = (2.0 * jnp.arange(1, m + 1, dtype=xs.dtype) - m - 1.0).reshape((m,) + (1,) * (xs.ndim - 1))
    pair_sum = 2.0 * jnp.sum(w * xs, axis=0)
    denom = m * (m - 1.0) if fair else float(m * m)
    return abs_err - 0.5 * pair_sum / denom


_crps_sorted_jit = jax.jit(_crps_sorted, static_argnames=("fair",))


def crps_samples(samples: Array, y: Array, *, sample_axis: int = 0,
                 fair: bool = False) -> Array:
    """Sample-based CRPS of an ensemble (Gneiting & Raftery, 2007, Eq. 21).

        CRPS = 1/m sum_i |x_i - y| - 1/(2 m^2) sum_{i,j} |x_i - x_j|

    i.e. the exact CRPS of the ensemble's empirical distribution. The pair term uses
    the sorted identity sum_{i,j} |x_i - x_j| = 2 sum_i (2i - m - 1) x_(i), so the
    cost is O(m log m) per forecast instead of O(m^2). With ``fair=True`` the pair term
    is divided by m(m-1) instead of m^2 (the "fair" CRPS of Ferro, 2014: unbiased for
    the CRPS of the distribution the ensemble was drawn from).

    Args:
      samples: ensemble of shape (m, *batch) (the sample axis is ``sample_axis``).
      y: observations, broadcastable to ``batch``.
    Returns:
      CRPS per forecast, shape ``batch`` (no reduction; average it yourself).
    """
    fn = "crps_samples"
    samples = _move_axis(as_float_array(samples), sample_axis, "samples", fn)
    y = as_float_array(y)
    m = samples.shape[0]
    if m < (2 if fair else 1):
        raise ValueError(f"{fn}: need at least {2 if fair else 1} samples along axis "
                         f"{sample_axis}, got {m}.")
    samples, y = _broadcast(samples, y, ("samples", "y"), fn)
    return _crps_sorted_jit(samples, y, fair=bool(fair))


def _check_quantiles(quantiles, levels, y, quantile_axis: int, fn: str):
    quantiles = _move_axis(as_float_array(quantiles), quantile_axis, "quantiles", fn)
    levels = as_float_array(levels)
    if levels.ndim != 1 or levels.shape[0] != quantiles.shape[0]:
        raise ValueError(f"{fn}: levels must be 1-D with one level per quantile "
                         f"({quantiles.shape[0]} along axis {quantile_axis}), got shape "
                         f"{levels.shape}.")
    if checks.is_concrete(levels):
        lv = np.asarray(levels)
        if not np.all((lv > 0) & (lv < 1)):
            raise ValueError(f"{fn}: levels must lie strictly inside (0, 1), got {lv}.")
    quantiles, y = _broadcast(quantiles, as_float_array(y), ("quantiles", "y"), fn)
    return quantiles, levels.astype(quantiles.dtype), y


@jax.jit
def _mean_quantile_loss(quantiles: Array, levels: Array, y: Array) -> Array:
    a = levels.reshape((-1,) + (1,) * (quantiles.ndim - 1))
    u = y - quantiles
    pinball = jnp.maximum(a * u, (a - 1.0) * u)
    return 2.0 * jnp.mean(pinball, axis=0)


def crps_quantiles(quantiles: Array, levels: Array, y: Array, *,
                   quantile_axis: int = 0) -> Array:
    """CRPS approximated from predicted quantiles (quantile / pinball-loss form).

        CRPS ~= 2/K sum_k rho_{a_k}(y - q_k),   rho_a(u) = max(a u, (a - 1) u),

    a Riemann sum of CRPS = 2 int_0^1 rho_a(y - F^{-1}(a)) da. With the midpoint grid
    a_k = (k - 1/2)/K it is the midpoint rule and converges to the CRPS as K grows;
    with GluonTS's usual levels (0.1, ..., 0.9) it is the per-point version of its
    mean weighted quantile loss (see ``weighted_quantile_loss``). The levels are
    weighted equally, so they should cover (0, 1) roughly uniformly.

    Normalisation: the factor 2 makes the pinball loss of the median equal the
    absolute error; no division by |y| here (that is ``weighted_quantile_loss``).

    Args:
      quantiles: predicted quantiles (K, *batch) (the level axis is ``quantile_axis``).
      levels: the K quantile levels, each in (0, 1).
      y: observations, broadcastable to ``batch``.
    Returns:
      Approximate CRPS per forecast, shape ``batch``.
    """
    quantiles, levels, y = _check_quantiles(quantiles, levels, y, quantile_axis,
                                            "crps_quantiles")
    return _mean_quantile_loss(quantiles, levels, y)


def weighted_quantile_loss(quantiles: Array, levels: Array, y: Array, *,
                           quantile_axis: int = 0) -> Array:
    """GluonTS-style mean weighted quantile loss (scale-free CRPS approximation).

        wQL_a = 2 sum_t rho_a(y_t - q_{a,t}) / sum_t |y_t|,   mean_wQL = 1/K sum_k wQL_{a_k}
              = sum_t crps_quantiles_t / sum_t |y_t|,

    summing over every element of ``batch`` (series and time steps). Returns a scalar;
    undefined (inf/nan) when all observations are zero.
    """
    quantiles, levels, y = _check_quantiles(quantiles, levels, y, quantile_axis,
                                            "weighted_quantile_loss")
    return jnp.sum(_mean_quantile_loss(quantiles, levels, y)) / jnp.sum(jnp.abs(y))
