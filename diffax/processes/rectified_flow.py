"""Rectified flow / the linear interpolant (Liu et al., 2023, "Flow Straight and
Fast"; Lipman et al., 2023, "Flow Matching for Generative Modeling"; Albergo &
Vanden-Eijnden, 2023).

alpha(t) = 1 - t, sigma(t) = t, so x_t = (1 - t) x0 + t eps and the conditional
velocity is eps - x0. As a Gaussian process: f = -1/(1 - t), g^2 = 2 t / (1 - t),
lambda(t) = 2 log((1 - t)/t) and t(lambda) = sigmoid(-lambda/2).

The log-SNR is infinite at t = 0 and t = 1, so the default truncation is
[1e-3, 1 - 1e-3]; velocity-only samplers may use t_min=0, t_max=1 exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike, GaussianProcess

Array = jax.Array


class RectifiedFlow(GaussianProcess):
    """Linear interpolant between data (t=0) and N(0, I) noise (t=1)."""

    t_min: float = struct.field(pytree_node=False, default=1e-3)
    t_max: float = struct.field(pytree_node=False, default=1.0 - 1e-3)

    def _validate(self) -> None:
        checks.interval("RectifiedFlow", self.t_min, self.t_max, lo=0.0, hi=1.0)

    def log_alpha(self, t: ArrayLike) -> Array:
        return jnp.log1p(-jnp.asarray(t))

    def log_sigma(self, t: ArrayLike) -> Array:
        return jnp.log(jnp.asarray(t))

    def alpha(self, t: ArrayLike) -> Array:
        return 1.0 - jnp.asarray(t)

    def sigma(self, t: ArrayLike) -> Array:
        return jnp.asarray(t, dtype=jnp.result_type(t, float))

    def drift_coef(self, t: ArrayLike) -> Array:
        return -1.0 / (1.0 - jnp.asarray(t))

    def diffusion_sq(self, t: ArrayLike) -> Array:
        t = jnp.asarray(t)
        return 2.0 * t / (1.0 - t)

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        return jax.nn.sigmoid(-0.5 * jnp.asarray(log_snr))
