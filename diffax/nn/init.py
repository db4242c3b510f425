"""Weight initialisers that compile quickly when a network is built eagerly.

Glorot / Xavier uniform initialisation (Glorot & Bengio 2010), the default of DDPM++
(score_sde ``default_init``) and DiT:

    W_ij ~ U(-a, a),     a = sqrt(3 * scale / fan_avg),   fan_avg = (fan_in + fan_out) / 2

with ``fan_in = receptive_field * shape[-2]``, ``fan_out = receptive_field * shape[-1]``.

Building a network eagerly runs each random initialiser once per parameter shape, and XLA
compiles a new random-number kernel for every new shape (about a second each on a small CPU).
Here the random numbers are drawn as a flat vector whose length is rounded up to a power of
two and then sliced and reshaped, so a network needs only a handful of compiled random
kernels. The draws are still a pure function of the key (usable under ``jax.jit`` and
``nnx.eval_shape``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., jax.Array]


@functools.partial(jax.jit, static_argnames=("size", "kind", "dtype"))
def _flat_draw(key: jax.Array, scale: jax.Array, *, size: int, kind: str, dtype: Any) -> jax.Array:
    """``size`` i.i.d. draws: ``scale * N(0, 1)`` or ``scale * U(-1, 1)``."""
    if kind == "normal":
        return (scale * jax.random.normal(key, (size,), jnp.float32)).astype(dtype)
    return (scale * jax.random.uniform(key, (size,), jnp.float32, -1.0, 1.0)).astype(dtype)


def draw(key: jax.Array, shape: tuple[int, ...], scale: float, kind: str, dtype: Any) -> jax.Array:
    """Draws of ``shape`` made from a flat vector whose length is a power of two."""
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape)
    flat = _flat_draw(key, jnp.float32(scale), size=1 << max(0, (n - 1).bit_length()),
                      kind=kind, dtype=jnp.dtype(dtype))
    if isinstance(flat, jax.core.Tracer):  # inside jit / eval_shape
        return flat[:n].reshape(shape)
    # Eagerly, slice on the host: no compilation per parameter shape.
    return jnp.asarray(np.asarray(flat)[:n].reshape(shape))


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (in, out) or conv (kh, kw, in, out) kernel."""
    if len(shape) < 2:
        raise ValueError(f"fans need a kernel of rank >= 2, got shape {shape}.")
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def xavier_uniform(scale: float = 1.0) -> Initializer:
    """Glorot uniform with variance ``scale / fan_avg`` (formula in the module docstring)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        fan_in, fan_out = fans(tuple(shape))
        limit = math.sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0))
        return draw(key, shape, limit, "uniform", dtype)

    return init


def normal(stddev: float = 1.0) -> Initializer:
    """i.i.d. ``N(0, stddev^2)`` entries."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return draw(key, shape, stddev, "normal", dtype)

    return init


zeros = jax.nn.initializers.zeros
