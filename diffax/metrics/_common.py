"""Shared helpers for the metrics: input checks and pairwise distances."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def as_float_array(x) -> Array:
    """``x`` as a JAX array of a floating dtype (integers become the default float)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def check_ndim(x: Array, ndim: int | tuple[int, ...], name: str, fn: str,
               layout: str) -> None:
    """Raise ValueError unless ``x.ndim`` is (one of) ``ndim``."""
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in allowed:
        raise ValueError(f"{fn}: {name} must have shape {layout}, got shape {x.shape}.")


def check_positive_int(value, name: str, fn: str, minimum: int = 1) -> int:
    """``value`` as a Python int >= ``minimum``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def is_concrete(*xs) -> bool:
    """True when no argument is a tracer, so value checks can run on the host."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


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
