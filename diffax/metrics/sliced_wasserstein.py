"""Sliced Wasserstein distance (Rabin et al., 2011; Bonneel et al., 2015).

    SW_p(P, Q)^p = E_{theta ~ U(S^{d-1})} W_p(theta# P, theta# Q)^p,

where the 1-D W_p between equal-size empirical measures is the mean p-th power
distance between sorted projections. Monte-Carlo over ``n_projections`` directions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def sliced_wasserstein(key: Array, x: Array, y: Array, n_projections: int = 256,
                       p: float = 2.0) -> Array:
    """SW_p between the empirical measures of ``x`` (n, d) and ``y`` (n, d).

    Both sets must have the same number of points (1-D optimal transport between
    equal-weight atoms is then the sorted matching).
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"sliced_wasserstein: x and y must both have shape (n, d) and "
                         f"match, got {x.shape} and {y.shape}.")
    theta = jax.random.normal(key, (x.shape[1], n_projections), x.dtype)
    theta = theta / jnp.linalg.norm(theta, axis=0, keepdims=True)
    px = jnp.sort(x @ theta, axis=0)
    py = jnp.sort(y @ theta, axis=0)
    return jnp.mean(jnp.abs(px - py) ** p) ** (1.0 / p)
