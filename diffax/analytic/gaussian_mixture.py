"""Gaussian mixtures: the exact oracle for every Gaussian forward process.

If the data distribution is a mixture ``p_0 = sum_k w_k N(mu_k, Sigma_k)`` and the
forward process is Gaussian, ``x_t = alpha(t) x0 + sigma(t) eps``, then every quantity
a diffusion model learns is available in closed form:

* the marginal   p_t(x) = sum_k w_k N(x; alpha mu_k, C_k),  C_k = alpha^2 Sigma_k + sigma^2 I,
* the score      grad log p_t(x) = -sum_k r_k(x) C_k^{-1} (x - alpha mu_k),
* the denoiser   E[x0 | x_t = x] = sum_k r_k(x) [mu_k + alpha Sigma_k C_k^{-1} (x - alpha mu_k)],

with responsibilities ``r_k(x) = p(k | x_t = x) = w_k N(x; alpha mu_k, C_k) / p_t(x)``.
Every prediction kind of :mod:`diffax.predictions` is linear in ``(x0, eps)`` given
``x_t``, so its MMSE-optimal value is the same linear function of ``(E[x0|x_t],
E[eps|x_t])``; :meth:`GaussianMixture.predict` returns exactly that. Tweedie's formula,
``score = (alpha E[x0|x_t] - x_t) / sigma^2``, ties the two together.

The mixture is also conjugate to linear-Gaussian measurements ``y = A x + n``
(:meth:`GaussianMixture.posterior`, computed in
:mod:`diffax.analytic.gaussian_mixture_posterior`), which makes it the ground truth for
guidance and inverse-problem solvers.

Conventions: ``x`` has shape ``(..., d)``; ``t`` is a scalar or has one entry per
example (a prefix of ``x.shape[:-1]``, usually ``(B,)``); ``process=None`` (with
``t=None``) means the data distribution itself (alpha = 1, sigma = 0). All methods
are pure, and jit / vmap / grad in float32 and float64 (the result has the promoted
dtype of ``x``, the mixture and ``t``). Densities are evaluated from one
eigendecomposition of each ``Sigma_k`` per call (``C_k`` shares its eigenvectors) and
``logsumexp``; no quantity is obtained by automatic differentiation. The per-example
methods share one jitted kernel that computes every quantity at once
(XLA drops what a caller does not use), so eager callers compile once per process
and shape; the kernels live in :mod:`diffax.analytic.gaussian_mixture_kernels`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diffax import checks
from diffax.analytic import gaussian_mixture_kernels as kernels
from diffax.analytic import gaussian_mixture_posterior
from diffax.predictions import check_kind
from diffax.processes.base import GaussianProcess

Array = jax.Array
ArrayLike = Any


# ---- validation helpers ------------------------------------------------------------------


def _float_dtype(*arrays: Any, dtype: Any = None):
    if dtype is not None:
        return jnp.dtype(dtype)
    return jnp.result_type(*[jnp.asarray(a) for a in arrays], float)


# ---- the mixture -------------------------------------------------------------------------


class GaussianMixture(struct.PyTreeNode):
    """``p(x) = sum_k weights[k] N(x; means[k], covs[k])``.

    Fields (pytree leaves): ``weights`` (K,), ``means`` (K, d), ``covs`` (K, d, d).
    Build it with :meth:`create`, :meth:`diagonal`, :meth:`isotropic` or
    :meth:`gaussian`, which validate their input; the raw constructor does not (JAX
    rebuilds the node from traced leaves).
    """

    weights: Array
    means: Array
    covs: Array

    # ---- constructors ---------------------------------------------------------------
    @classmethod
    def create(cls, weights: ArrayLike, means: ArrayLike, covs: ArrayLike,
               dtype: Any = None) -> "GaussianMixture":
        """Validated mixture. ``weights`` (K,) positive (normalised here), ``means``
        (K, d), ``covs`` (K, d, d) symmetric positive definite.

        ``dtype`` defaults to the floating type of the inputs (float32 unless x64 is
        enabled and the inputs are float64 / Python floats).
        """
        w_shape, m_shape, c_shape = np.shape(weights), np.shape(means), np.shape(covs)
        if len(w_shape) != 1 or w_shape[0] < 1:
            raise ValueError(
                f"GaussianMixture: weights must be 1-D of shape (K,) with K >= 1, got "
                f"shape {w_shape}."
            )
        k = w_shape[0]
        if len(m_shape) != 2 or m_shape[0] != k or m_shape[1] < 1:
            raise ValueError(
                f"GaussianMixture: means must have shape (K, d) = ({k}, d) to match "
                f"weights of shape {w_shape}, got shape {m_shape}."
            )
        d = m_shape[1]
        if tuple(c_shape) != (k, d, d):
            raise ValueError(
                f"GaussianMixture: covs must have shape (K, d, d) = {(k, d, d)} to match "
                f"means of shape {m_shape}, got shape {c_shape}."
            )
        dtype = _float_dtype(weights, means, covs, dtype=dtype)
        checks.floating("GaussianMixture", "dtype", dtype)

        w_np, m_np, c_np = (checks.concrete(a, np.float64) for a in (weights, means, covs))
        if w_np is not None:
            if not np.all(np.isfinite(w_np)) or not np.all(w_np > 0):
                raise ValueError(
                    f"GaussianMixture: weights must be finite and > 0, got {w_np.tolist()}."
                )
            weights = w_np / w_np.sum()
        else:
            weights = jnp.asarray(weights) / jnp.sum(jnp.asarray(weights))
        if m_np is not None and not np.all(np.isfinite(m_np)):
            raise ValueError("GaussianMixture: means contain non-finite values.")
        if c_np is not None:
            if not np.all(np.isfinite(c_np)):
                raise ValueError("GaussianMixture: covs contain non-finite values.")
            asym = np.abs(c_np - np.swapaxes(c_np, -1, -2)).max(axis=(-1, -2))
            scale = np.abs(c_np).max(axis=(-1, -2))
            tol = max(1e-9, 100.0 * float(jnp.finfo(dtype).eps))
            bad = np.nonzero(asym > tol * np.maximum(scale, 1e-30))[0]
            if bad.size:
                raise ValueError(
                    f"GaussianMixture: covs[{int(bad[0])}] is not symmetric (max "
                    f"|C - C^T| = {asym[bad[0]]:.3g}); covariances must be symmetric "
                    "positive definite."
                )
            c_np = 0.5 * (c_np + np.swapaxes(c_np, -1, -2))
            for i in range(k):
                eig_min = float(np.linalg.eigvalsh(c_np[i]).min())
                if not eig_min > 0:
                    raise ValueError(
                        f"GaussianMixture: covs[{i}] is not positive definite (smallest "
                        f"eigenvalue {eig_min:.3g}); covariances must be symmetric "
                        "positive definite."
                    )
            covs = c_np
        else:
            covs = 0.5 * (jnp.asarray(covs) + jnp.swapaxes(jnp.asarray(covs), -1, -2))
        return cls(
            weights=jnp.asarray(weights, dtype=dtype),
            means=jnp.asarray(means, dtype=dtype),
            covs=jnp.asarray(covs, dtype=dtype),
        )

    @classmethod
    def diagonal(cls, weights: ArrayLike, means: ArrayLike, variances: ArrayLike,
                 dtype: Any = None) -> "GaussianMixture":
        """Diagonal covariances: ``variances`` of shape (K, d) (or broadcastable to it,
        e.g. (d,) shared by all components), every entry > 0."""
        m_shape = np.shape(means)
        if len(m_shape) != 2:
            raise ValueError(f"GaussianMixture.diagonal: means must have shape (K, d), "
                             f"got shape {m_shape}.")
        try:
            var = jnp.broadcast_to(jnp.asarray(variances), m_shape)
        except ValueError:
            raise ValueError(
                f"GaussianMixture.diagonal: variances of shape {np.shape(variances)} do "
                f"not broadcast to the means' shape {m_shape}."
            ) from None
        v_np = checks.concrete(var, np.float64)
        if v_np is not None and not (np.all(np.isfinite(v_np)) and np.all(v_np > 0)):
            raise ValueError(
                f"GaussianMixture.diagonal: variances must be finite and > 0, got min "
                f"{np.nanmin(v_np):.3g}."
            )
        covs = jax.vmap(jnp.diag)(var)
        return cls.create(weights, means, covs, dtype=dtype)

    @classmethod
    def isotropic(cls, weights: ArrayLike, means: ArrayLike, std: ArrayLike,
                  dtype: Any = None) -> "GaussianMixture":
        """Isotropic covariances ``std_k^2 I``: ``std`` is a scalar or has shape (K,)."""
        m_shape = np.shape(means)
        if len(m_shape) != 2:
            raise ValueError(f"GaussianMixture.isotropic: means must have shape (K, d), "
                             f"got shape {m_shape}.")
        std = jnp.asarray(std)
        if std.ndim > 1 or (std.ndim == 1 and std.shape[0] != m_shape[0]):
            raise ValueError(
                f"GaussianMixture.isotropic: std must be a scalar or have shape (K,) = "
                f"({m_shape[0]},), got shape {std.shape}."
            )
        s_np = checks.concrete(std, np.float64)
        if s_np is not None and not (np.all(np.isfinite(s_np)) and np.all(s_np > 0)):
            raise ValueError(f"GaussianMixture.isotropic: std must be finite and > 0, got "
                             f"{s_np.tolist()}.")
        std_col = std[:, None] if std.ndim == 1 else std
        return cls.diagonal(weights, means, jnp.broadcast_to(std_col**2, m_shape),
                            dtype=dtype)

    @classmethod
    def gaussian(cls, mean: ArrayLike, cov: ArrayLike, dtype: Any = None) -> "GaussianMixture":
        """A single Gaussian N(mean, cov) as a K=1 mixture; mean (d,), cov (d, d)."""
        if len(np.shape(mean)) != 1:
            raise ValueError(f"GaussianMixture.gaussian: mean must have shape (d,), got "
                             f"shape {np.shape(mean)}.")
        return cls.create(jnp.ones((1,)), jnp.asarray(mean)[None],
                          jnp.asarray(cov)[None], dtype=dtype)

    # ---- basic properties -------------------------------------------------------------
    @property
    def num_components(self) -> int:
        return self.weights.shape[-1]

    @property
    def dim(self) -> int:
        return self.means.shape[-1]

    @property
    def dtype(self):
        return self.means.dtype

    def mean(self, t: Any = None, process: GaussianProcess | None = None) -> Array:
        """Mean of p_t (scalar t): alpha sum_k w_k mu_k."""
        m = jnp.einsum("k,kd->d", self.weights, self.means)
        coefs = kernels.time_coefs(t, process, "mean")
        return m if coefs is None else coefs[0] * m

    def covariance(self, t: Any = None, process: GaussianProcess | None = None) -> Array:
        """Covariance of p_t (scalar t): alpha^2 Cov_0 + sigma^2 I, with
        Cov_0 = sum_k w_k (Sigma_k + mu_k mu_k^T) - m m^T."""
        m = jnp.einsum("k,kd->d", self.weights, self.means)
        second = jnp.einsum("k,kij->ij", self.weights,
                            self.covs + self.means[:, :, None] * self.means[:, None, :])
        cov0 = second - jnp.outer(m, m)
        coefs = kernels.time_coefs(t, process, "covariance")
        if coefs is None:
            return cov0
        a, s = coefs
        return a**2 * cov0 + s**2 * jnp.eye(self.dim, dtype=cov0.dtype)

    # ---- densities, scores, denoisers -------------------------------------------------
    def _eval(self, what: str, x: ArrayLike, t: Any, process: GaussianProcess | None):
        kernels.check_time_args(t, process, what)
        return kernels.evaluate(self, x, t, process)[what]

    def log_prob(self, x: ArrayLike, t: Any = None,
                 process: GaussianProcess | None = None) -> Array:
        """Exact ``log p_t(x)``; shape ``x.shape[:-1]``."""
        return self._eval("log_prob", x, t, process)

    def responsibilities(self, x: ArrayLike, t: Any = None,
                         process: GaussianProcess | None = None) -> Array:
        """``p(k | x_t = x)``, shape ``x.shape[:-1] + (K,)``."""
        return self._eval("responsibilities", x, t, process)

    def class_probs(self, x: ArrayLike, labels: ArrayLike, num_classes: int,
                    t: Any = None, process: GaussianProcess | None = None) -> Array:
        """``p(c | x_t = x)`` when component k belongs to class ``labels[k]`` (ints in
        [0, num_classes)); shape ``x.shape[:-1] + (num_classes,)``. (Equivalently
        ``P(c) p_t(x | c) / p_t(x)`` with ``p(. | c)`` the :meth:`subset` of class c.)"""
        labels = jnp.asarray(labels)
        if labels.shape != (self.num_components,):
            raise ValueError(
                f"GaussianMixture.class_probs: labels must have shape (K,) = "
                f"({self.num_components},), got shape {labels.shape}."
            )
        r = self.responsibilities(x, t, process)
        return r @ jax.nn.one_hot(labels, num_classes, dtype=r.dtype)

    def score(self, x: ArrayLike, t: Any = None,
              process: GaussianProcess | None = None) -> Array:
        """Exact ``grad_x log p_t(x) = -sum_k r_k C_k^{-1}(x - alpha mu_k)``."""
        return self._eval("score", x, t, process)

    def posterior_mean_x0(self, x: ArrayLike, t: Any = None,
                          process: GaussianProcess | None = None) -> Array:
        """``E[x0 | x_t = x] = sum_k r_k [mu_k + alpha Sigma_k C_k^{-1}(x - alpha mu_k)]``."""
        return self._eval("x0", x, t, process)

    def posterior_mean_eps(self, x: ArrayLike, t: Any,
                           process: GaussianProcess) -> Array:
        """``E[eps | x_t = x] = (x - alpha E[x0|x_t]) / sigma = -sigma score``."""
        if process is None:
            raise ValueError("GaussianMixture.posterior_mean_eps: needs a process.")
        return self._eval("eps", x, t, process)

    def predict(self, kind: str, x: ArrayLike, t: Any, process: GaussianProcess) -> Array:
        """The exact MMSE prediction of ``kind`` (one of ``diffax.predictions.KINDS``)
        at ``(x, t)``: ``from_x0_eps(kind, E[x0|x_t], E[eps|x_t], x, t, process)``."""
        check_kind(kind)
        if process is None:
            raise ValueError("GaussianMixture.predict: needs a process (predictions are "
                             "defined at a noise level t).")
        return self._eval("pred_" + kind, x, t, process)

    def model_fn(self, kind: str, process: GaussianProcess) -> Callable[..., Array]:
        """``model_fn(x, t, **cond)`` returning the exact ``kind`` prediction, for
        samplers and losses. ``t`` is a scalar or has shape (B,). Conditioning keyword
        arguments are accepted and ignored (condition with :meth:`subset` instead)."""
        check_kind(kind)
        if process is None:
            raise ValueError("GaussianMixture.model_fn: needs a process.")
        kernels.check_time_args(0.0, process, "model_fn")

        def fn(x, t, **cond):
            del cond
            return self.predict(kind, x, t, process)

        return fn

    # ---- sampling ----------------------------------------------------------------------
    def sample(self, key: Array, n: int, return_component: bool = False):
        """``n`` exact samples of x0, shape (n, d) (and the component index of each if
        ``return_component``)."""
        return kernels.sample(self, key, n, return_component)

    def sample_marginal(self, key: Array, n: int, t: Any, process: GaussianProcess) -> Array:
        """``n`` exact samples of x_t ~ p_t, shape (n, d); ``t`` scalar or shape (n,)."""
        kernels.check_time_args(t, process, "sample_marginal")
        if process is None:
            return self.sample(key, n)
        return kernels.sample_marginal(self, key, n, t, process)

    # ---- conditioning -------------------------------------------------------------------
    def component(self, k: int) -> "GaussianMixture":
        """Component ``k`` as a one-component mixture."""
        return self.subset(jnp.asarray([k]))

    def subset(self, indices: ArrayLike) -> "GaussianMixture":
        """The mixture restricted to ``indices`` (weights renormalised), e.g. one class."""
        idx = jnp.asarray(indices)
        if idx.ndim != 1 or not jnp.issubdtype(idx.dtype, jnp.integer):
            raise ValueError(f"GaussianMixture.subset: indices must be a 1-D integer "
                             f"array, got shape {idx.shape} and dtype {idx.dtype}.")
        i_np = checks.concrete(idx, np.float64)
        if i_np is not None and (i_np.size == 0 or i_np.min() < 0
                                 or i_np.max() >= self.num_components):
            raise ValueError(
                f"GaussianMixture.subset: indices must be non-empty and lie in "
                f"[0, {self.num_components}), got {i_np.astype(int).tolist()}."
            )
        w = self.weights[idx]
        return GaussianMixture(weights=w / jnp.sum(w), means=self.means[idx],
                               covs=self.covs[idx])

    def posterior(self, A: ArrayLike, noise_cov: ArrayLike, y: ArrayLike) -> "GaussianMixture":
        """Exact posterior p(x | y) for ``y = A x + n``, ``n ~ N(0, noise_cov)``.

        ``A`` has shape (m, d), ``y`` shape (m,), ``noise_cov`` is a scalar variance,
        a vector (m,) of variances or an (m, m) covariance. One Kalman update per
        component (:mod:`diffax.analytic.gaussian_mixture_posterior`); the covariance
        is in Joseph form, equal to ``Sigma_k - K_k A Sigma_k`` but symmetric positive
        semi-definite in floating point. For a batch of measurements, ``jax.vmap`` over
        ``y``. Noiseless measurements (``noise_cov = 0``, A of full row rank) give
        exact weights and means, but singular covariances: :meth:`log_prob` and
        :meth:`sample` then return NaN or infinities; use a small positive
        ``noise_cov`` instead.
        """
        return gaussian_mixture_posterior.posterior(self, A, noise_cov, y)


__all__ = ["GaussianMixture"]
