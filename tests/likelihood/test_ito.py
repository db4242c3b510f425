"""Itô density estimator along reverse-SDE paths against the exact mixture density."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.likelihood import (euler_maruyama_step, ito_log_density,
                               ito_log_density_increment)
from diffax.processes import EDM, VPLinear
from diffax.samplers.base import predictor


def mixture():
    return GaussianMixture.create(
        jnp.array([0.3, 0.5, 0.2]), jnp.array([[-1.0, 0.5], [1.0, 1.0], [0.3, -1.2]]),
        jnp.stack([jnp.eye(2) * 0.2, jnp.array([[0.3, 0.1], [0.1, 0.15]]), jnp.eye(2) * 0.1]),
        dtype=jnp.float64)


def errors(gm, p, n_steps, t_end, drop_norm_term=False, n=1000):
    """Estimated minus exact log q_{t_end} at the sampled endpoints, from exact x(t_max)."""
    ts = np.linspace(p.t_max, t_end, n_steps + 1)
    x0 = gm.sample_marginal(jax.random.PRNGKey(0), n, p.t_max, p)

    def init(z):
        return gm.log_prob(z, p.t_max, p)

    model = gm.model_fn("eps", p)
    if not drop_norm_term:
        out = jax.jit(lambda x, k: ito_log_density(model, p, x, ts, key=k,
                                                   log_prob_init=init))(x0, jax.random.PRNGKey(1))
        x, lp = out.x, out.log_density
        assert out.nfe == n_steps and out.log_density_trajectory.shape == (n_steps + 1, n)
    else:  # negative control: forget the -g^2/2 ||s||^2 term
        score = predictor(model, "eps", p, "score")

        @jax.jit
        def run(x, key):
            def step(c, a):
                x, lp = c
                t, tn, k = a
                s = score(x, t)
                xn = euler_maruyama_step(p, s, x, t, tn, jax.random.normal(k, x.shape))
                extra = 0.5 * (t - tn) * p.diffusion_sq(t) * jnp.sum(s * s, -1)
                return (xn, lp + ito_log_density_increment(p, s, x, xn, t, tn) + extra), None

            (x, lp), _ = jax.lax.scan(step, (x, init(x)),
                                      (ts[:-1], ts[1:], jax.random.split(key, n_steps)))
            return x, lp

        x, lp = run(x0, jax.random.PRNGKey(1))
    return np.asarray(lp - gm.log_prob(x, ts[-1], p))


@pytest.mark.parametrize("process,t_end", [(VPLinear(), 0.02), (EDM(t_max=20.0), 0.05)],
                         ids=["vp_linear", "edm"])
def test_ito_estimate_converges_to_exact_log_density(process, t_end, x64):
    """Pathwise error shrinks at the Euler-Maruyama strong order (~1/2) and the mean
    error is small; dropping one term of the estimator (negative control) fails."""
    gm = mixture()
    coarse, fine = errors(gm, process, 100, t_end), errors(gm, process, 800, t_end)
    order = np.log(np.mean(np.abs(coarse)) / np.mean(np.abs(fine))) / np.log(8.0)
    assert 0.3 < order < 1.2, order
    assert abs(np.mean(fine)) < 0.15, np.mean(fine)
    assert np.mean(np.abs(fine)) < 0.5, np.mean(np.abs(fine))
    wrong = errors(gm, process, 800, t_end, drop_norm_term=True)
    assert np.mean(np.abs(wrong)) > 5 * np.mean(np.abs(fine))


def test_bad_arguments():
    p, gm = VPLinear(), mixture()
    model = gm.model_fn("eps", p)
    x, key = jnp.zeros((3, 2)), jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="decreasing"):
        ito_log_density(model, p, x, [0.1, 0.5], key=key)
    with pytest.raises(ValueError, match="one value per example"):
        ito_log_density(model, p, x, [0.5, 0.1], key=key, log_prob_init=jnp.zeros(2))
