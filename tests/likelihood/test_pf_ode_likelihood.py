"""PF-ODE log-likelihood against the exact Gaussian-mixture density (float64)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.likelihood import pf_ode_log_likelihood
from diffax.likelihood.pf_ode import divergence_fn, make_probes, solve_augmented_ode
from diffax.processes import EDM, DiscreteDDPM, VPLinear
from diffax.samplers.base import predictor


def mixture(dtype=jnp.float64):
    return GaussianMixture.create(
        jnp.array([0.3, 0.5, 0.2]), jnp.array([[-1.0, 0.5], [1.0, 1.0], [0.3, -1.2]]),
        jnp.stack([jnp.eye(2) * 0.2, jnp.array([[0.3, 0.1], [0.1, 0.15]]), jnp.eye(2) * 0.1]),
        dtype=dtype)


PROCESSES = {"vp_linear": VPLinear(), "edm": EDM(), "ddpm50": DiscreteDDPM.linear(50, 1e-3, 0.2)}
# Measured gap (nats/dim) of the default N(0, sigma(t_max)^2) prior to the true x(t_max)
# marginal, with margin: the 50-step schedule ends at alpha(t_max) = 0.067, not ~0.
PRIOR_GAP = {"vp_linear": 1e-2, "edm": 1e-2, "ddpm50": 5e-2}


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_exact_trace_matches_exact_log_density(name, x64):
    """With the exact score, exact trace and the exact density of x(t_max) as prior, the
    ODE reproduces log p_{t_min}(x) to solver tolerance; with the default Gaussian prior
    only the prior's mismatch at t_max remains (``PRIOR_GAP``)."""
    p, gm = PROCESSES[name], mixture()
    x = gm.sample(jax.random.PRNGKey(0), 8)
    model = gm.model_fn("eps", p)
    exact = gm.log_prob(x, p.t_min, p)

    @jax.jit
    def both(x):
        tight = pf_ode_log_likelihood(model, p, x, rtol=1e-8, atol=1e-8,
                                      prior_log_prob=lambda z: gm.log_prob(z, p.t_max, p))
        default = pf_ode_log_likelihood(model, p, x, rtol=1e-6, atol=1e-6)
        return tight, default

    tight, default = both(x)
    np.testing.assert_allclose(tight.log_prob, exact, atol=2e-6)
    np.testing.assert_allclose(tight.log_prob, tight.prior_log_prob + tight.delta_log_prob)
    assert float(jnp.max(jnp.abs(default.log_prob - exact))) / x.shape[1] < PRIOR_GAP[name]
    # p_{t_min} vs the data density itself: within 1e-3 nats/dim where sigma(t_min) is
    # small (VP: 1e-2, EDM: 2e-3); DDPM's first step has sigma^2 = beta_1 = 1e-3 (4e-3).
    gap = float(jnp.max(jnp.abs(tight.log_prob - gm.log_prob(x)))) / x.shape[1]
    assert gap < (1e-3 if name != "ddpm50" else 1e-2)


def test_integrating_noise_to_data_is_wrong(x64):
    """Negative control: treating x as the noise-end state (the wrong direction) gives a
    value far from the exact density, while the data->noise solve matches it."""
    p, gm = VPLinear(), mixture()
    x = gm.sample(jax.random.PRNGKey(1), 8)
    v = predictor(gm.model_fn("eps", p), "eps", p, "velocity")
    f = divergence_fn(v, "exact", None)
    exact = gm.log_prob(x, p.t_min, p)
    z, delta, _ = solve_augmented_ode(f, x, p.t_min, p.t_max, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(gm.log_prob(z, p.t_max, p) + delta, exact, atol=2e-6)
    z_rev, delta_rev, _ = solve_augmented_ode(f, x, p.t_max, p.t_min, rtol=1e-8, atol=1e-8)
    wrong = gm.log_prob(z_rev, p.t_min, p) - delta_rev
    assert float(jnp.min(jnp.abs(wrong - exact))) > 0.1


def test_hutchinson_api_draws_its_probes_from_the_key(x64):
    """pf_ode_log_likelihood(divergence="hutchinson", key, n_probes) equals the solve with
    the probes make_probes draws from that key, and a different key changes it."""
    p, gm = VPLinear(), mixture()
    x = gm.sample(jax.random.PRNGKey(2), 4)
    model = gm.model_fn("eps", p)
    v = predictor(model, "eps", p, "velocity")
    key = jax.random.PRNGKey(7)
    run = jax.jit(lambda k: pf_ode_log_likelihood(model, p, x, divergence="hutchinson", key=k,
                                                  probe="rademacher", n_probes=2, rtol=1e-6,
                                                  atol=1e-6).log_prob)
    probes = make_probes(key, x.shape, 2, "rademacher", x.dtype)
    z, delta, _ = jax.jit(lambda: solve_augmented_ode(divergence_fn(v, "hutchinson", probes), x,
                                                      p.t_min, p.t_max, rtol=1e-6,
                                                      atol=1e-6))()
    np.testing.assert_allclose(run(key), p.prior_log_prob(z) + delta, rtol=1e-6, atol=1e-6)
    assert float(jnp.max(jnp.abs(run(jax.random.PRNGKey(8)) - run(key)))) > 1e-4


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(probe, x64):
    """Mean of 96 independent Hutchinson solves within 3.5 standard errors of the exact
    trace per example; probes scaled by 1.3 (E = 1.69 tr J, a biased estimator) fail."""
    p, gm = VPLinear(), mixture()
    x = gm.sample(jax.random.PRNGKey(2), 4)
    model = gm.model_fn("eps", p)
    v = predictor(model, "eps", p, "velocity")
    exact = pf_ode_log_likelihood(model, p, x, rtol=1e-6, atol=1e-6)

    # One compiled, vmapped solve for both scales (the scale is traced).
    @jax.jit
    @functools.partial(jax.vmap, in_axes=(0, None))
    def estimate(key, scale):
        probes = scale * make_probes(key, x.shape, 1, probe, x.dtype)
        z, delta, _ = solve_augmented_ode(divergence_fn(v, "hutchinson", probes), x,
                                          p.t_min, p.t_max, rtol=1e-6, atol=1e-6)
        return p.prior_log_prob(z) + delta

    keys = jax.random.split(jax.random.PRNGKey(3), 96)
    for scale, unbiased in ((1.0, True), (1.3, False)):
        est = estimate(keys, jnp.asarray(scale, x.dtype))  # (96, B)
        mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(est.shape[0])
        assert float(jnp.min(se)) > 0  # it is an estimator, not the exact trace
        ok = bool(jnp.all(jnp.abs(mean - exact.log_prob) < 3.5 * se))
        assert ok == unbiased, (scale, mean, exact.log_prob, se)


def test_bad_arguments_are_named():
    p = VPLinear()
    x = jnp.zeros((2, 2))
    model = lambda x, t: x  # noqa: E731
    with pytest.raises(ValueError, match="divergence 'trace'.*exact"):
        pf_ode_log_likelihood(model, p, x, divergence="trace")
    with pytest.raises(ValueError, match="needs key"):
        pf_ode_log_likelihood(model, p, x, divergence="hutchinson")
    with pytest.raises(ValueError, match="t_min < t_max"):
        pf_ode_log_likelihood(model, p, x, t_min=0.5, t_max=0.2)
    with pytest.raises(ValueError, match="float batch"):
        pf_ode_log_likelihood(model, p, jnp.zeros((2, 2), jnp.int32))
