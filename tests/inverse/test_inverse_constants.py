"""The inverse solvers' constants and steps, against hand computations:

* RED-diff (Mardani et al. 2024): lambda = 0.25, w(t) = sigma_t / alpha_t (the inverse
  square-root SNR), the data-fit weight 1 / (2 sigma_y^2) with sigma_y = 0.05 by default;
* steered diffusion (Nair et al. 2023): the gradient step rho_t = step_size sigma_t^2 after
  the DDIM step, and its inner loop (``n_inner > 1``), which must keep the exact marginals;
* the DDIM step the inverse solvers share (``renoise_prediction``) against the samplers'
  DDIM: deterministic for eta = 0, the same mean and variance for eta = 1.

A point mass at c has the exact noise prediction eps(x, t) = (x - alpha_t c) / sigma_t, so
RED-diff's regulariser eps(x_t) - eps = (alpha_t / sigma_t)(mu - c) has no noise left in it
and one optimiser step can be written down.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from diffax.inverse import get_solver
from diffax.inverse.steps import renoise_prediction
from diffax.processes import VPLinear
from diffax.processes.base import broadcast_to_x
from diffax.samplers import get_sampler

PROCESS = VPLinear()


def _point_mass_eps(c):
    return lambda x, t, **kw: ((x - broadcast_to_x(PROCESS.alpha(t), x) * c)
                               / broadcast_to_x(PROCESS.sigma(t), x))


def _identity(x):
    return x


def test_red_diff_step_by_hand(x64):
    c, mu0, y = np.array([[0.3, -0.2]]), np.array([[0.1, 0.4]]), np.array([[0.5, 0.0]])
    t = 0.6
    ts = jnp.asarray([t, 0.3])  # one optimisation step, at noise level t
    out = get_solver("red_diff")(_point_mass_eps(jnp.asarray(c)), PROCESS, jnp.asarray(mu0),
                                 ts, operator=_identity, y=jnp.asarray(y),
                                 key=jax.random.PRNGKey(0), optimizer=optax.sgd(1.0))
    a, s = float(PROCESS.alpha(t)), float(PROCESS.sigma(t))
    lam, sigma_y = 0.25, 0.05  # the paper's lambda; the default measurement noise
    w = lam * (s / a)  # lambda (SNR)^(-1/2)
    grad = (mu0 - y) / sigma_y**2 + w * (a / s) * (mu0 - c)
    np.testing.assert_allclose(np.asarray(out.x), mu0 - grad, rtol=1e-10)


def _gaussian_model(v):
    """Exact eps prediction of data N(0, v I): eps = sigma x / (alpha^2 v + sigma^2)."""
    def model(x, t, **kw):
        a, s = broadcast_to_x(PROCESS.alpha(t), x), broadcast_to_x(PROCESS.sigma(t), x)
        return s * x / (a**2 * v + s**2)
    return model


def test_steered_step_by_hand(x64):
    """eta = 0, one step t -> s on Gaussian data N(0, v) with energy ||y - x0_hat||^2:
    x0_hat = k x with k = alpha_t v / (alpha_t^2 v + sigma_t^2), the DDIM step
    x_s = alpha_s x0_hat + sigma_s eps_hat, then x_s - rho_t grad, rho_t = step_size
    sigma_t^2, grad = -2 k (y - k x)."""
    v, t, s, step_size = 0.7, 0.8, 0.5, 0.3
    x, y = np.array([[0.9, -1.4]]), np.array([[0.2, 0.1]])
    out = get_solver("steered")(_gaussian_model(v), PROCESS, jnp.asarray(x),
                                jnp.asarray([t, s]), operator=_identity, y=jnp.asarray(y),
                                key=jax.random.PRNGKey(0), eta=0.0, step_size=step_size)
    a_t, s_t = float(PROCESS.alpha(t)), float(PROCESS.sigma(t))
    a_s, s_s = float(PROCESS.alpha(s)), float(PROCESS.sigma(s))
    k = a_t * v / (a_t**2 * v + s_t**2)
    x0, eps = k * x, s_t * x / (a_t**2 * v + s_t**2)
    grad = -2.0 * k * (y - k * x)
    want = a_s * x0 + s_s * eps - step_size * s_t**2 * grad
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10)


@pytest.mark.parametrize("n_inner", [1, 3])
def test_steered_inner_loop_keeps_the_exact_marginal(x64, n_inner):
    """Data at a point mass c, exact model, no steering (step_size 0): every DDIM(eta = 1)
    step maps the exact marginal N(alpha_t c, sigma_t^2) to the one at s (x0_hat = c and
    eps_hat = the true noise) and every re-noising jump maps it back, so the output is
    N(alpha_end c, sigma_end^2) for any n_inner. n = 20,000 draws: the sample variance has
    relative standard error sqrt(2 / n) = 1% and the mean sigma_end / sqrt(n); the bounds
    are 4.5 of those (a jump variance of sigma_t^2 instead of sigma_t^2 - a^2 sigma_s^2
    moves the variance by 50% here)."""
    c, n = 0.5, 20_000
    ts = jnp.linspace(PROCESS.t_max, 0.3, 6)
    t0, t1 = float(ts[0]), float(ts[-1])
    x_T = PROCESS.alpha(t0) * c + PROCESS.sigma(t0) * jax.random.normal(
        jax.random.PRNGKey(1), (n, 1), jnp.float64)
    out = get_solver("steered")(_point_mass_eps(c), PROCESS, x_T, ts, operator=_identity,
                                y=jnp.zeros((n, 1)), key=jax.random.PRNGKey(2), eta=1.0,
                                step_size=0.0, n_inner=n_inner)
    assert out.nfe == 5 * n_inner
    a_end, s_end = float(PROCESS.alpha(t1)), float(PROCESS.sigma(t1))
    assert abs(float(jnp.mean(out.x)) - a_end * c) < 4.5 * s_end / np.sqrt(n)
    assert abs(float(jnp.var(out.x)) / s_end**2 - 1.0) < 4.5 * np.sqrt(2.0 / n)


def test_shared_ddim_step_matches_the_samplers_ddim(x64):
    v, t, s, n = 0.7, 0.8, 0.5, 40_000
    x = jnp.full((n, 1), 0.6)
    model = _gaussian_model(v)
    a_t, s_t = PROCESS.alpha(t), PROCESS.sigma(t)
    eps = model(x, t)
    x0 = (x - s_t * eps) / a_t
    ts = jnp.asarray([t, s])
    # eta = 0: deterministic, the same number
    det = get_sampler("ddim")(model, PROCESS, x[:1], ts, denoise=False).x
    np.testing.assert_allclose(renoise_prediction(PROCESS, x0[:1], eps[:1], t, s, 0.0,
                                                  jnp.zeros((1, 1))), det, rtol=1e-12)
    # eta = 1: same mean (z = 0) and the same variance c^2 (z = 1 minus z = 0)
    draws = get_sampler("ddim_eta1")(model, PROCESS, x, ts, key=jax.random.PRNGKey(3),
                                     denoise=False).x
    mean = renoise_prediction(PROCESS, x0[:1], eps[:1], t, s, 1.0, jnp.zeros((1, 1)))
    c = renoise_prediction(PROCESS, x0[:1], eps[:1], t, s, 1.0, jnp.ones((1, 1))) - mean
    sem = float(c[0, 0]) / np.sqrt(n)
    assert abs(float(jnp.mean(draws)) - float(mean[0, 0])) < 4.5 * sem
    assert abs(float(jnp.var(draws)) / float(c[0, 0]) ** 2 - 1.0) < 4.5 * np.sqrt(2.0 / n)
