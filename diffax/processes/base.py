"""Gaussian forward processes described by ``alpha(t)`` and ``sigma(t)``.

Every Gaussian diffusion or flow corrupts data as

    x_t = alpha(t) x_0 + sigma(t) eps,     eps ~ N(0, I),

(Kingma et al., "Variational Diffusion Models", 2021; Song et al., "Score-Based
Generative Modeling through Stochastic Differential Equations", 2021). Everything
else derives from the two coefficients:

* log-SNR            lambda(t) = 2 (log alpha(t) - log sigma(t)),
* drift coefficient  f(t)      = d/dt log alpha(t),
* squared diffusion  g(t)^2    = d/dt sigma(t)^2 - 2 f(t) sigma(t)^2,

so that the forward SDE ``dx = f(t) x dt + g(t) dW`` has the marginals above, the
reverse SDE is ``dx = [f x - g^2 score] dt + g dW_bar`` and the probability-flow ODE
is ``dx/dt = f x - 1/2 g^2 score``.

A subclass provides ``log_alpha(t)``, ``sigma(t)`` (or ``log_sigma``) and the
inverse of the log-SNR, ``t_from_log_snr``. Time derivatives are exact forward-mode
derivatives (``jax.jvp``) of those definitions, so a new schedule is a few lines.

Processes are ``flax.struct`` dataclasses: array-valued hyper-parameters are pytree
leaves (so a process can be passed through ``jit``/``vmap``), the truncation
interval ``[t_min, t_max]`` is static.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from diffax.processes.protocol import GAUSSIAN

Array = jax.Array
ArrayLike = Any


def broadcast_to_x(coef: ArrayLike, x: ArrayLike) -> Array:
    """Reshape a per-example coefficient of shape ``()`` or ``(B,)`` to broadcast
    against ``x`` of shape ``(B, ...)``."""
    coef = jnp.asarray(coef)
    x = jnp.asarray(x)
    if coef.ndim == 0:
        return coef
    if coef.ndim > x.ndim or x.shape[: coef.ndim] != coef.shape:
        raise ValueError(
            f"time/coefficient shape {coef.shape} does not match the leading "
            f"dimensions of x with shape {x.shape}; pass a scalar t or one t per "
            "example (shape (B,))."
        )
    return coef.reshape(coef.shape + (1,) * (x.ndim - coef.ndim))


class GaussianProcess(struct.PyTreeNode):
    """Base class of Gaussian forward processes ``x_t = alpha(t) x0 + sigma(t) eps``.

    The ``"gaussian"`` family of :class:`~diffax.processes.protocol.Process`.
    Subclasses must implement :meth:`log_alpha`, :meth:`log_sigma` and
    :meth:`t_from_log_snr`, and declare ``t_min``/``t_max`` fields. Argument checks go
    in ``_validate`` (called by ``__post_init__``), not in ``__post_init__`` itself.
    """

    # jax 0.10's dataclass pytree nodes compare equal across classes whose field names
    # and static values coincide (SubVP and VPLinear have the same fields), so a jit
    # cache could run the executable compiled for one class on the other (an
    # intermittent wrong sigma). The class name as a static field keeps every process's
    # treedef distinct.
    process_class: str | None = struct.field(pytree_node=False, default=None,
                                             kw_only=True, repr=False)
    family: ClassVar[str] = GAUSSIAN

    def __post_init__(self):
        object.__setattr__(self, "process_class", type(self).__qualname__)
        self._validate()

    def _validate(self) -> None:
        """Check constructor arguments (subclasses)."""

    # ---- primitives (subclasses) -------------------------------------------------
    def log_alpha(self, t: ArrayLike) -> Array:
        raise NotImplementedError

    def log_sigma(self, t: ArrayLike) -> Array:
        raise NotImplementedError

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        """Inverse of :meth:`log_snr` (the log-SNR is strictly decreasing in t)."""
        raise NotImplementedError

    # ---- coefficients ------------------------------------------------------------
    def alpha(self, t: ArrayLike) -> Array:
        return jnp.exp(self.log_alpha(t))

    def sigma(self, t: ArrayLike) -> Array:
        return jnp.exp(self.log_sigma(t))

    def log_snr(self, t: ArrayLike) -> Array:
        """lambda(t) = log(alpha^2 / sigma^2)."""
        return 2.0 * (self.log_alpha(t) - self.log_sigma(t))

    def _ddt(self, fn, t: ArrayLike) -> Array:
        t = jnp.asarray(t, dtype=jnp.result_type(t, float))
        return jax.jvp(fn, (t,), (jnp.ones_like(t),))[1]

    def d_log_alpha_dt(self, t: ArrayLike) -> Array:
        return self._ddt(self.log_alpha, t)

    def d_alpha_dt(self, t: ArrayLike) -> Array:
        return self._ddt(self.alpha, t)

    def d_sigma_dt(self, t: ArrayLike) -> Array:
        return self._ddt(self.sigma, t)

    def d_sigma2_dt(self, t: ArrayLike) -> Array:
        return 2.0 * self.sigma(t) * self.d_sigma_dt(t)

    def d_log_snr_dt(self, t: ArrayLike) -> Array:
        return self._ddt(self.log_snr, t)

    # ---- SDE -----------------------------------------------------------------
    def drift_coef(self, t: ArrayLike) -> Array:
        """f(t) = d log alpha / dt, the linear drift of ``dx = f x dt + g dW``."""
        return self.d_log_alpha_dt(t)

    def diffusion_sq(self, t: ArrayLike) -> Array:
        """g(t)^2 = d sigma^2/dt - 2 f sigma^2 = -sigma^2 d lambda/dt (>= 0)."""
        return -(self.sigma(t) ** 2) * self.d_log_snr_dt(t)

    def diffusion(self, t: ArrayLike) -> Array:
        return jnp.sqrt(jnp.maximum(self.diffusion_sq(t), 0.0))

    def sde(self, x: ArrayLike, t: ArrayLike) -> tuple[Array, Array]:
        """Forward SDE ``(drift f(t) x, diffusion g(t))`` at ``x``, ``t``."""
        return broadcast_to_x(self.drift_coef(t), x) * x, self.diffusion(t)

    def reverse_sde_drift(self, x: ArrayLike, t: ArrayLike, score: ArrayLike) -> Array:
        """Drift of the reverse-time SDE, ``f x - g^2 score`` (Anderson, 1982)."""
        f = broadcast_to_x(self.drift_coef(t), x)
        g2 = broadcast_to_x(self.diffusion_sq(t), x)
        return f * x - g2 * score

    def pf_ode_drift(self, x: ArrayLike, t: ArrayLike, score: ArrayLike) -> Array:
        """Probability-flow ODE velocity ``dx/dt = f x - 1/2 g^2 score``."""
        f = broadcast_to_x(self.drift_coef(t), x)
        g2 = broadcast_to_x(self.diffusion_sq(t), x)
        return f * x - 0.5 * g2 * score

    # ---- perturbation kernel ---------------------------------------------------
    def marginal_params(self, t: ArrayLike) -> tuple[Array, Array]:
        """``(alpha(t), sigma(t))``: p(x_t | x0) = N(alpha x0, sigma^2 I)."""
        return self.alpha(t), self.sigma(t)

    def perturb(self, x0: ArrayLike, t: ArrayLike, eps: ArrayLike) -> Array:
        """x_t = alpha(t) x0 + sigma(t) eps."""
        a = broadcast_to_x(self.alpha(t), x0)
        s = broadcast_to_x(self.sigma(t), x0)
        return a * x0 + s * eps

    def sample_marginal(self, key: Array, x0: ArrayLike, t: ArrayLike) -> tuple[Array, Array]:
        """Draw ``x_t ~ p(x_t | x0)``; returns ``(x_t, eps)``."""
        x0 = jnp.asarray(x0)
        eps = jax.random.normal(key, x0.shape, x0.dtype)
        return self.perturb(x0, t, eps), eps

    def kernel_log_prob(self, xt: ArrayLike, x0: ArrayLike, t: ArrayLike) -> Array:
        """log N(x_t; alpha x0, sigma^2 I), summed over all but the leading axis."""
        xt = jnp.asarray(xt)
        mean = broadcast_to_x(self.alpha(t), x0) * x0
        log_s = broadcast_to_x(self.log_sigma(t), xt)
        z = (xt - mean) / jnp.exp(log_s)
        ll = -0.5 * z**2 - log_s - 0.5 * math.log(2 * math.pi)
        return ll.reshape(ll.shape[0], -1).sum(-1) if ll.ndim >= 1 else ll

    # ---- prior -----------------------------------------------------------------
    @property
    def prior_std(self) -> Array:
        """Std of the Gaussian prior N(0, sigma(t_max)^2 I) the samplers start from."""
        return self.sigma(jnp.asarray(self.t_max))

    def prior_sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return self.prior_std.astype(dtype) * jax.random.normal(key, shape, dtype)

    def prior_log_prob(self, z: ArrayLike) -> Array:
        """log N(z; 0, sigma(t_max)^2 I), summed over all axes but the first."""
        z = jnp.asarray(z)
        s = self.prior_std
        ll = -0.5 * (z / s) ** 2 - jnp.log(s) - 0.5 * math.log(2 * math.pi)
        return ll.reshape(ll.shape[0], -1).sum(-1)

    # ---- misc ------------------------------------------------------------------
    def kink_times(self):
        """Times in (t_min, t_max) where alpha or sigma is not smooth (``None`` if none).

        The PF-ODE velocity is discontinuous there; adaptive solvers must step onto
        them (see :func:`diffax.samplers.pf_ode_reference`).
        """
        return None

    def validate_time(self, t: float, name: str = "t") -> None:
        """Raise a ValueError if a Python float ``t`` lies outside [t_min, t_max]."""
        if not (self.t_min <= t <= self.t_max):
            raise ValueError(
                f"{name}={t} is outside this process's time interval "
                f"[t_min={self.t_min}, t_max={self.t_max}] ({type(self).__name__})."
            )

    @property
    def name(self) -> str:
        return type(self).__name__
