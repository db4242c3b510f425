"""The exact PFGM++ denoiser of a Gaussian mixture (oracle for the PFGM++ loss and sampler).

The PFGM++ kernel (Xu et al., 2023; :class:`diffax.processes.PFGMPP`) at ``r = sigma
sqrt(D)`` is a multivariate t with D degrees of freedom and scale sigma, i.e. a scale
mixture of Gaussians:

    p_r(x | y) = int_0^inf N(x; y, (sigma^2 / u) I) Gamma(u; D/2, rate D/2) du.

For data ``y ~ sum_k pi_k N(mu_k, Sigma_k)`` each slice u is the Gaussian case at noise
std ``sigma / sqrt(u)`` (closed form, :class:`~diffax.analytic.GaussianMixture` with the
EDM process), so the posterior mean is a one-dimensional integral over u,

    E[y | x] = int g(u) p_u(x) m_u(x) du / int g(u) p_u(x) du,
    p_u(x) = sum_k pi_k N(x; mu_k, Sigma_k + sigma^2/u I),  m_u(x) = E[y | x, u].

It is evaluated with M equal-mass nodes ``u_j = G^{-1}((j + 1/2) / M)`` of the Gamma
distribution G (midpoint rule in probability; nodes computed once on the host with
SciPy, weights 1/M, log-sum-exp in x). As D -> inf the Gamma concentrates at u = 1 and
this is EDM's Gaussian-mixture denoiser.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.analytic.gaussian_mixture import GaussianMixture
from diffax.processes.base import ArrayLike
from diffax.processes.edm import EDM

Array = jax.Array


def gamma_nodes(D: float, n_nodes: int) -> np.ndarray:
    """Equal-mass nodes of Gamma(D/2, rate D/2) (mean 1, variance 2/D), float64."""
    from scipy import stats
    checks.positive("gamma_nodes", "D", D)
    checks.positive_int("gamma_nodes", "n_nodes", n_nodes)
    p = (np.arange(n_nodes) + 0.5) / n_nodes
    return stats.gamma.ppf(p, a=0.5 * D, scale=2.0 / D)


def pfgmpp_denoiser(mixture: GaussianMixture, D: float, n_nodes: int = 256) -> Callable:
    """``denoiser(x, sigma, **cond) = E[y | x]`` under the PFGM++ kernel with D extra
    dimensions at ``r = sigma sqrt(D)`` (module docstring); ``x`` has shape ``(B, dim)``,
    ``sigma`` is a scalar or has shape ``(B,)``; kind ``"x0"`` for the PFGM++ sampler."""
    return denoiser_at_nodes(mixture, gamma_nodes(D, n_nodes))


def denoiser_at_nodes(mixture: GaussianMixture, nodes: ArrayLike) -> Callable:
    """:func:`pfgmpp_denoiser` with given equal-weight nodes ``u_j`` (shape (M,), e.g.
    :func:`gamma_nodes`; an array argument, so one compiled program serves every D)."""
    # An EDM process wide enough for every slice's noise level sigma / sqrt(u).
    edm = EDM(t_min=1e-12, t_max=1e12)

    def denoiser(x, sigma, **cond):
        del cond
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        s = sigma[None, :] / jnp.sqrt(jnp.asarray(nodes, x.dtype))[:, None]  # (M, B)

        def at(s_j):
            return (mixture.log_prob(x, s_j, edm), mixture.posterior_mean_x0(x, s_j, edm))

        logp, mean = jax.vmap(at)(s)  # (M, B), (M, B, dim)
        w = jax.nn.softmax(logp, axis=0)  # equal node weights cancel
        return jnp.einsum("mb,mbd->bd", w, mean)

    return denoiser


__all__ = ["denoiser_at_nodes", "gamma_nodes", "pfgmpp_denoiser"]
