"""SuperDiff OR / AND on two Gaussian mixtures that share one mode (exact scores)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.guidance import superposition
from diffax.metrics import sliced_wasserstein
from diffax.processes import VPLinear

A, B, C = [-2.0, 0.0], [0.0, 2.0], [2.0, 0.0]


def setup():
    g1 = GaussianMixture.isotropic([0.5, 0.5], [A, B], 0.3)
    g2 = GaussianMixture.isotropic([0.5, 0.5], [B, C], 0.3)
    p = VPLinear()
    ts = np.linspace(p.t_max, 1e-3, 301)
    x0 = p.prior_sample(jax.random.PRNGKey(0), (1500, 2), jnp.float64)
    return g1, g2, p, ts, x0


def mode_fractions(x):
    d = np.stack([np.linalg.norm(np.asarray(x) - np.array(c), axis=1) for c in (A, B, C)], 1)
    near = d.argmin(1)
    return np.array([(near == i).mean() for i in range(3)])


@pytest.fixture(scope="module")
def runs():
    jax.config.update("jax_enable_x64", True)
    try:
        g1, g2, p, ts, x0 = setup()
        models = [g1.model_fn("eps", p), g2.model_fn("eps", p)]

        @jax.jit
        def run(x, key, log_w):
            return (superposition(models, p, x, ts, key=key, mode="or", log_weights=log_w),
                    superposition(models, p, x, ts, key=key, mode="and"))

        uniform = run(x0, jax.random.PRNGKey(1), jnp.zeros(2))
        weighted = run(x0, jax.random.PRNGKey(1), jnp.log(jnp.array([0.8, 0.2])))[0]
        yield g1, g2, p, uniform, weighted
    finally:
        jax.config.update("jax_enable_x64", False)


def test_or_samples_the_exact_mixture(runs):
    """OR's weights are exact posterior model probabilities, so with exact scores the
    samples follow 1/2 (q1 + q2): sliced-W2 at the two-sample noise level, while either
    model alone (negative control) is far off; weights 0.8/0.2 move the mode masses to
    0.4 / 0.5 / 0.1."""
    g1, g2, p, (or_out, _), weighted = runs
    assert or_out.nfe == 600
    mix = GaussianMixture.isotropic([0.25, 0.25, 0.25, 0.25], [A, B, B, C], 0.3)
    key = jax.random.PRNGKey(0)
    ref = mix.sample(jax.random.PRNGKey(5), 1500)
    sw = float(sliced_wasserstein(key, or_out.x, ref))
    noise = float(sliced_wasserstein(key, mix.sample(jax.random.PRNGKey(6), 1500), ref))
    single = float(sliced_wasserstein(key, g1.sample(jax.random.PRNGKey(6), 1500), ref))
    assert sw < 2 * noise and single > 4 * noise, (sw, noise, single)
    np.testing.assert_allclose(mode_fractions(or_out.x), [0.25, 0.5, 0.25], atol=0.05)
    np.testing.assert_allclose(mode_fractions(weighted.x), [0.4, 0.5, 0.1], atol=0.05)
    k = np.asarray(or_out.kappa)
    assert np.all(k >= 0) and np.allclose(k.sum(1), 1.0)
    # the tracked densities are each model's marginal density of the samples (up to the
    # Euler-Maruyama error of 300 steps, strong order 1/2; tests/likelihood/test_ito.py)
    err = or_out.log_densities[0] - g1.log_prob(or_out.x, 1e-3, p)
    assert float(jnp.median(jnp.abs(err))) < 1.0


def test_and_concentrates_where_the_product_does(runs):
    """The normalized product q1 q2 has essentially all its mass at the shared mode B
    (the A-C cross term is exp(-44) smaller); AND puts > 90% of its samples there, with
    equal model densities along the way, while OR puts half of them there."""
    g1, g2, p, (or_out, and_out), _ = runs
    assert mode_fractions(and_out.x)[1] > 0.9
    assert mode_fractions(or_out.x)[1] < 0.6
    np.testing.assert_allclose(and_out.log_densities[0], and_out.log_densities[1], atol=1e-8)
    # both exact densities are high at AND's samples
    lp1, lp2 = g1.log_prob(and_out.x), g2.log_prob(and_out.x)
    assert float(jnp.median(jnp.minimum(lp1, lp2))) > -1.0


def test_bad_arguments():
    g1, g2, p, ts, x0 = setup()
    m = [g1.model_fn("eps", p), g2.model_fn("eps", p)]
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="valid choices"):
        superposition(m, p, x0, ts, key=key, mode="xor")
    with pytest.raises(ValueError, match="exactly two"):
        superposition(m + m[:1], p, x0, ts, key=key, mode="and")
    with pytest.raises(ValueError, match="decreasing"):
        superposition(m, p, x0, ts[::-1], key=key)
    with pytest.raises(ValueError, match="log_weights"):
        superposition(m, p, x0, ts, key=key, log_weights=[0.0])
