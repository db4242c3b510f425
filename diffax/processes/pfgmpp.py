"""PFGM++ forward process (Xu et al., 2023, "PFGM++: Unlocking the Potential of
Physics-Inspired Generative Models").

PFGM++ augments the N data dimensions with D extra dimensions and treats data as
electric charges on the hyperplane ``z = 0`` of R^{N+D}. Writing ``r = ||z||`` for
the norm of the augmented coordinates, the perturbation kernel that takes a data
point ``y`` in R^N to the noisy ``x`` in R^N at "radius" r is

    p_r(x | y) = C(N, D) r^D / (||x - y||^2 + r^2)^((N+D)/2),
    C(N, D)    = Gamma((N+D)/2) / (Gamma(D/2) pi^(N/2)).

Two equivalent descriptions of the kernel are used here:

* **Multivariate Student-t.** ``x - y`` is a centred multivariate t in R^N with
  ``nu = D`` degrees of freedom and scale matrix ``(r^2 / D) I``:
  ``t_nu(z; 0, s^2 I) = Gamma((nu+N)/2) / (Gamma(nu/2) (nu pi)^(N/2) s^N)
  (1 + ||z||^2 / (nu s^2))^(-(nu+N)/2)`` with ``nu s^2 = r^2`` gives exactly the
  formula above, which fixes the normalising constant.
* **Radius times direction.** ``x = y + R u`` with ``u`` uniform on the sphere
  S^{N-1} and ``R^2 / r^2 ~ BetaPrime(N/2, D/2)``, i.e. ``R = r sqrt(B / (1-B))``
  with ``B ~ Beta(N/2, D/2)`` (the paper's sampling recipe). We draw the
  Beta-prime variate as a ratio of Gamma variates, ``G_a / G_b`` with
  ``G_a ~ Gamma(N/2)``, ``G_b ~ Gamma(D/2)``, in log space, which is the same
  distribution without the cancellation in ``1 - B`` for heavy tails or small N.

Consequences: ``E||x - y||^2 = r^2 N / (D - 2)`` for D > 2 (infinite otherwise),
and the tails decay polynomially, ``p ~ ||x - y||^{-(N+D)}``; small D is heavy-tailed.

**Alignment with EDM and the D -> infinity limit** (paper, Sec. 4). With
``r = sigma sqrt(D)`` the t scale is ``r / sqrt(D) = sigma`` and, as ``D -> inf``
at fixed sigma, the t distribution tends to the Gaussian,

    p_{sigma sqrt(D)}(x | y) -> N(x; y, sigma^2 I),

so ``||x - y||^2 / sigma^2 -> chi^2_N`` (mean N, variance 2N; for finite D the mean
is ``N D / (D - 2)``). PFGM++ therefore interpolates between PFGM (D = 1) and
EDM (D = inf), and the EDM noise range ``sigma in [0.002, 80]`` carries over through
``r = sigma sqrt(D)``. This class is parametrised by sigma (``t_min``/``t_max`` are the
sigma range, as in :class:`~diffax.processes.edm.EDM`); the kernel methods take r.

Training (paper, Sec. 4): sample sigma as in EDM, set ``r = sigma sqrt(D)``, perturb
``y`` with :meth:`PFGMPP.sample_kernel` and regress an EDM denoiser on ``y`` (or a
score network on :meth:`PFGMPP.score_kernel`). Sampling follows the same ODE as EDM
in sigma, ``dx/dsigma = (x - E[y | x]) / sigma``, started from :meth:`PFGMPP.prior_sample`.

Shapes: the leading axis of ``x``/``y`` is the batch, the remaining axes form one
example whose size must equal ``data_dim`` (N enters the kernel's exponent and its
Beta-prime radius, so a mismatch is an error, not a broadcast).
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import ArrayLike
from diffax.processes.protocol import PFGMPP_FAMILY

Array = jax.Array


def log_gamma_ratio(a: float, h: float) -> float:
    """``log Gamma(a + h) - log Gamma(a)`` in float64 for ``a, h > 0``.

    For large ``a`` the two log-gammas are huge and nearly equal; there the Stirling
    series is differenced analytically,

        (a+h-1/2) log(a+h) - (a-1/2) log a - h + 1/(12(a+h)) - 1/(12a) + O(a^-3)
      = h log a + (a+h-1/2) log1p(h/a) - h - h / (12 a (a+h)) + O(a^-3),

    which keeps full relative precision (used for D -> infinity).
    """
    if a < 1e4:
        return math.lgamma(a + h) - math.lgamma(a)
    return (h * math.log(a) + (a + h - 0.5) * math.log1p(h / a) - h
            - h / (12.0 * a * (a + h)))


def _float_dtype(x: Array):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.result_type(float)


class PFGMPP(struct.PyTreeNode):
    """PFGM++ perturbation kernel with D augmented dimensions on N data dimensions.

    Fields (all static):
      D: number of augmented dimensions, a real number > 0 (integer in the paper;
        D = 1 is PFGM, D -> inf is EDM; e.g. D = 128 or 2048 in the paper's
        image experiments).
      data_dim: N, the number of data dimensions (size of one example).
      t_min, t_max: the sigma range (EDM defaults 0.002 and 80); the corresponding
        radii are ``r = sigma sqrt(D)``.

    A :class:`~diffax.processes.protocol.Process` of its own family ``"pfgmpp"``: the
    kernel is not Gaussian (no alpha(t), sigma(t)), so the Gaussian losses and samplers
    do not apply; registered as ``"pfgmpp"`` in ``PROCESSES``, trained by the ``"pfgmpp"``
    objective (:mod:`diffax.objectives.pfgmpp`) and sampled by ``"pfgmpp_heun"``
    (:mod:`diffax.samplers.pfgmpp`).
    """

    family: ClassVar[str] = PFGMPP_FAMILY

    D: float = struct.field(pytree_node=False)
    data_dim: int = struct.field(pytree_node=False)
    t_min: float = struct.field(pytree_node=False, default=0.002)
    t_max: float = struct.field(pytree_node=False, default=80.0)

    def __post_init__(self):
        try:
            checks.positive("PFGMPP", "D", self.D)
        except ValueError as err:
            raise ValueError(f"{err} For the D -> inf (Gaussian) limit use the EDM "
                             "process.") from None
        checks.positive_int("PFGMPP", "data_dim", self.data_dim)
        checks.interval("PFGMPP", self.t_min, self.t_max, lo=1e-30)

    # ---- sigma <-> r --------------------------------------------------------------
    def r_from_sigma(self, sigma: ArrayLike) -> Array:
        """EDM alignment ``r = sigma sqrt(D)`` (paper, Sec. 4)."""
        return jnp.asarray(sigma) * math.sqrt(self.D)

    def sigma_from_r(self, r: ArrayLike) -> Array:
        """Inverse alignment ``sigma = r / sqrt(D)``."""
        return jnp.asarray(r) / math.sqrt(self.D)

    @property
    def r_min(self) -> float:
        return self.t_min * math.sqrt(self.D)

    @property
    def r_max(self) -> float:
        return self.t_max * math.sqrt(self.D)

    @property
    def log_normalizer(self) -> float:
        """``log Gamma((N+D)/2) - log Gamma(D/2) - (N/2) log(pi D)`` (float64).

        The normalised log-kernel is ``log_normalizer - N log(r / sqrt(D))
        - (N+D)/2 log1p(||x-y||^2 / r^2)``; the constant tends to ``-(N/2) log(2 pi)``
        as D -> inf, the Gaussian one.
        """
        n, d = self.data_dim, float(self.D)
        return log_gamma_ratio(0.5 * d, 0.5 * n) - 0.5 * n * math.log(math.pi * d)

    # ---- shape helpers ------------------------------------------------------------
    def _check_event(self, shape: tuple[int, ...], what: str) -> None:
        if len(shape) < 1:
            raise ValueError(
                f"PFGMPP: {what} must have a leading batch axis, shape (B, ...), got "
                f"shape {shape}."
            )
        n = math.prod(shape[1:])
        if n != self.data_dim:
            raise ValueError(
                f"PFGMPP: {what} with shape {shape} has {n} data dimensions per example "
                f"(product of the non-batch axes), but data_dim={self.data_dim}."
            )

    @staticmethod
    def _per_example(value: ArrayLike, batch: int, name: str, dtype) -> Array:
        value = jnp.asarray(value, dtype=dtype)
        if value.ndim == 0:
            return jnp.broadcast_to(value, (batch,))
        if value.shape != (batch,):
            raise ValueError(
                f"PFGMPP: {name} must be a scalar or have shape ({batch},) (one per "
                f"example), got shape {value.shape}."
            )
        return value

    # ---- perturbation kernel --------------------------------------------------------
    def _sq_dist(self, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
        diff = jnp.asarray(x) - jnp.asarray(y)
        diff = diff.astype(_float_dtype(diff))
        self._check_event(diff.shape, "x - y")
        return diff, jnp.sum(diff.reshape(diff.shape[0], -1) ** 2, axis=-1)

    def log_kernel(self, x: ArrayLike, y: ArrayLike, r: ArrayLike, *,
                   normalized: bool = True) -> Array:
        """``log p_r(x | y)`` per example, shape ``(B,)``.

        ``x`` has shape ``(B, ...)`` with N = data_dim entries per example, ``y``
        broadcasts against ``x`` and ``r`` is a scalar or has shape ``(B,)``.

        normalized=False: ``-(N+D)/2 log(||x - y||^2 + r^2)``, the paper's kernel
        without its constant.
        normalized=True: the exact density ``Gamma((N+D)/2) r^D / (Gamma(D/2)
        pi^(N/2)) (||x-y||^2 + r^2)^(-(N+D)/2)`` (multivariate t with D degrees of
        freedom and scale r / sqrt(D)).
        """
        diff, d2 = self._sq_dist(x, y)
        r = self._per_example(r, diff.shape[0], "r", diff.dtype)
        half = 0.5 * (self.data_dim + self.D)
        if not normalized:
            return -half * jnp.log(d2 + r**2)
        sigma = self.sigma_from_r(r)
        return (self.log_normalizer - self.data_dim * jnp.log(sigma)
                - half * jnp.log1p(d2 / r**2))

    def score_kernel(self, x: ArrayLike, y: ArrayLike, r: ArrayLike) -> Array:
        """``grad_x log p_r(x | y) = -(N+D) (x - y) / (||x - y||^2 + r^2)``.

        The denoising score-matching target for PFGM++ (shape of ``x``). With
        ``r = sigma sqrt(D)`` it tends to the Gaussian ``-(x - y) / sigma^2`` as
        D -> inf.
        """
        diff, d2 = self._sq_dist(x, y)
        r = self._per_example(r, diff.shape[0], "r", diff.dtype)
        coef = -(self.data_dim + self.D) / (d2 + r**2)
        return coef.reshape(coef.shape + (1,) * (diff.ndim - 1)) * diff

    def sample_radius(self, key: Array, sigma: ArrayLike, batch: int,
                      dtype=jnp.float32) -> Array:
        """Radii ``R = ||x - y||`` of kernel draws, shape ``(batch,)``.

        ``R^2 / r^2 ~ BetaPrime(N/2, D/2)`` with ``r = sigma sqrt(D)``, drawn as
        ``exp(log G_a - log G_b)``, ``G_a ~ Gamma(N/2)``, ``G_b ~ Gamma(D/2)``.
        """
        sigma = self._per_example(sigma, batch, "sigma", dtype)
        ka, kb = jax.random.split(key)
        log_ga = jax.random.loggamma(ka, 0.5 * self.data_dim, (batch,), dtype)
        log_gb = jax.random.loggamma(kb, 0.5 * self.D, (batch,), dtype)
        # R = sigma sqrt(D) sqrt(G_a / G_b) = sigma sqrt(G_a / (G_b / D)).
        return sigma * jnp.exp(0.5 * (log_ga - (log_gb - math.log(self.D))))

    def sample_kernel(self, key: Array, y: ArrayLike, sigma: ArrayLike) -> Array:
        """Draw ``x ~ p_r(. | y)`` with ``r = sigma sqrt(D)``; same shape as ``y``.

        ``y`` has shape ``(B, ...)`` with N = data_dim entries per example; ``sigma``
        is a scalar or has shape ``(B,)``. ``x = y + R u`` with ``u = g / ||g||``,
        ``g ~ N(0, I_N)`` (uniform on S^{N-1}) and R from :meth:`sample_radius`.
        """
        y = jnp.asarray(y)
        y = y.astype(_float_dtype(y))
        self._check_event(y.shape, "y")
        batch = y.shape[0]
        sigma = self._per_example(sigma, batch, "sigma", y.dtype)
        k_dir, k_rad = jax.random.split(key)
        g = jax.random.normal(k_dir, (batch, self.data_dim), y.dtype)
        u = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
        radius = self.sample_radius(k_rad, sigma, batch, y.dtype)
        return y + (radius[:, None] * u).reshape(y.shape)

    def sample_marginal(self, key: Array, x0: ArrayLike, t: ArrayLike) -> tuple[Array, Array]:
        """:meth:`sample_kernel` at ``sigma = t`` (the Process interface); returns
        ``(x_t, x_t - x0)``."""
        x_t = self.sample_kernel(key, x0, t)
        return x_t, x_t - jnp.asarray(x0, x_t.dtype)

    # ---- prior -----------------------------------------------------------------------
    def prior_sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        """The kernel at ``sigma = t_max`` around ``y = 0``; ``shape = (B, ...)``."""
        return self.sample_kernel(key, jnp.zeros(shape, dtype), self.t_max)

    def prior_log_prob(self, z: ArrayLike) -> Array:
        """``log p_{r_max}(z | 0)`` per example, shape ``(B,)``."""
        z = jnp.asarray(z)
        return self.log_kernel(z, jnp.zeros((), z.dtype), self.r_max)

    @property
    def name(self) -> str:
        return type(self).__name__
