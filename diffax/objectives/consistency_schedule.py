"""Noise levels, curricula, level sampling, weighting and distances of consistency models.

Two papers, constants pinned to them:

* CM: Song, Dhariwal, Chen & Sutskever (2023), "Consistency Models" (ICML).
* iCT: Song & Dhariwal (2024), "Improved Techniques for Training Consistency Models"
  (ICLR).

**Levels.** Both discretise the noise range [sigma_min, sigma_max] (in EDM coordinates,
sigma = sigma(t) / alpha(t)) by the Karras et al. (2022, eq. 5) rule with rho = 7 (CM
Sec. 5 / App. C; iCT Sec. 2), indexed from the bottom, i = 1..N:

    sigma_i = (sigma_min^(1/rho) + (i - 1)/(N - 1) (sigma_max^(1/rho) - sigma_min^(1/rho)))^rho.

N is traced (it grows during training), so the levels are computed from the formula,
never stored as a table of length N.

**Curricula** N(k) over training step k (of K in total) and the EMA decay mu(k) of the
target network theta^- <- mu theta^- + (1 - mu) theta:

* :class:`ICTCurriculum` (iCT Sec. 3.4, exponential): N(k) = min(s0 2^floor(k / K'), s1)
  + 1 with K' = floor(K / (log2 floor(s1 / s0) + 1)); s0 = 10, s1 = 1280. The target is
  the online network under a stop-gradient, mu = 0 (iCT Sec. 3.2).
* :class:`CTCurriculum` (CM App. C, "consistency training"): N(k) = ceil(sqrt(k/K ((s1 +
  1)^2 - s0^2) + s0^2) - 1) + 1 and mu(k) = exp(s0 log mu0 / N(k)); CIFAR-10: s0 = 2,
  s1 = 150, mu0 = 0.9 (CM Table 3).
* :class:`FixedLevels`: N and mu held fixed, as in consistency distillation (CM
  Algorithm 2; CIFAR-10: N = 18, mu = 0.95, CM Table 3).

**Level sampling.** The pair (sigma_n, sigma_{n+1}), n in {1, .., N - 1}:

* ``"uniform"`` (CM Algorithms 2-3): n ~ U{1, .., N - 1}.
* ``"lognormal"`` (iCT Sec. 3.5):
  p(n) prop. to erf((log sigma_{n+1} - P_mean) / (sqrt(2) P_std)) - erf((log sigma_n - P_mean)
  / (sqrt(2) P_std)), P_mean = -1.1, P_std = 2.0: the probability that a lognormal noise
  level falls between the two levels.

**Weighting** lambda(sigma_n): ``"uniform"`` (1, CM) or ``"inverse_gap"`` (iCT Sec. 3.1:
1 / (sigma_{n+1} - sigma_n)).

**Distances** d(x, y) per example: ``"l2"`` (||x - y||^2, CM), ``"pseudo_huber"`` (iCT
Sec. 3.3): sqrt(||x - y||^2 + c^2) - c with c = 0.00054 sqrt(d), d the data dimension
(c = 0.03 for CIFAR-10's d = 3072).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from diffax import checks

Array = jax.Array

RHO = 7.0                       # CM Sec. 5 / iCT Sec. 2 (Karras et al. 2022)
P_MEAN, P_STD = -1.1, 2.0       # iCT Sec. 3.5
HUBER_C_PER_SQRT_DIM = 0.00054  # iCT Sec. 3.3: c = 0.00054 sqrt(d)
LEVEL_SAMPLING = ("uniform", "lognormal")
WEIGHTINGS = ("uniform", "inverse_gap")
DISTANCES = ("l2", "pseudo_huber")


def karras_level(i: Array, n: Array, sigma_min: float, sigma_max: float,
                 rho: float = RHO) -> Array:
    """sigma_i of N = ``n`` Karras levels (module docstring), i = 1..n from the bottom;
    ``i`` and ``n`` may be traced integers (any broadcastable shapes)."""
    frac = (jnp.asarray(i) - 1.0) / (jnp.asarray(n) - 1.0)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (lo + frac * (hi - lo)) ** rho


@dataclasses.dataclass(frozen=True)
class ICTCurriculum:
    """iCT's exponential curriculum (module docstring); the target network is the online
    one under a stop-gradient (``decay`` = 0)."""

    total_steps: int
    s0: int = 10
    s1: int = 1280

    def __post_init__(self):
        checks.positive_int("ICTCurriculum", "total_steps", self.total_steps)
        checks.integer("ICTCurriculum", "s0", self.s0, minimum=1)
        checks.integer("ICTCurriculum", "s1", self.s1, minimum=self.s0)

    @property
    def stage_steps(self) -> int:
        """K' = floor(K / (log2 floor(s1 / s0) + 1)) (at least 1)."""
        return max(1, int(self.total_steps // (math.log2(self.s1 // self.s0) + 1)))

    @property
    def max_levels(self) -> int:
        return self.s1 + 1

    def num_levels(self, step: Array) -> Array:
        """N(k) = min(s0 2^floor(k / K'), s1) + 1 (an int32 array)."""
        doublings = jnp.minimum(jnp.asarray(step) // self.stage_steps, 30)
        return (jnp.minimum(self.s0 * 2 ** doublings, self.s1) + 1).astype(jnp.int32)

    def decay(self, step: Array) -> Array:
        """mu(k) = 0: no EMA teacher (iCT Sec. 3.2)."""
        return jnp.zeros((), jnp.float32)


@dataclasses.dataclass(frozen=True)
class CTCurriculum:
    """CM's consistency-training schedules N(k) and mu(k) (module docstring)."""

    total_steps: int
    s0: int = 2
    s1: int = 150
    mu0: float = 0.9

    def __post_init__(self):
        checks.positive_int("CTCurriculum", "total_steps", self.total_steps)
        checks.integer("CTCurriculum", "s0", self.s0, minimum=2)
        checks.integer("CTCurriculum", "s1", self.s1, minimum=self.s0)
        checks.probability("CTCurriculum", "mu0", self.mu0, lo_open=True, hi_open=True)

    @property
    def max_levels(self) -> int:
        return self.s1 + 1

    def num_levels(self, step: Array) -> Array:
        """N(k) = ceil(sqrt(k/K ((s1 + 1)^2 - s0^2) + s0^2) - 1) + 1, k clipped to K."""
        k = jnp.minimum(jnp.asarray(step, jnp.float32), self.total_steps)
        root = jnp.sqrt(k / self.total_steps * ((self.s1 + 1) ** 2 - self.s0 ** 2)
                        + self.s0 ** 2)
        return (jnp.ceil(root - 1.0) + 1.0).astype(jnp.int32)

    def decay(self, step: Array) -> Array:
        """mu(k) = exp(s0 log mu0 / N(k))."""
        return jnp.exp(self.s0 * math.log(self.mu0) / self.num_levels(step))


@dataclasses.dataclass(frozen=True)
class FixedLevels:
    """N levels and target decay mu held fixed (consistency distillation, CM Alg. 2)."""

    n: int = 18
    mu: float = 0.95

    def __post_init__(self):
        checks.integer("FixedLevels", "n", self.n, minimum=2)
        checks.probability("FixedLevels", "mu", self.mu, hi_open=True)

    @property
    def max_levels(self) -> int:
        return self.n

    def num_levels(self, step: Array) -> Array:
        return jnp.full((), self.n, jnp.int32)

    def decay(self, step: Array) -> Array:
        return jnp.full((), self.mu, jnp.float32)


def lognormal_level_logits(n_levels: Array, max_levels: int, sigma_min: float,
                           sigma_max: float, p_mean: float = P_MEAN, p_std: float = P_STD,
                           rho: float = RHO) -> Array:
    """log p(n) for n = 1..max_levels - 1 (iCT Sec. 3.5; module docstring); -inf where
    n >= N = ``n_levels`` (traced)."""
    n = jnp.arange(1, max_levels, dtype=jnp.float32)
    lo = karras_level(n, n_levels, sigma_min, sigma_max, rho)
    hi = karras_level(n + 1, n_levels, sigma_min, sigma_max, rho)
    scale = math.sqrt(2.0) * p_std
    mass = (jax.scipy.special.erf((jnp.log(hi) - p_mean) / scale)
            - jax.scipy.special.erf((jnp.log(lo) - p_mean) / scale))
    valid = n < n_levels
    return jnp.where(valid, jnp.log(jnp.where(valid, jnp.maximum(mass, 1e-30), 1.0)), -jnp.inf)


def sample_levels(key: Array, batch: int, n_levels: Array, max_levels: int,
                  sampling: str, sigma_min: float, sigma_max: float,
                  p_mean: float = P_MEAN, p_std: float = P_STD, rho: float = RHO) -> Array:
    """Indices n in {1, .., N - 1} (shape ``(batch,)``, int32) of the lower level of each
    example's pair (sigma_n, sigma_{n+1})."""
    checks.choice("sample_levels", "sampling", sampling, LEVEL_SAMPLING)
    if sampling == "uniform":
        return jax.random.randint(key, (batch,), 1, n_levels).astype(jnp.int32)
    logits = lognormal_level_logits(n_levels, max_levels, sigma_min, sigma_max, p_mean,
                                    p_std, rho)
    return (jax.random.categorical(key, logits, shape=(batch,)) + 1).astype(jnp.int32)


def level_weight(sigma_lo: Array, sigma_hi: Array, weighting: str) -> Array:
    """lambda(sigma_n): 1 (``"uniform"``) or 1 / (sigma_{n+1} - sigma_n) (``"inverse_gap"``)."""
    checks.choice("level_weight", "weighting", weighting, WEIGHTINGS)
    if weighting == "uniform":
        return jnp.ones_like(sigma_lo)
    return 1.0 / (sigma_hi - sigma_lo)


def huber_c(dim: int) -> float:
    """iCT's pseudo-Huber constant c = 0.00054 sqrt(d)."""
    return HUBER_C_PER_SQRT_DIM * math.sqrt(dim)


def distance(a: Array, b: Array, kind: str, c: float | None = None) -> Array:
    """Per-example d(a, b) (shape ``(B,)``): ||a - b||^2 (``"l2"``) or the pseudo-Huber
    sqrt(||a - b||^2 + c^2) - c (``"pseudo_huber"``, c = :func:`huber_c` of the data
    dimension unless given)."""
    checks.choice("distance", "kind", kind, DISTANCES)
    sq = jnp.sum((a - b) ** 2, axis=tuple(range(1, a.ndim)))
    if kind == "l2":
        return sq
    if c is None:
        c = huber_c(math.prod(a.shape[1:]))
    return jnp.sqrt(sq + c * c) - c


__all__ = ["CTCurriculum", "DISTANCES", "FixedLevels", "ICTCurriculum", "LEVEL_SAMPLING",
           "P_MEAN", "P_STD", "RHO", "WEIGHTINGS", "distance", "huber_c", "karras_level",
           "level_weight", "lognormal_level_logits", "sample_levels"]
