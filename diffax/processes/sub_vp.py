"""The sub-VP SDE of Song et al. (2021), "Score-Based Generative Modeling through
Stochastic Differential Equations", eq. (29).

Same mean as the linear VP SDE, alpha(t) = exp(-1/2 int_0^t beta), but variance
sigma(t)^2 = (1 - alpha(t)^2)^2, always below the VP variance. Drift f = -beta/2 and
g^2 = beta(t) (1 - alpha(t)^4).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike, GaussianProcess
from diffax.processes.vp import VPLinear

Array = jax.Array


class SubVP(GaussianProcess):
    """sub-VP SDE with linear beta(t) (defaults beta_min=0.1, beta_max=20)."""

    beta_min: ArrayLike = 0.1
    beta_max: ArrayLike = 20.0
    t_min: float = struct.field(pytree_node=False, default=1e-3)
    t_max: float = struct.field(pytree_node=False, default=1.0)

    def _validate(self) -> None:
        # Same argument rules as the VP SDE it shares its mean with.
        self._vp()
        checks.interval("SubVP", self.t_min, self.t_max, lo=0.0, hi=1.0)

    def _vp(self) -> VPLinear:
        return VPLinear(self.beta_min, self.beta_max)

    def log_alpha(self, t: ArrayLike) -> Array:
        return self._vp().log_alpha(t)

    def log_sigma(self, t: ArrayLike) -> Array:
        return jnp.log(-jnp.expm1(2.0 * self.log_alpha(t)))

    def drift_coef(self, t: ArrayLike) -> Array:
        return self._vp().drift_coef(t)

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        # lambda = log(u / (1 - u)^2) with u = alpha^2 -> u is the root in (0, 1) of
        # s u^2 - (2 s + 1) u + s = 0, s = e^lambda: u = 2 s / (2 s + 1 + sqrt(4 s + 1)).
        lam = jnp.asarray(log_snr)
        lam_neg = jnp.minimum(lam, 0.0)
        e = jnp.exp(lam_neg)  # lambda <= 0 branch, written with e^lambda
        log_u_neg = jnp.log(2.0) + lam_neg - jnp.log(2.0 * e + 1.0 + jnp.sqrt(4.0 * e + 1.0))
        m = jnp.exp(-jnp.maximum(lam, 0.0))  # lambda > 0 branch, written with e^-lambda
        log_u_pos = jnp.log(2.0) - jnp.log(2.0 + m + jnp.sqrt(4.0 * m + m**2))
        log_u = jnp.where(lam <= 0.0, log_u_neg, log_u_pos)
        return self._vp().t_from_log_alpha(0.5 * log_u)
