"""The 4-D test problem of tests/inverse: a three-component Gaussian-mixture prior with
its exact eps model, a linear measurement with noise SIGMA_Y, and the exact posterior
(GaussianMixture.posterior) with N_SAMPLES reference samples."""

import jax
import jax.numpy as jnp
import numpy as np

from diffax.analytic import GaussianMixture
from diffax.inverse import Mask, RandomProjection, dense_matrix
from diffax.metrics import sliced_wasserstein
from diffax.processes import VPLinear

D, N_SAMPLES, SIGMA_Y = 4, 1000, 0.1


def problem(task: str):
    """(prior, process, operator, y, x_T, posterior reference samples, posterior) for
    ``task`` "mask" (observe the first two coordinates) or "projection" (2 x 4)."""
    p = VPLinear()
    means = np.random.default_rng(0).normal(size=(3, D)) * 1.5
    gm = GaussianMixture.isotropic([0.3, 0.3, 0.4], means, 0.4)
    if task == "mask":
        mask = jnp.array([1.0, 1.0, 0.0, 0.0])
        op = Mask(mask=mask)
    else:
        op = RandomProjection.create(jax.random.PRNGKey(0), 2, D, dtype=jnp.float64)
    A = dense_matrix(op, (D,), jnp.float64)
    x_true = gm.sample(jax.random.PRNGKey(11), 1)
    y1 = op(x_true + 0.0) + SIGMA_Y * jax.random.normal(jax.random.PRNGKey(2), op(x_true).shape)
    rows = np.asarray(jnp.abs(A).sum(1) > 0)  # a mask measures only its kept entries
    if task == "mask":
        y1 = y1 * mask
    post = gm.posterior(A[rows], SIGMA_Y**2, y1[0][rows])
    ref = post.sample(jax.random.PRNGKey(3), N_SAMPLES)
    y = jnp.broadcast_to(y1, (N_SAMPLES,) + y1.shape[1:])
    x_T = p.prior_sample(jax.random.PRNGKey(5), (N_SAMPLES, D), jnp.float64)
    return gm, p, op, y, x_T, ref, post


def sw(a, b) -> float:
    """Sliced Wasserstein-2 distance between two sample sets (fixed projections)."""
    return float(sliced_wasserstein(jax.random.PRNGKey(0), a, b))
