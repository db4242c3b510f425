"""Stateless helpers shared by the networks: functional dropout and input checks.

Dropout is a pure function of an explicit PRNG key, so a network holds no RNG state and
``nnx.split`` / ``nnx.merge`` inside ``jax.jit`` is pure (same key, same output).
Each dropout site derives its own key with ``jax.random.fold_in(key, site)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def site_key(key: jax.Array | None, site: int) -> jax.Array | None:
    """The key of dropout site ``site``: ``fold_in(key, site)``, or ``None`` when ``key`` is."""
    return None if key is None else jax.random.fold_in(key, site)


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout (Srivastava et al. 2014): ``x * m / (1 - rate)``, ``m ~ Bernoulli(1 - rate)``.

    ``key=None`` or ``rate == 0`` is the identity (evaluation mode).
    """
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros((), x.dtype))


def batch_times(t: jax.Array, batch: int) -> jax.Array:
    """Broadcast the noise-conditioning input ``t`` (scalar or (B,)) to shape (B,)."""
    t = jnp.asarray(t)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, batch)):
        raise ValueError(f"t must be a scalar or have shape ({batch},), got shape {t.shape}.")
    return jnp.broadcast_to(t.reshape(-1) if t.ndim else t, (batch,))
