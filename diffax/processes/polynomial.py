"""EDM's polynomial noise schedule (Hoogeboom, Satorras, Vignac & Welling 2022,
"Equivariant Diffusion for Molecule Generation in 3D", App. B), in continuous time.

EDM defines a variance-preserving schedule on the grid t_n = n / T, n = 0..T, by

    f(t)          = (1 - t^p)^2                              ("polynomial_p", p = 2),
    a_n           = prod_{k<=n} clip(f(t_k) / f(t_{k-1}), c, 1),   f(t_{-1}) := 1,
    alpha_n^2     = (1 - 2 s) a_n + s,    sigma_n^2 = 1 - alpha_n^2,

with precision s = 1e-5 and clip c = 0.001 for QM9 (T = 1000). The clip bounds the
per-step ratio alpha_n^2 / alpha_{n-1}^2 from below (a stabilisation for sampling): f(1)
= 0 would make the last ratio 0. The precision keeps alpha^2 in [s, 1 - s], i.e. the
log-SNR in about [-11.5, 11.5].

**Continuous time.** For this family the clip acts on the last step only: for n < T the
unclipped ratio is ((1 - t_n^p) / (1 - t_{n-1}^p))^2, about ((T - n) / (T - n + 1))^2
>= 1/4 near t = 1 (checked on the host at construction for the given p, T, c). So

    a(t) = max(f(t), c f(t - 1/T))

equals EDM's a_n at every grid point (a(t_T) = c f(t_{T-1}), a(t_n) = f(t_n) for n < T),
and between grid points it is a continuous, strictly decreasing schedule, smooth except
at the single time t_c in (1 - 1/T, 1) where the two branches meet (:meth:`kink_times`).
alpha(t)^2 = (1 - 2 s) a(t) + s and sigma(t)^2 = (1 - 2 s)(1 - a(t)) + s, with
1 - f(t) = t^p (2 - t^p) written out so that sigma is accurate as t -> 0.

The inverse of the log-SNR is closed-form on each branch: alpha^2 = sigmoid(lambda),
1 - a = (sigmoid(-lambda) - s) / (1 - 2 s), then t^p = 1 - sqrt(a) = (1 - a) / (1 +
sqrt(a)) below t_c, and (t - 1/T)^p = 1 - sqrt(a / c) above.

``t_min`` defaults to 1/T, EDM's first step: at t = 0 the schedule is flat (d
lambda/dt = 0, so the diffusion g(0) = 0), which the samplers' strictly decreasing
log-SNR does not allow; EDM uses t = 0 only for its decoder p(x | z_0), where
alpha(0)^2 = 1 - s.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike
from diffax.processes.vp import VPProcess

Array = jax.Array


def _f_np(t: np.ndarray, power: float) -> np.ndarray:
    return (1.0 - np.power(t, power)) ** 2


@functools.lru_cache(maxsize=64)
def _clip_time(power: float, timesteps: int, clip: float) -> float:
    """t_c in (1 - 1/T, 1]: where f(t) = c f(t - 1/T) (f decreases faster than c f(. - 1/T)
    there). Bisection in float64 on the host (static hyper-parameters only)."""
    lo, hi = 1.0 - 1.0 / timesteps, 1.0
    g = lambda t: _f_np(t, power) - clip * _f_np(t - 1.0 / timesteps, power)  # noqa: E731
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
    return hi


def edm_polynomial_table(timesteps: int = 1000, power: float = 2.0, precision: float = 1e-5,
                         clip: float = 1e-3) -> np.ndarray:
    """EDM's discrete alpha_n^2, n = 0..T, by the recipe of the module docstring (float64,
    with the cumulative product of clipped ratios written out)."""
    t = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.concatenate([[1.0], _f_np(t, power)])
    a = np.cumprod(np.clip(f[1:] / f[:-1], clip, 1.0))
    return (1.0 - 2.0 * precision) * a + precision


class EDMPolynomial(VPProcess):
    """EDM's ``polynomial_<power>`` schedule with precision ``precision`` and ratio clip
    ``clip`` on T = ``timesteps`` steps (module docstring); defaults are EDM's QM9
    setting (p = 2, s = 1e-5, c = 0.001, T = 1000)."""

    precision: ArrayLike = 1e-5
    power: float = struct.field(pytree_node=False, default=2.0)
    timesteps: int = struct.field(pytree_node=False, default=1000)
    clip: float = struct.field(pytree_node=False, default=1e-3)
    t_min: float = struct.field(pytree_node=False, default=None)
    t_max: float = struct.field(pytree_node=False, default=1.0)

    def _validate(self) -> None:
        where = "EDMPolynomial"
        s = checks.host_float(self.precision)  # Python/NumPy hyper-parameters only
        if s is not None:
            checks.in_range(where, "precision", s, lo=0.0, hi=0.5, lo_open=True,
                            hi_open=True)
        checks.in_range(where, "power", self.power, lo=1.0)
        checks.integer(where, "timesteps", self.timesteps, minimum=2)
        checks.in_range(where, "clip", self.clip, lo=0.0, hi=1.0, lo_open=True)
        # the continuous form is EDM's schedule only if the clip acts on the last step only
        t = np.arange(self.timesteps + 1) / self.timesteps
        f = _f_np(t, float(self.power))
        min_ratio = float(np.min(f[1:-1] / f[:-2])) if self.timesteps > 1 else 1.0
        if min_ratio < self.clip:
            raise ValueError(
                f"{where}: clip={self.clip} exceeds the smallest unclipped step ratio "
                f"{min_ratio:.4g} before the last step (power={self.power}, timesteps="
                f"{self.timesteps}); the continuous form needs clip <= {min_ratio:.4g}.")
        if self.t_min is None:
            object.__setattr__(self, "t_min", 1.0 / self.timesteps)
        checks.interval(where, self.t_min, self.t_max, lo=0.0, hi=1.0)
        if self.t_min <= 0.0:
            raise ValueError(f"{where}: t_min={self.t_min} must be > 0 (the log-SNR is flat "
                             "at t = 0); the default is 1/timesteps.")

    # ---- a(t) and 1 - a(t) ----------------------------------------------------------
    @property
    def t_clip(self) -> float:
        """The time where the clipped branch c f(t - 1/T) takes over (near 1)."""
        return _clip_time(float(self.power), int(self.timesteps), float(self.clip))

    def _branches(self, t: ArrayLike) -> tuple[Array, Array, Array]:
        """(clipped?, u, c_or_1): a = c_or_1 (1 - u^p)^2 with u = t or t - 1/T."""
        t = jnp.asarray(t, dtype=jnp.result_type(t, float))
        clipped = t > self.t_clip
        u = jnp.where(clipped, t - 1.0 / self.timesteps, t)
        return clipped, u, jnp.where(clipped, self.clip, 1.0).astype(t.dtype)

    def _a_and_one_minus_a(self, t: ArrayLike) -> tuple[Array, Array]:
        clipped, u, c = self._branches(t)
        up = jnp.power(u, self.power)
        f = (1.0 - up) ** 2
        one_minus_f = up * (2.0 - up)
        return c * f, jnp.where(clipped, 1.0 - c * f, one_minus_f)

    # ---- primitives -----------------------------------------------------------------
    def alpha2(self, t: ArrayLike) -> Array:
        """alpha(t)^2 = (1 - 2 s) a(t) + s."""
        a, _ = self._a_and_one_minus_a(t)
        return (1.0 - 2.0 * self.precision) * a + self.precision

    def sigma2(self, t: ArrayLike) -> Array:
        """sigma(t)^2 = (1 - 2 s)(1 - a(t)) + s."""
        _, b = self._a_and_one_minus_a(t)
        return (1.0 - 2.0 * self.precision) * b + self.precision

    def log_alpha(self, t: ArrayLike) -> Array:
        return 0.5 * jnp.log(self.alpha2(t))

    def log_sigma(self, t: ArrayLike) -> Array:
        return 0.5 * jnp.log(self.sigma2(t))

    def log_snr(self, t: ArrayLike) -> Array:
        return jnp.log(self.alpha2(t)) - jnp.log(self.sigma2(t))

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        lam = jnp.asarray(log_snr, dtype=jnp.result_type(log_snr, float))
        s = self.precision
        a = (jax.nn.sigmoid(lam) - s) / (1.0 - 2.0 * s)
        one_minus_a = (jax.nn.sigmoid(-lam) - s) / (1.0 - 2.0 * s)
        a_clip = self.clip * float(_f_np(np.float64(self.t_clip - 1.0 / self.timesteps),
                                          float(self.power)))
        clipped = a < a_clip
        a_safe = jnp.clip(a, 0.0, 1.0)
        up_smooth = one_minus_a / (1.0 + jnp.sqrt(a_safe))
        up_clipped = 1.0 - jnp.sqrt(a_safe / self.clip)
        up = jnp.clip(jnp.where(clipped, up_clipped, up_smooth), 0.0, 1.0)
        u = jnp.power(up, 1.0 / self.power)
        return jnp.where(clipped, u + 1.0 / self.timesteps, u)

    def t_from_log_alpha(self, log_alpha: ArrayLike) -> Array:
        la2 = 2.0 * jnp.asarray(log_alpha, dtype=jnp.result_type(log_alpha, float))
        return self.t_from_log_snr(la2 - jnp.log(-jnp.expm1(la2)))

    def kink_times(self):
        """The branch switch t_c (the schedule is smooth elsewhere), when inside
        (t_min, t_max)."""
        tc = self.t_clip
        return np.array([tc]) if self.t_min < tc < self.t_max else None


__all__ = ["EDMPolynomial", "edm_polynomial_table"]
