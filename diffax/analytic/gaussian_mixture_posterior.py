"""Linear-Gaussian conditioning of a Gaussian mixture: the exact inverse-problem posterior.

A mixture prior ``p(x) = sum_k w_k N(x; mu_k, Sigma_k)`` is conjugate to measurements
``y = A x + n``, ``n ~ N(0, R)``: the posterior ``p(x | y)`` is again a mixture, with one
Kalman update per component,

* ``S_k = A Sigma_k A^T + R`` and gain ``K_k = Sigma_k A^T S_k^{-1}``,
* weight ``∝ w_k N(y; A mu_k, S_k)`` and mean ``mu_k + K_k (y - A mu_k)``,
* covariance ``(I - K_k A) Sigma_k (I - K_k A)^T + K_k R K_k^T`` (Joseph form).

This makes the mixture the ground truth for guidance and inverse-problem solvers. The
public entry point is :meth:`diffax.analytic.GaussianMixture.posterior`, which
delegates to :func:`posterior` here. This module does not import
:mod:`diffax.analytic.gaussian_mixture` (which imports it): the result is built with
the input mixture's own ``replace``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

if TYPE_CHECKING:
    from diffax.analytic.gaussian_mixture import GaussianMixture

Array = jax.Array


@jax.jit
def posterior(gm: GaussianMixture, A: Array, noise_cov: Any, y: Array) -> GaussianMixture:
    """The exact posterior mixture ``p(x | y)`` of ``gm`` for ``y = A x + n``,
    ``n ~ N(0, noise_cov)`` (see :meth:`GaussianMixture.posterior` for the arguments)."""
    A = jnp.asarray(A)
    y = jnp.asarray(y)
    if A.ndim != 2 or A.shape[1] != gm.dim:
        raise ValueError(f"GaussianMixture.posterior: A must have shape (m, d) with "
                         f"d={gm.dim}, got shape {A.shape}.")
    m = A.shape[0]
    if y.shape != (m,):
        raise ValueError(f"GaussianMixture.posterior: y must have shape (m,) = ({m},) "
                         f"for A of shape {A.shape}, got shape {y.shape}.")
    dtype = jnp.result_type(A, y, gm.means, noise_cov, float)
    A, y = A.astype(dtype), y.astype(dtype)
    R = jnp.asarray(noise_cov, dtype)
    if R.ndim == 0:
        R = R * jnp.eye(m, dtype=dtype)
    elif R.shape == (m,):
        R = jnp.diag(R)
    elif R.shape != (m, m):
        raise ValueError(
            f"GaussianMixture.posterior: noise_cov must be a scalar variance, shape "
            f"(m,) = ({m},) or (m, m) = ({m}, {m}), got shape {R.shape}."
        )
    means, covs = gm.means.astype(dtype), gm.covs.astype(dtype)
    cov_at = jnp.einsum("kij,mj->kim", covs, A)  # Sigma_k A^T, (K, d, m)
    S = jnp.einsum("li,kim->klm", A, cov_at) + R  # (K, m, m)
    S = 0.5 * (S + jnp.swapaxes(S, -1, -2))
    chol = jnp.linalg.cholesky(S)
    resid = y - means @ A.T  # (K, m)
    z = solve_triangular(chol, resid[..., None], lower=True)[..., 0]
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    log_w = (jnp.log(gm.weights.astype(dtype))
             - 0.5 * (jnp.sum(z**2, -1) + logdet + m * math.log(2.0 * math.pi)))
    # Gain K_k = Sigma_k A^T S_k^{-1}  (d, m): solve S_k K_k^T = A Sigma_k.
    gain_t = jax.scipy.linalg.cho_solve((chol, True), jnp.swapaxes(cov_at, -1, -2))
    gain = jnp.swapaxes(gain_t, -1, -2)  # (K, d, m)
    post_means = means + jnp.einsum("kdm,km->kd", gain, resid)
    i_ka = jnp.eye(gm.dim, dtype=dtype) - gain @ A  # (K, d, d)
    post_covs = i_ka @ covs @ jnp.swapaxes(i_ka, -1, -2) + gain @ R @ jnp.swapaxes(gain, -1, -2)
    post_covs = 0.5 * (post_covs + jnp.swapaxes(post_covs, -1, -2))
    return gm.replace(weights=jax.nn.softmax(log_w), means=post_means, covs=post_covs)


__all__ = ["posterior"]
