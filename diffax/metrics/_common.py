"""Shared helpers for the metrics: float inputs and pairwise distances (argument checks
are in :mod:`diffax.checks`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def as_float_array(x) -> Array:
    """``x`` as a JAX array of a floating dtype (integers become the default float)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def pairwise_sq_dists(x: Array, y: Array) -> Array:
    """Squared Euclidean distances ``|x_i - y_j|^2`` of (..., n, d) and (..., m, d).

    Uses the Gram expansion ``|x|^2 + |y|^2 - 2 x.y`` (memory n*m, not n*m*d) after
    subtracting a common centre from both sets, which removes the cancellation the
    expansion suffers when the points sit far from the origin. Clipped at zero.
    """
    centre = 0.5 * (jnp.mean(x, axis=-2, keepdims=True) + jnp.mean(y, axis=-2, keepdims=True))
    centre = jax.lax.stop_gradient(centre)
    x = x - centre
    y = y - centre
    xx = jnp.sum(x * x, axis=-1)[..., :, None]
    yy = jnp.sum(y * y, axis=-1)[..., None, :]
    xy = jnp.einsum("...id,...jd->...ij", x, y, precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(xx + yy - 2.0 * xy, 0.0)


def pairwise_dists(x: Array, y: Array) -> Array:
    """Euclidean distances ``|x_i - y_j|`` of (..., n, d) and (..., m, d) from explicit
    differences (memory n*m*d). Unlike sqrt of the Gram expansion, a point's distance
    to itself (or to a near copy) comes out exactly (nearly) 0 instead of
    sqrt(rounding) ~ 3e-4 * scale in float32; meant for low-dimensional points."""
    diff = x[..., :, None, :] - y[..., None, :, :]
    return safe_sqrt(jnp.sum(diff * diff, axis=-1))


def safe_sqrt(x: Array) -> Array:
    """sqrt with a zero (not NaN/inf) gradient at 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def sq_dists_to_rows(point: Array, ys: Array, yy: Array) -> Array:
    """Squared distances from one point (d,) to the rows of ``ys`` (m, d), ``yy = |y|^2``."""
    d2 = jnp.sum(point * point) + yy - 2.0 * jnp.dot(ys, point,
                                                     precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(d2, 0.0)
