"""Exponential moving averages of parameters (Polyak averaging).

    ema <- d * ema + (1 - d) * params,

with several decays kept side by side (e.g. 0.999 and 0.9999, as in score_sde and
EDM). With ``warmup=True`` the effective decay is min(d, (1 + n) / (10 + n)) at update
n (the TensorFlow ExponentialMovingAverage ``num_updates`` rule), so early EMAs are
not dominated by the random initialisation on short runs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax import checks


def ema_key(decay: float) -> str:
    """The name under which the EMA with ``decay`` is stored and logged."""
    return f"ema_{decay:g}"


def init_ema(params: Any, decays: tuple[float, ...]) -> dict[str, Any]:
    """One copy of ``params`` per decay; the decays are distinct numbers in [0, 1)."""
    decays = tuple(checks.probability("init_ema", f"decays[{i}]", d, hi_open=True)
                   for i, d in enumerate(decays))
    checks.distinct("init_ema", "decays", decays)
    return {ema_key(d): jax.tree.map(jnp.array, params) for d in decays}


def update_ema(ema: dict[str, Any], params: Any, step: jax.Array,
               decays: tuple[float, ...], warmup: bool = True) -> dict[str, Any]:
    """Apply one EMA update per decay; ``step`` is the number of updates so far."""
    new = {}
    for d in decays:
        decay = jnp.asarray(d, jnp.float32)
        if warmup:
            n = step.astype(jnp.float32)
            decay = jnp.minimum(decay, (1.0 + n) / (10.0 + n))
        new[ema_key(d)] = jax.tree.map(
            lambda e, p: (decay * e + (1.0 - decay) * p).astype(e.dtype), ema[ema_key(d)], params)
    return new
