"""Value checks of the Gaussian-mixture oracle's kernels
(:mod:`diffax.analytic.gaussian_mixture_kernels`, through :class:`GaussianMixture`):
densities, scores, denoisers, predictions and sampling against independent computations
(scipy densities, autodiff, quadrature, Monte Carlo, the information-form Kalman
update). Constructors and conditioning: test_gaussian_mixture.py; the linear-Gaussian
posterior: test_gaussian_mixture_posterior.py."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import predictions
from diffax.analytic import GaussianMixture
from diffax.processes import get_process
from mixture_helpers import alpha_sigma as _alpha_sigma
from mixture_helpers import mixture, params, points as _points, scipy_log_prob

PROCESS_NAMES = ["vp_linear", "ve", "edm", "rectified_flow", "sub_vp", "ddpm_discrete"]


def _times(process, fracs=(0.0, 0.02, 0.3, 0.7, 1.0)):
    """Times spread over [t_min, t_max] (geometrically for the EDM/VE noise scales)."""
    lo, hi = process.t_min, process.t_max
    return np.array([lo * (hi / lo) ** f if type(process).__name__ == "EDM"
                     else lo + f * (hi - lo) for f in fracs])


# ---- densities -------------------------------------------------------------------------


def test_log_prob_data_matches_scipy(x64):
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    x = _points()
    np.testing.assert_allclose(gm.log_prob(x), scipy_log_prob(x, w, m, c), rtol=1e-12)
    # unbatched input
    np.testing.assert_allclose(gm.log_prob(x[0]), scipy_log_prob(x[0], w, m, c), rtol=1e-12)


@pytest.mark.parametrize("name", ["vp_linear", "ve", "rectified_flow"])
def test_marginal_log_prob_matches_scipy(x64, name):
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    process = get_process(name)
    ts = _times(process)
    x = _points(len(ts), scale=3.0)
    alphas, sigmas = _alpha_sigma(process, ts)
    ref = np.array([scipy_log_prob(x[i], w, m, c, alphas[i], sigmas[i]) for i in range(len(ts))])
    np.testing.assert_allclose(gm.log_prob(x, jnp.asarray(ts), process), ref, rtol=1e-10)


# ---- scores ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_score_equals_autodiff_and_tweedie(x64, name):
    gm = mixture()
    process = get_process(name)
    ts = jnp.asarray(_times(process))
    x = jnp.asarray(_points(len(ts), scale=2.5))

    grad = jax.vmap(jax.grad(lambda xi, ti: gm.log_prob(xi, ti, process)))(x, ts)
    score = gm.score(x, ts, process)
    np.testing.assert_allclose(score, grad, rtol=1e-8, atol=1e-10)

    # Tweedie: score = (alpha E[x0|x_t] - x_t) / sigma^2
    a, s = _alpha_sigma(process, ts)
    a, s = a[:, None], s[:, None]
    x0 = gm.posterior_mean_x0(x, ts, process)
    np.testing.assert_allclose(score, (a * x0 - x) / s**2, rtol=1e-7, atol=1e-9)


def test_data_score_matches_autodiff(x64):
    gm = mixture()
    x = jnp.asarray(_points(4))
    grad = jax.vmap(jax.grad(gm.log_prob))(x)
    np.testing.assert_allclose(gm.score(x), grad, rtol=1e-10, atol=1e-12)
    # at t = 0 the denoiser is the identity
    np.testing.assert_allclose(gm.posterior_mean_x0(x), x, rtol=1e-10)


# ---- denoiser --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vp_linear", "edm"])
def test_posterior_mean_single_gaussian_information_form(x64, name):
    """K = 1: E[x0|x_t] from the information (precision) form of the Kalman update,
    P = Sigma^-1 + alpha^2/sigma^2 I, mean = P^-1 (Sigma^-1 mu + alpha/sigma^2 x)."""
    _, m, c = params(dim=3, k=1)
    gm = GaussianMixture.gaussian(m[0], c[0])
    process = get_process(name)
    x = _points(4, dim=3)
    for t in _times(process, (0.05, 0.5, 0.9)):
        a, s = map(float, _alpha_sigma(process, t))
        prec0 = np.linalg.inv(c[0])
        post_prec = prec0 + (a**2 / s**2) * np.eye(3)
        ref = np.linalg.solve(post_prec, (prec0 @ m[0])[:, None] + (a / s**2) * x.T).T
        np.testing.assert_allclose(gm.posterior_mean_x0(x, t, process), ref, rtol=1e-9,
                                   atol=1e-11)


def test_posterior_mean_mixture_matches_quadrature(x64):
    """E[x0 | x_t] = int x0 p0(x0) N(x_t; a x0, s^2 I) dx0 / int p0(x0) N(...) dx0 on a
    fine 2-D grid (independent scipy densities)."""
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    process = get_process("vp_linear")
    grid = np.linspace(-8.0, 8.0, 321)
    g0, g1 = np.meshgrid(grid, grid, indexing="ij")
    pts = np.stack([g0.ravel(), g1.ravel()], -1)
    log_prior = scipy_log_prob(pts, w, m, c)
    x = _points(scale=1.0)
    for t in (0.2, 0.5):
        a, s = map(float, _alpha_sigma(process, t))
        got = np.asarray(gm.posterior_mean_x0(x, t, process))
        for i in range(len(x)):
            log_lik = -0.5 * np.sum((x[i] - a * pts) ** 2, -1) / s**2
            lw = log_prior + log_lik
            wts = np.exp(lw - lw.max())
            ref = (wts[:, None] * pts).sum(0) / wts.sum()
            np.testing.assert_allclose(got[i], ref, atol=1e-7)


# ---- predictions -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vp_linear", "ve", "edm", "rectified_flow", "sub_vp"])
def test_predict_kinds_consistent(x64, name):
    gm = mixture()
    process = get_process(name)
    ts = jnp.asarray(_times(process))
    x = jnp.asarray(_points(len(ts)))
    preds = {k: gm.predict(k, x, ts, process) for k in predictions.KINDS}
    pairs = list(itertools.product(predictions.KINDS, repeat=2))
    converted = jax.jit(lambda preds, x, ts: [
        predictions.convert(preds[a], a, b, x, ts, process) for a, b in pairs])(preds, x, ts)
    # rtol 1e-6: converting from x0 at t_min divides x - alpha x0 by sigma^2 (~1e-8
    # for sub-VP), which amplifies float64 rounding to ~1e-8 relative.
    for (k_from, k_to), conv in zip(pairs, converted):
        np.testing.assert_allclose(conv, preds[k_to], rtol=1e-6, atol=1e-8,
                                   err_msg=f"{k_from} -> {k_to}")
    score = gm.score(x, ts, process)
    s = _alpha_sigma(process, ts)[1][:, None]
    np.testing.assert_allclose(preds["score"], score, rtol=1e-10)
    np.testing.assert_allclose(preds["x0"], gm.posterior_mean_x0(x, ts, process), rtol=1e-12)
    np.testing.assert_allclose(preds["eps"], -s * score, rtol=1e-10, atol=1e-12)
    # E[flow-matching velocity | x_t] is the probability-flow ODE velocity.
    np.testing.assert_allclose(preds["velocity"], process.pf_ode_drift(x, ts, score),
                               rtol=1e-8, atol=1e-8)


def test_model_fn_scalar_and_batched_t_jit():
    gm = mixture()
    process = get_process("vp_linear")
    x = jnp.asarray(_points(), jnp.float32)
    fn = jax.jit(gm.model_fn("eps", process))
    out_scalar = fn(x, 0.4)
    out_batched = fn(x, jnp.full((5,), 0.4, jnp.float32))
    assert out_scalar.shape == (5, 2) and out_scalar.dtype == jnp.float32
    np.testing.assert_allclose(out_scalar, out_batched, rtol=1e-6)
    np.testing.assert_allclose(out_scalar, gm.predict("eps", x, 0.4, process), rtol=1e-5)
    # conditioning keywords are accepted (and ignored)
    np.testing.assert_allclose(gm.model_fn("eps", process)(x, 0.4, label=jnp.zeros(5)),
                               out_scalar, rtol=1e-5)


def test_float32_matches_float64():
    """float32 oracle (default precision) agrees with a float64 numpy/scipy reference."""
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    assert gm.weights.dtype == gm.means.dtype == gm.covs.dtype == jnp.float32
    process = get_process("vp_linear")
    x = _points(5)
    lp = gm.log_prob(jnp.asarray(x, jnp.float32), 0.3, process)
    sc = gm.score(jnp.asarray(x, jnp.float32), 0.3, process)
    assert lp.dtype == sc.dtype == jnp.float32
    a, s = map(float, _alpha_sigma(process, 0.3))
    np.testing.assert_allclose(lp, scipy_log_prob(x, w, m, c, a, s), rtol=1e-5)
    # score reference by central finite differences of the scipy density
    h = 1e-5
    fd = np.stack([(scipy_log_prob(x + h * e, w, m, c, a, s)
                    - scipy_log_prob(x - h * e, w, m, c, a, s)) / (2 * h) for e in np.eye(2)], -1)
    np.testing.assert_allclose(sc, fd, rtol=1e-4, atol=1e-4)


def test_jit_vmap_over_mixture_and_time(x64):
    gm = mixture()
    process = get_process("ve")
    x = jnp.asarray(_points())
    ts = jnp.asarray(_times(process))

    @jax.jit
    def f(gm, process, x, t):
        return gm.score(x, t, process)

    np.testing.assert_allclose(f(gm, process, x, ts), gm.score(x, ts, process), rtol=1e-12)
    # vmap over a batch of mixtures (stacked pytrees)
    gms = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), gm, mixture(seed=3))
    lp = jax.vmap(lambda g: g.log_prob(x, 0.5, process))(gms)
    np.testing.assert_allclose(lp[1], mixture(seed=3).log_prob(x, 0.5, process), rtol=1e-12)


# ---- sampling --------------------------------------------------------------------------


def _check_moments(samples, mean, cov, n_se=5.0):
    samples = np.asarray(samples, np.float64)
    n = samples.shape[0]
    mean_err = np.abs(samples.mean(0) - mean)
    assert np.all(mean_err < n_se * np.sqrt(np.diag(cov) / n)), (samples.mean(0), mean)
    centred = samples - mean
    prods = centred[:, :, None] * centred[:, None, :]
    se = prods.std(0) / np.sqrt(n)
    assert np.all(np.abs(prods.mean(0) - cov) < n_se * se + 1e-12), (prods.mean(0), cov)


def _numpy_mixture_moments(w, m, c):
    mean = (w[:, None] * m).sum(0)
    second = (w[:, None, None] * (c + m[:, :, None] * m[:, None, :])).sum(0)
    return mean, second - np.outer(mean, mean)


def test_sample_and_sample_marginal_moments(x64):
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    mean0, cov0 = _numpy_mixture_moments(w, m, c)
    np.testing.assert_allclose(gm.mean(), mean0, rtol=1e-12)
    np.testing.assert_allclose(gm.covariance(), cov0, rtol=1e-12)

    n = 40_000
    x0, comp = gm.sample(jax.random.PRNGKey(0), n, return_component=True)
    assert x0.shape == (n, 2)
    _check_moments(x0, mean0, cov0)
    freq = np.bincount(np.asarray(comp), minlength=3) / n
    assert np.all(np.abs(freq - w) < 5 * np.sqrt(w * (1 - w) / n))

    process, t = get_process("rectified_flow"), 0.6
    a, s = map(float, _alpha_sigma(process, t))
    mean_t, cov_t = a * mean0, a**2 * cov0 + s**2 * np.eye(2)
    np.testing.assert_allclose(gm.mean(t, process), mean_t, rtol=1e-12)
    np.testing.assert_allclose(gm.covariance(t, process), cov_t, rtol=1e-12)
    xt = gm.sample_marginal(jax.random.PRNGKey(1), n, t, process)
    _check_moments(xt, mean_t, cov_t)
