"""Multistep consistency sampling (``consistency``): the re-noising coefficients are the
forward transition from t_N, and with the exact consistency function of a 1-D mixture
(the PF-ODE map to t_min, ``ode_consistency_function``) the 1- and 3-step samplers
reproduce the mixture at t_min; the "denoise, then re-noise" sampler with the exact
denoiser instead of f* fails the same test (the test can fail). Conformance (jit, vmap,
grad, NFE, options): test_conformance.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from diffax.analytic import GaussianMixture
from diffax.objectives.consistency import ode_consistency_function
from diffax.processes import EDM, VPLinear
from diffax.samplers import get_sampler, sampler_info
from diffax.samplers.consistency import renoise_coefficients

WEIGHTS = np.array([0.6, 0.4])
MEANS = np.array([[-1.0], [1.5]])
VARS = np.array([0.09, 0.25])
N_SAMPLES = 2000
# Kolmogorov-Smirnov: P(sqrt(n) D > 1.95) = 0.001 for n samples of the true law
KS_CRIT = 1.95 / np.sqrt(N_SAMPLES)


def mixture_cdf(x, sigma):
    """CDF of the 1-D mixture convolved with N(0, sigma^2) (its marginal on EDM)."""
    std = np.sqrt(VARS + sigma ** 2)
    return np.sum(WEIGHTS * 0.5 * (1 + special.erf((x[:, None] - MEANS[:, 0]) /
                                                    (np.sqrt(2) * std))), axis=1)


def ks_statistic(samples, sigma):
    x = np.sort(np.asarray(samples, np.float64).ravel())
    cdf = mixture_cdf(x, sigma)
    n = x.shape[0]
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


def test_metadata_and_renoise_coefficients(x64):
    """One evaluation per step, stochastic; a_i = alpha_i / alpha_N and a_i^2 sigma_N^2 +
    b_i^2 = sigma_i^2 (the marginal at t_N pushed to t_i), b_N = 0."""
    info = sampler_info("consistency")
    assert info.nfe(3) == 3 and info.stochastic and info.order is None
    assert info.steps_for_nfe(4) == 4
    p = VPLinear()
    ts = jnp.array([1.0, 0.6, 0.2, 0.05, 1e-3])
    a, b = renoise_coefficients(p, ts)
    np.testing.assert_allclose(a, p.alpha(ts[1:]) / p.alpha(ts[-1]), rtol=1e-14)
    np.testing.assert_allclose(a ** 2 * p.sigma(ts[-1]) ** 2 + b ** 2, p.sigma(ts[1:]) ** 2,
                               rtol=1e-12)
    assert float(b[-1]) == 0.0
    e = EDM()
    a, b = renoise_coefficients(e, jnp.array([80.0, 2.0, 0.002]))
    np.testing.assert_allclose(b, [np.sqrt(4 - 0.002 ** 2), 0.0], rtol=1e-14)  # CM Alg. 1
    np.testing.assert_array_equal(a, [1.0, 1.0])


@pytest.fixture(scope="module")
def exact():
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        p = EDM()
        gmm = GaussianMixture.create(WEIGHTS, MEANS, VARS[:, None, None])
        f = ode_consistency_function(gmm.model_fn("x0", p), p, prediction="x0",
                                     solver="tsit5", rtol=1e-8, atol=1e-8)
        sampler = get_sampler("consistency")
        x_T = p.prior_sample(jax.random.PRNGKey(0), (N_SAMPLES, 1), jnp.float64)
        grids = {1: jnp.array([80.0, 0.002]), 3: jnp.array([80.0, 2.0, 0.5, 0.002])}
        run = jax.jit(lambda x, key: {n: sampler(f, p, x, ts, key=key).x
                                      for n, ts in grids.items()})
        out = run(x_T, jax.random.PRNGKey(1))
        denoiser = jax.jit(lambda x, key: sampler(gmm.model_fn("x0", p), p, x, grids[3],
                                                  key=key).x)(x_T, jax.random.PRNGKey(1))
        return {k: np.asarray(v) for k, v in out.items()}, np.asarray(denoiser)
    finally:
        jax.config.update("jax_enable_x64", prev)


@pytest.mark.parametrize("steps", [1, 3])
def test_exact_consistency_function_reproduces_the_mixture(exact, steps):
    """Samples at sigma_min = 0.002 from the exact f*: KS distance to the exact marginal
    below the 0.1% critical value (measured 0.017 and 0.016 for 1 and 3 steps, critical
    0.044), mean and variance within 4 standard errors."""
    x = exact[0][steps]
    assert ks_statistic(x, 0.002) < KS_CRIT
    mean = float(np.sum(WEIGHTS * MEANS[:, 0]))
    var = float(np.sum(WEIGHTS * (VARS + 0.002 ** 2 + MEANS[:, 0] ** 2)) - mean ** 2)
    assert abs(x.mean() - mean) < 4 * np.sqrt(var / N_SAMPLES)
    assert abs(x.var() - var) < 4 * np.sqrt(2 * var ** 2 / N_SAMPLES) * 1.5  # heavier tails


def test_the_denoiser_is_not_a_consistency_function(exact):
    """Negative control: the same 3-step sampler with the exact *denoiser* E[x0 | x_t]
    (not f*) shrinks the last step's spread: KS 0.20, far above the critical value 0.044."""
    assert ks_statistic(exact[1], 0.002) > 3 * KS_CRIT
