"""The variance-exploding SDE (Song et al., 2021; NCSN, Song & Ermon, 2019).

alpha(t) = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t for t in [0, 1]:
f = 0 and g^2 = d sigma^2/dt = 2 sigma(t)^2 log(sigma_max / sigma_min).
Defaults sigma_min=0.01, sigma_max=50 follow score_sde's CIFAR-10 configs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike, GaussianProcess

Array = jax.Array


class VE(GaussianProcess):
    """Variance-exploding process with a geometric sigma schedule."""

    sigma_min: ArrayLike = 0.01
    sigma_max: ArrayLike = 50.0
    t_min: float = struct.field(pytree_node=False, default=1e-5)
    t_max: float = struct.field(pytree_node=False, default=1.0)

    def _validate(self) -> None:
        # Python/NumPy hyper-parameters only: see checks.host_float.
        lo, hi = checks.host_float(self.sigma_min), checks.host_float(self.sigma_max)
        if lo is not None:
            checks.positive("VE", "sigma_min", lo)
        if lo is not None and hi is not None and not hi > lo:
            raise ValueError(f"VE: sigma_max={hi} must be > sigma_min={lo}.")
        checks.interval("VE", self.t_min, self.t_max, lo=0.0, hi=1.0)

    def _log_ratio(self) -> Array:
        return jnp.log(self.sigma_max) - jnp.log(self.sigma_min)

    def log_alpha(self, t: ArrayLike) -> Array:
        return jnp.zeros_like(jnp.asarray(t, dtype=jnp.result_type(t, float)))

    def log_sigma(self, t: ArrayLike) -> Array:
        return jnp.log(self.sigma_min) + jnp.asarray(t) * self._log_ratio()

    def drift_coef(self, t: ArrayLike) -> Array:
        return self.log_alpha(t)

    def diffusion_sq(self, t: ArrayLike) -> Array:
        return 2.0 * self.sigma(t) ** 2 * self._log_ratio()

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        return (-0.5 * jnp.asarray(log_snr) - jnp.log(self.sigma_min)) / self._log_ratio()
