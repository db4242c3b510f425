"""The EDM process of Karras et al. (2022), "Elucidating the Design Space of
Diffusion-Based Generative Models".

Time is the noise level itself: alpha = 1, sigma(t) = t, t in [sigma_min, sigma_max]
(defaults 0.002 and 80). Then f = 0, g^2 = 2 t and the probability-flow ODE is
dx/dt = -t score = (x - D(x; t)) / t.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike, GaussianProcess

Array = jax.Array


def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
                  rho: float = 7.0) -> Array:
    """Karras et al. (2022) eq. (5): n noise levels from sigma_max down to sigma_min,

        sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho.
    """
    checks.integer("karras_sigmas", "n", n, minimum=2)
    checks.interval("karras_sigmas", sigma_min, sigma_max, lo=0, lo_open=True,
                    names=("sigma_min", "sigma_max"))
    checks.positive("karras_sigmas", "rho", rho)
    ramp = jnp.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


class EDM(GaussianProcess):
    """alpha = 1, sigma = t on [t_min, t_max] = [sigma_min, sigma_max]."""

    t_min: float = struct.field(pytree_node=False, default=0.002)
    t_max: float = struct.field(pytree_node=False, default=80.0)

    def _validate(self) -> None:
        checks.interval("EDM", self.t_min, self.t_max, lo=1e-30)

    def log_alpha(self, t: ArrayLike) -> Array:
        return jnp.zeros_like(jnp.asarray(t, dtype=jnp.result_type(t, float)))

    def log_sigma(self, t: ArrayLike) -> Array:
        return jnp.log(jnp.asarray(t))

    def sigma(self, t: ArrayLike) -> Array:
        return jnp.asarray(t, dtype=jnp.result_type(t, float))

    def drift_coef(self, t: ArrayLike) -> Array:
        return self.log_alpha(t)

    def diffusion_sq(self, t: ArrayLike) -> Array:
        return 2.0 * jnp.asarray(t)

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        return jnp.exp(-0.5 * jnp.asarray(log_snr))

    def karras_timesteps(self, n: int, rho: float = 7.0) -> Array:
        """n Karras-rho noise levels from t_max down to t_min."""
        return karras_sigmas(n, self.t_min, self.t_max, rho)
