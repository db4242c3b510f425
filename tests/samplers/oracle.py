"""Shared ground truth for the sampler tests.

A 2-D Gaussian mixture with the exact model for any process and prediction kind,
the adaptive diffrax PF-ODE solution as reference, and a log-log slope fit for
measured convergence orders.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffax.analytic import GaussianMixture
from diffax.samplers import pf_ode_reference


def mixture(dim: int = 2) -> GaussianMixture:
    """Three anisotropic components (full covariances) in ``dim`` dimensions."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, dim)) * 1.5
    covs = []
    for _ in range(3):
        a = rng.normal(size=(dim, dim)) * 0.3
        covs.append(a @ a.T + 0.1 * np.eye(dim))
    return GaussianMixture.create(np.array([0.5, 0.3, 0.2]), means, np.stack(covs))


def reference_endpoint(gmm, process, x_init, t_start, t_end, kind="eps"):
    """Endpoint of the exact PF-ODE (diffrax Dopri8, rtol=atol=1e-11, float64)."""
    return pf_ode_reference(gmm.model_fn(kind, process), process, x_init, t_start, t_end,
                            prediction=kind, solver="dopri8", rtol=1e-11, atol=1e-11).x


def fit_order(nfes, errors) -> float:
    """Slope of -log(error) against log(NFE): the measured global order."""
    return float(-np.polyfit(np.log(np.asarray(nfes, float)), np.log(np.asarray(errors, float)), 1)[0])


def prior_samples(process, n: int = 64, dim: int = 2, seed: int = 0):
    return process.prior_sample(jax.random.PRNGKey(seed), (n, dim), jnp.float64)
