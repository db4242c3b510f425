"""The exact linear-Gaussian posterior of a Gaussian mixture (GaussianMixture.posterior)
against Bayes' rule on a grid (scipy densities), and its argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from diffax.analytic import GaussianMixture
from mixture_helpers import mixture, params, scipy_log_prob


def test_posterior_matches_bayes_on_grid(x64):
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    A = np.array([[1.0, -0.7]])
    noise_var = 0.2
    y = np.array([0.8])
    post = gm.posterior(A, noise_var, y)
    assert post.means.shape == (3, 2) and post.covs.shape == (3, 2, 2)

    grid = np.linspace(-8.0, 8.0, 321)
    g0, g1 = np.meshgrid(grid, grid, indexing="ij")
    pts = np.stack([g0.ravel(), g1.ravel()], -1)
    log_joint = scipy_log_prob(pts, w, m, c) + stats.norm(0.0, np.sqrt(noise_var)).logpdf(
        y[0] - pts @ A[0])
    cell = (grid[1] - grid[0]) ** 2
    log_post_ref = log_joint - logsumexp(log_joint) - np.log(cell)
    log_post = np.asarray(post.log_prob(pts))
    mask = log_post_ref > log_post_ref.max() - np.log(1e4)
    assert mask.sum() > 500
    np.testing.assert_allclose(log_post[mask], log_post_ref[mask], atol=1e-6)

    # the same posterior from a full (m, m) noise covariance and from a (m,) vector
    for nc in (np.array([[noise_var]]), np.array([noise_var])):
        other = gm.posterior(A, nc, y)
        np.testing.assert_allclose(other.means, post.means, rtol=1e-12)
        np.testing.assert_allclose(other.covs, post.covs, rtol=1e-12)
        np.testing.assert_allclose(other.weights, post.weights, rtol=1e-12)

    # jit + vmap over measurements
    ys = jnp.asarray([[0.8], [-1.0]])
    posts = jax.jit(jax.vmap(lambda yy: gm.posterior(A, noise_var, yy)))(ys)
    np.testing.assert_allclose(posts.means[0], post.means, rtol=1e-12)


def test_posterior_identity_tiny_noise_concentrates(x64):
    gm = mixture()
    y = np.array([0.3, -0.4])
    post = gm.posterior(np.eye(2), 1e-8, y)
    np.testing.assert_allclose(post.mean(), y, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(np.asarray(post.covariance())) < 1.1e-8)
    samples = post.sample(jax.random.PRNGKey(0), 1000)
    assert np.abs(np.asarray(samples) - y).max() < 1e-3


def test_posterior_bad_input_raises():
    gm = GaussianMixture.isotropic([1, 1], np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(m,\)"):
        gm.posterior(np.ones((1, 2)), 0.1, np.zeros(2))
    with pytest.raises(ValueError, match=r"A must have shape \(m, d\)"):
        gm.posterior(np.ones((1, 3)), 0.1, np.zeros(1))
