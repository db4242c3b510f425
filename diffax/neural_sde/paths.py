"""Controlled paths X(t) from irregularly observed windows (the drift's view of the data).

An irregular series is stored on a grid of ``L`` times with an observation mask (the
window layout of :mod:`diffax.data.timeseries`: ``x`` (B, L, K), ``observed_mask``,
``time`` (B, L)). The stable neural SDEs of Oh, Lim & Kim (ICLR 2024) feed a continuous
path through the observations into the drift, as neural CDEs do (Kidger et al. 2020):

1. every channel's missing values are filled by linear interpolation in time between
   its neighbouring observations (constant before the first and after the last one; 0,
   the normalised mean, for a channel without any observation);
2. the time, optionally the cumulative observation count of every channel (the
   "intensity", scaled by ``1/L``), and the filled values are stacked as channels;
3. a natural cubic spline (or a piecewise linear path) through these grid values gives
   ``X(t)``; outside the knots the path is held constant.

Times are mapped to ``[0, 1]`` per example (:func:`unit_times`), so every example is
solved on the same interval with the same fixed steps.

A :class:`ControlPath` holds the knots and the per-interval cubic coefficients of one
example or of a batch (leading batch axes); :func:`evaluate` reads it at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffax import checks

INTERPOLATIONS = ("cubic", "linear")


class ControlPath(NamedTuple):
    """Piecewise cubic path: on ``[knots[i], knots[i+1]]``,
    ``X(t) = a[i] + b[i] s + c[i] s^2 + d[i] s^3`` with ``s = t - knots[i]``.

    Shapes: ``knots`` (..., n+1); ``a``, ``b``, ``c``, ``d`` (..., n, C).
    """

    knots: jax.Array
    a: jax.Array
    b: jax.Array
    c: jax.Array
    d: jax.Array

    @property
    def channels(self) -> int:
        return self.a.shape[-1]


def unit_times(time: jax.Array) -> jax.Array:
    """Times (..., L) mapped to [0, 1] per example: ``(t - t_0) / (t_{L-1} - t_0)``."""
    time = jnp.asarray(time)
    span = time[..., -1:] - time[..., :1]
    return (time - time[..., :1]) / jnp.where(span > 0, span, 1.0)


def fill_missing(values: jax.Array, mask: jax.Array, times: jax.Array) -> jax.Array:
    """Missing entries of ``values`` (L, C) (``mask`` 0) filled per channel by linear
    interpolation in ``times`` (L,) between the nearest observations; constant beyond
    the first/last observation, 0 where a channel has none. Observed entries are kept."""
    length = values.shape[0]
    idx = jnp.arange(length)[:, None]
    seen = mask > 0
    prev = jax.lax.cummax(jnp.where(seen, idx, -1), axis=0)
    nxt = jax.lax.cummin(jnp.where(seen, idx, length), axis=0, reverse=True)
    has_prev, has_next = prev >= 0, nxt < length
    p, q = jnp.clip(prev, 0, length - 1), jnp.clip(nxt, 0, length - 1)
    vp = jnp.take_along_axis(values, p, axis=0)
    vq = jnp.take_along_axis(values, q, axis=0)
    tp, tq, t = times[p], times[q], times[:, None]
    gap = tq - tp
    w = jnp.where(gap > 0, (t - tp) / jnp.where(gap > 0, gap, 1.0), 0.0)
    inner = vp + w * (vq - vp)
    filled = jnp.where(has_prev & has_next, inner,
                       jnp.where(has_prev, vp, jnp.where(has_next, vq, 0.0)))
    return jnp.where(seen, values, filled)


def linear_path(knots: jax.Array, values: jax.Array) -> ControlPath:
    """Piecewise linear path through ``values`` (n+1, C) at strictly increasing
    ``knots`` (n+1,)."""
    h = jnp.diff(knots)[:, None]
    slope = jnp.diff(values, axis=0) / h
    zero = jnp.zeros_like(slope)
    return ControlPath(knots, values[:-1], slope, zero, zero)


def natural_cubic_path(knots: jax.Array, values: jax.Array) -> ControlPath:
    """Natural cubic spline (second derivative 0 at both ends) through ``values``
    (n+1, C) at strictly increasing ``knots`` (n+1,); linear when n + 1 < 3."""
    n = knots.shape[0] - 1
    if n < 2:
        return linear_path(knots, values)
    h = jnp.diff(knots)
    slope = jnp.diff(values, axis=0) / h[:, None]
    rhs = 6.0 * (slope[1:] - slope[:-1])                      # (n-1, C)
    diag = 2.0 * (h[:-1] + h[1:])
    lower = jnp.concatenate([jnp.zeros((1,), h.dtype), h[1:-1]])
    upper = jnp.concatenate([h[1:-1], jnp.zeros((1,), h.dtype)])
    inner = jax.lax.linalg.tridiagonal_solve(lower, diag, upper, rhs)
    zero = jnp.zeros((1, values.shape[1]), values.dtype)
    m = jnp.concatenate([zero, inner, zero])                  # second derivatives (n+1, C)
    hh = h[:, None]
    b = slope - hh * (2.0 * m[:-1] + m[1:]) / 6.0
    return ControlPath(knots, values[:-1], b, m[:-1] / 2.0, (m[1:] - m[:-1]) / (6.0 * hh))


def evaluate(path: ControlPath, t: jax.Array) -> jax.Array:
    """``X(t)`` (..., C) for a scalar ``t`` (or ``t`` with the path's batch shape);
    constant outside ``[knots[0], knots[-1]]``."""
    if path.knots.ndim > 1:
        t = jnp.broadcast_to(jnp.asarray(t), path.knots.shape[:-1])
        return jax.vmap(evaluate)(path, t)
    knots = path.knots
    n = knots.shape[0] - 1
    t = jnp.clip(t, knots[0], knots[-1])
    i = jnp.clip(jnp.searchsorted(knots, t, side="right") - 1, 0, n - 1)
    s = t - knots[i]
    return path.a[i] + s * (path.b[i] + s * (path.c[i] + s * path.d[i]))


def controlled_path(x: jax.Array, mask: jax.Array, time: jax.Array, *,
                    interpolation: str = "cubic", intensity: bool = True) -> ControlPath:
    """The controlled path of a batch of windows.

    Args:
      x: (B, L, K) values (anything where ``mask`` is 0).
      mask: (B, L, K) 1 = observed.
      time: (B, L) or (L,) increasing times; mapped to [0, 1] per example.
      interpolation: "cubic" (natural cubic spline) or "linear".
      intensity: add the cumulative observation count of every channel (divided by L).

    Returns a batched :class:`ControlPath` with ``1 + K (+ K)`` channels: time, [intensity,]
    filled values.
    """
    checks.choice("controlled_path", "interpolation", interpolation, INTERPOLATIONS)
    x = checks.float_batch("controlled_path", "x", x, min_ndim=3)
    checks.ndim("controlled_path", "x", x, 3, "(B, L, K)")
    checks.shape("controlled_path", "mask", mask, x.shape)
    b, length, _ = x.shape
    if length < 2:
        raise ValueError(f"controlled_path: need at least 2 time steps, got L={length}.")
    time = jnp.asarray(time, x.dtype)
    if time.ndim == 1:
        checks.shape("controlled_path", "time", time, (length,))
        time = jnp.broadcast_to(time, (b, length))
    checks.shape("controlled_path", "time", time, (b, length))
    mask = jnp.asarray(mask, x.dtype)
    tau = unit_times(time)
    filled = jax.vmap(fill_missing)(x, mask, tau)
    parts = [tau[..., None]]
    if intensity:
        parts.append(jnp.cumsum(mask, axis=1) / length)
    parts.append(filled)
    values = jnp.concatenate(parts, axis=-1)
    build = natural_cubic_path if interpolation == "cubic" else linear_path
    return jax.vmap(build)(tau, values)
