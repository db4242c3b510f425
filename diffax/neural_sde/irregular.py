"""Making regular windows irregular: the missing-data protocols of the benchmarks.

* :func:`drop_observations`: Oh et al.'s robustness protocol (after Kidger et al.
  2020): in every example, ``floor(rate * L)`` of the ``L`` time steps, chosen uniformly
  at random, are removed, independently per channel (or the same steps for all
  channels with ``per_channel=False``). Steps that were already missing stay missing.
* :func:`forecast_mask`: keep only the first ``L - horizon`` steps (the context).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from diffax import checks


def drop_observations(mask: jax.Array, rate: float, key: jax.Array, *,
                      per_channel: bool = True) -> jax.Array:
    """``mask`` (B, L, K) with ``floor(rate * L)`` random steps set to 0 in every example
    (and channel, with ``per_channel``); ``rate`` in [0, 1)."""
    rate = checks.probability("drop_observations", "rate", rate, hi_open=True)
    checks.ndim("drop_observations", "mask", mask, 3, "(B, L, K)")
    b, length, k = mask.shape
    n_drop = math.floor(rate * length)
    u = jax.random.uniform(key, (b, length, k if per_channel else 1))
    rank = jnp.argsort(jnp.argsort(u, axis=1), axis=1)
    keep = (rank >= n_drop).astype(mask.dtype)
    return mask * keep


def forecast_mask(mask: jax.Array, horizon: int) -> jax.Array:
    """``mask`` (B, L, K) with the last ``horizon`` steps removed (0 < horizon < L)."""
    checks.ndim("forecast_mask", "mask", mask, 3, "(B, L, K)")
    length = mask.shape[1]
    horizon = checks.integer("forecast_mask", "horizon", horizon, minimum=1,
                             maximum=length - 1)
    keep = (jnp.arange(length) < length - horizon).astype(mask.dtype)
    return mask * keep[None, :, None]
