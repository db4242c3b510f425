"""Shared by the Gaussian-mixture and Gaussian PF-ODE tests: fixed random mixtures and
points, alpha(t), sigma(t) as numpy values, and an independent (scipy) reference density."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats
from scipy.special import logsumexp

from diffax.analytic import GaussianMixture


@jax.jit
def _coefs(process, t):
    return process.alpha(t), process.sigma(t)


def alpha_sigma(process, t):
    """(alpha(t), sigma(t)) as float64/float32 numpy values (one compiled call)."""
    a, s = _coefs(process, jnp.asarray(t))
    return np.asarray(a), np.asarray(s)


def params(dim: int = 2, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = np.array([0.5, 0.3, 0.2])[:k]
    weights = weights / weights.sum()
    means = rng.normal(size=(k, dim)) * 1.5
    covs = []
    for _ in range(k):
        a = rng.normal(size=(dim, dim)) * 0.4
        covs.append(a @ a.T + 0.1 * np.eye(dim))
    return weights, means, np.stack(covs)


def mixture(dim: int = 2, k: int = 3, seed: int = 0) -> GaussianMixture:
    return GaussianMixture.create(*params(dim, k, seed))


def points(n: int = 5, dim: int = 2, seed: int = 1, scale: float = 2.0) -> np.ndarray:
    """``n`` fixed evaluation points in R^dim, N(0, scale^2 I) draws."""
    return np.random.default_rng(seed).normal(size=(n, dim)) * scale


def scipy_log_prob(x, weights, means, covs, alpha=1.0, sigma=0.0):
    """Independent reference: log sum_k w_k N(x; alpha mu_k, alpha^2 S_k + sigma^2 I)."""
    d = means.shape[1]
    comps = [np.log(w) + stats.multivariate_normal(alpha * m, alpha**2 * c + sigma**2 * np.eye(d))
             .logpdf(x) for w, m, c in zip(weights, means, covs)]
    return logsumexp(np.stack(comps, 0), axis=0)
