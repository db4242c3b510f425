"""Variance-preserving processes: alpha(t)^2 + sigma(t)^2 = 1.

* :class:`VPLinear`: linear beta(t) = beta_min + t (beta_max - beta_min), the VP SDE
  of Song et al. (2021) and the continuous limit of DDPM (Ho et al., 2020):
  log alpha(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2.
* :class:`VPCosine`: alpha_bar(t) = cos^2(pi/2 (t+s)/(1+s)) / cos^2(pi/2 s/(1+s))
  (Nichol & Dhariwal, "Improved DDPM", 2021), alpha = sqrt(alpha_bar).
* :class:`DiscreteDDPM`: a discrete schedule beta_1..beta_N exposed in continuous
  time, with log alpha interpolated piecewise-linearly between t_n = n / N (the
  "discrete" convention of Lu et al., DPM-Solver, 2022).

For all of them sigma = sqrt(1 - alpha^2), lambda = 2 log alpha - log(1 - alpha^2)
and the inverse log-SNR goes through log alpha = -softplus(-lambda) / 2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike, GaussianProcess

Array = jax.Array


class VPProcess(GaussianProcess):
    """Shared algebra of variance-preserving processes (subclasses give log alpha)."""

    def t_from_log_alpha(self, log_alpha: ArrayLike) -> Array:
        raise NotImplementedError

    def log_sigma(self, t: ArrayLike) -> Array:
        # log sqrt(1 - alpha^2), stable as alpha -> 1.
        return 0.5 * jnp.log(-jnp.expm1(2.0 * self.log_alpha(t)))

    def log_snr(self, t: ArrayLike) -> Array:
        la = self.log_alpha(t)
        return 2.0 * la - jnp.log(-jnp.expm1(2.0 * la))

    def t_from_log_snr(self, log_snr: ArrayLike) -> Array:
        return self.t_from_log_alpha(-0.5 * jax.nn.softplus(-jnp.asarray(log_snr)))

    def diffusion_sq(self, t: ArrayLike) -> Array:
        # g^2 = -2 f for a VP process (exact identity, cheaper than the generic form).
        return -2.0 * self.drift_coef(t)


class VPLinear(VPProcess):
    """VP SDE with linear beta(t); defaults beta_min=0.1, beta_max=20 (score_sde)."""

    beta_min: ArrayLike = 0.1
    beta_max: ArrayLike = 20.0
    t_min: float = struct.field(pytree_node=False, default=1e-3)
    t_max: float = struct.field(pytree_node=False, default=1.0)

    def _validate(self) -> None:
        # Python/NumPy hyper-parameters only: see checks.host_float.
        lo, hi = checks.host_float(self.beta_min), checks.host_float(self.beta_max)
        if lo is not None:
            checks.positive("VPLinear", "beta_min", lo)
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(
                f"VPLinear: beta_max={hi} must be >= beta_min={lo} (beta(t) increases)."
            )
        checks.interval("VPLinear", self.t_min, self.t_max, lo=0.0, hi=1.0)

    def beta(self, t: ArrayLike) -> Array:
        return self.beta_min + jnp.asarray(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t: ArrayLike) -> Array:
        t = jnp.asarray(t)
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def drift_coef(self, t: ArrayLike) -> Array:
        return -0.5 * self.beta(t)

    def t_from_log_alpha(self, log_alpha: ArrayLike) -> Array:
        # Positive root of (db/4) t^2 + (b0/2) t + log_alpha = 0, in the form that is
        # stable when beta_max == beta_min.
        b0, db = self.beta_min, self.beta_max - self.beta_min
        la = jnp.asarray(log_alpha)
        return -2.0 * la / (0.5 * b0 + jnp.sqrt(0.25 * b0**2 - db * la))


class VPCosine(VPProcess):
    """Cosine schedule (Nichol & Dhariwal, 2021) in continuous time.

    ``t_max`` defaults to 0.9946 (as in DPM-Solver) because alpha(1) = 0.
    """

    s: ArrayLike = 0.008
    t_min: float = struct.field(pytree_node=False, default=1e-3)
    t_max: float = struct.field(pytree_node=False, default=0.9946)

    def _validate(self) -> None:
        s = checks.host_float(self.s)  # Python/NumPy hyper-parameters only
        if s is not None:
            checks.positive("VPCosine", "s", s)
        checks.interval("VPCosine", self.t_min, self.t_max, lo=0.0, hi=1.0 - 1e-12)

    def _log_cos0(self) -> Array:
        return jnp.log(jnp.cos(0.5 * math.pi * self.s / (1.0 + self.s)))

    def log_alpha(self, t: ArrayLike) -> Array:
        t = jnp.asarray(t)
        return jnp.log(jnp.cos(0.5 * math.pi * (t + self.s) / (1.0 + self.s))) - self._log_cos0()

    def t_from_log_alpha(self, log_alpha: ArrayLike) -> Array:
        c = jnp.exp(jnp.asarray(log_alpha) + self._log_cos0())
        return 2.0 * (1.0 + self.s) / math.pi * jnp.arccos(c) - self.s


def _segment_index_search(x: Array, xp: Array) -> Array:
    """Segment of each x for increasing knots ``xp`` (binary search, unrolled: inside a
    sampler's ``lax.scan`` a rolled search is a nested while loop, and on GPU every
    iteration of one syncs with the host, about 0.4 ms per step for 1000 knots)."""
    pos = jnp.searchsorted(xp, x, side="right", method="scan_unrolled")
    return jnp.clip(pos - 1, 0, xp.shape[0] - 2)


def _segment_index_uniform(x: Array, xp: Array) -> Array:
    """Segment of each x for the uniform knots ``xp[i] = (i + 1) / N``: O(1), no search.

    ``floor(N x) - 1`` can be off by one at a knot through rounding, so one comparison
    with the stored knots on each side gives exactly the search's answer (the segment
    whose left knot is the last one <= x).
    """
    n = xp.shape[0]
    idx = jnp.clip(jnp.floor(x * n).astype(jnp.int32) - 1, 0, n - 2)
    idx = jnp.where((x < xp[idx]) & (idx > 0), idx - 1, idx)
    return jnp.where((x >= xp[idx + 1]) & (idx < n - 2), idx + 1, idx)


def _interp_extrapolate(x: Array, xp: Array, fp: Array, idx: Array) -> Array:
    """Piecewise-linear interpolation on segment ``idx``, linear extrapolation beyond the
    ends. Differentiable in ``x`` (slope of the segment)."""
    x0, x1 = xp[idx], xp[idx + 1]
    y0, y1 = fp[idx], fp[idx + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


class DiscreteDDPM(VPProcess):
    """A discrete DDPM schedule ``betas`` (length N) in continuous time.

    Step n = 1..N sits at t_n = n / N with log alpha_n = 1/2 sum_{i<=n} log(1 - beta_i);
    in between (and beyond, linearly extrapolated) log alpha is piecewise linear in t.
    A network trained on integer steps takes ``model_step(t) = N t - 1`` (0-based).
    """

    betas: ArrayLike = None
    t_min: float = struct.field(pytree_node=False, default=None)
    t_max: float = struct.field(pytree_node=False, default=1.0)

    @classmethod
    def linear(cls, n_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               **kw) -> "DiscreteDDPM":
        """DDPM's linear schedule, betas = linspace(beta_start, beta_end, n_steps)."""
        checks.integer("DiscreteDDPM.linear", "n_steps", n_steps, minimum=2)
        return cls(betas=np.linspace(beta_start, beta_end, n_steps), **kw)

    @classmethod
    def scaled_linear(cls, n_steps: int = 1000, beta_start: float = 0.00085,
                      beta_end: float = 0.012, **kw) -> "DiscreteDDPM":
        """Latent-diffusion schedule, betas = linspace(sqrt(b0), sqrt(b1), N)^2."""
        return cls(betas=np.linspace(beta_start**0.5, beta_end**0.5, n_steps) ** 2, **kw)

    def _validate(self) -> None:
        if self.betas is None:
            raise ValueError("DiscreteDDPM: pass betas (1-D, values in (0, 1)), "
                             "or use DiscreteDDPM.linear().")
        # Values are checked for Python/NumPy input only: JAX also rebuilds the process
        # from traced or placeholder leaves (jit, vmap) and from concrete arrays that are
        # not betas (gradients, tree_map(jnp.zeros_like, ...)), with t_min already set.
        if isinstance(self.betas, (np.ndarray, list, tuple)):
            b = np.asarray(self.betas, dtype=np.float64)
            if b.ndim != 1 or b.shape[0] < 2:
                raise ValueError(f"DiscreteDDPM: betas must be 1-D with >= 2 entries, got "
                                 f"shape {b.shape}.")
            if not np.all((b > 0) & (b < 1)):
                raise ValueError(f"DiscreteDDPM: every beta must lie in (0, 1); got min "
                                 f"{b.min()}, max {b.max()}.")
        if self.t_min is None:  # default: the first grid point t_1 = 1/N
            shape = jnp.shape(self.betas)
            if len(shape) != 1 or shape[0] < 2:
                raise ValueError(f"DiscreteDDPM: betas must be 1-D with >= 2 entries, got "
                                 f"shape {shape}.")
            object.__setattr__(self, "t_min", 1.0 / shape[0])
        checks.interval("DiscreteDDPM", self.t_min, self.t_max, lo=0.0, hi=1.0)

    @property
    def n_steps(self) -> int:
        return int(jnp.shape(self.betas)[0])

    def _tables(self) -> tuple[Array, Array]:
        b = jnp.asarray(self.betas)
        n = b.shape[0]
        t = jnp.arange(1, n + 1, dtype=b.dtype) / n
        log_alpha = 0.5 * jnp.cumsum(jnp.log1p(-b))
        return t, log_alpha

    def log_alpha(self, t: ArrayLike) -> Array:
        ts, la = self._tables()
        t = jnp.asarray(t, dtype=jnp.result_type(t, float))  # integer t must not truncate the grid
        ts = ts.astype(t.dtype)
        return _interp_extrapolate(t, ts, la.astype(t.dtype), _segment_index_uniform(t, ts))

    def t_from_log_alpha(self, log_alpha: ArrayLike) -> Array:
        ts, la = self._tables()
        log_alpha = jnp.asarray(log_alpha, dtype=jnp.result_type(log_alpha, float))
        # -log_alpha increases with t.
        neg_la = -la.astype(log_alpha.dtype)
        return _interp_extrapolate(-log_alpha, neg_la, ts.astype(log_alpha.dtype),
                                   _segment_index_search(-log_alpha, neg_la))

    def kink_times(self) -> np.ndarray:
        """The grid t_n = n / N inside (t_min, t_max): log alpha has kinks there."""
        n = self.n_steps
        t = np.arange(1, n + 1) / n
        return t[(t > self.t_min) & (t < self.t_max)]

    def model_step(self, t: ArrayLike) -> Array:
        """Continuous t -> the (fractional, 0-based) step index of a discrete model."""
        return jnp.asarray(t) * self.n_steps - 1.0
