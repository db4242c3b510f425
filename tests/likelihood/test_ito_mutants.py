"""The Itô density estimator (Skreta et al. 2025) one step at a time, by hand: the pieces
that mutation testing of diffax/likelihood/ito.py checks (docs/testing.md, "Mutation
testing"); the convergence to the exact density is in test_ito.py.

On VP-linear, beta(t) = 0.1 + 19.9 t, f(t) = -beta/2, g(t)^2 = beta. One reverse step
t -> t - h with score s and noise z:

    x' = x + h (g^2 s - f x) + g sqrt(h) z,
    log q(x') - log q(x) ~ <s, x' - x> + h (d f + f <x, s> - g^2/2 ||s||^2),

with d the dimension of one example (all axes after the batch).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.likelihood import euler_maruyama_step, ito_log_density, ito_log_density_increment
from diffax.processes import VPLinear

PROCESS = VPLinear()


def _beta(t):
    return 0.1 + 19.9 * t


def _case(shape=(4, 2, 2)):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    return (jax.random.normal(k1, shape), jax.random.normal(k2, shape),
            jax.random.normal(k3, shape))


def test_one_euler_maruyama_step_and_increment_by_hand(x64):
    """(B, 2, 2) examples: d = 4 and the inner products run over both trailing axes."""
    x, s, z = _case()
    t, t_next = 0.6, 0.52
    h, b = t - t_next, _beta(t)
    x_next = euler_maruyama_step(PROCESS, s, x, t, t_next, z)
    np.testing.assert_allclose(x_next, x + h * (b * s + 0.5 * b * x) + np.sqrt(b * h) * z,
                               rtol=1e-12)
    inc = ito_log_density_increment(PROCESS, s, x, x_next, t, t_next)
    dot = lambda a, c: np.sum(np.asarray(a) * np.asarray(c), axis=(1, 2))  # noqa: E731
    want = dot(s, x_next - x) + h * (4 * (-0.5 * b) - 0.5 * b * dot(x, s) - 0.5 * b * dot(s, s))
    np.testing.assert_allclose(inc, want, rtol=1e-12)


def test_one_step_keeps_float32_with_float64_times(x64):
    """Times taken from a float64 NumPy grid (strongly typed, unlike Python floats) do not
    promote float32 states under x64."""
    x, s, z = (a.astype(jnp.float32) for a in _case())
    grid = np.linspace(0.6, 0.52, 2)
    for t, t_next in ((grid[0], 0.52), (0.6, grid[1])):
        x_next = euler_maruyama_step(PROCESS, s, x, t, t_next, z)
        inc = ito_log_density_increment(PROCESS, s, x, x_next, t, t_next)
        assert (x_next.dtype, inc.dtype) == (jnp.float32, jnp.float32)


def _model():
    gm = GaussianMixture.isotropic([0.4, 0.6], [[-1.0, 0.5], [1.0, -0.5]], 0.3)
    return gm, gm.model_fn("eps", PROCESS)


def test_the_estimator_is_the_steps_composed(x64):
    """Three steps = the hand-checked step and increment composed, with the noise
    normal(k_i) for k_i in split(key, 3) and the score -eps / sigma; the trajectory starts
    at log_prob_init (default: the prior's log-density) and NFE = steps. A model
    conditioned through ``cond``, or predicting x0, gives the same path."""
    gm, model = _model()
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    ts, key = np.asarray([0.9, 0.8, 0.7, 0.65]), jax.random.PRNGKey(2)
    out = ito_log_density(model, PROCESS, x, ts, key=key)
    lp, xi = PROCESS.prior_log_prob(x), x
    traj = [lp]
    for k, t, tn in zip(jax.random.split(key, 3), ts[:-1], ts[1:]):
        s = -model(xi, jnp.full((5,), t)) / PROCESS.sigma(t)
        xn = euler_maruyama_step(PROCESS, s, xi, t, tn, jax.random.normal(k, xi.shape))
        lp = lp + ito_log_density_increment(PROCESS, s, xi, xn, t, tn)
        xi = xn
        traj.append(lp)
    np.testing.assert_allclose(out.x, xi, rtol=1e-10)
    np.testing.assert_allclose(out.log_density, lp, rtol=1e-10)
    np.testing.assert_allclose(out.log_density_trajectory, jnp.stack(traj), rtol=1e-10)
    assert out.nfe == 3

    def conditional(z, t, comp):
        return (model, gm.component(0).model_fn("eps", PROCESS))[comp](z, t)

    for other in (ito_log_density(conditional, PROCESS, x, ts, key=key, cond={"comp": 0}),
                  ito_log_density(gm.model_fn("x0", PROCESS), PROCESS, x, ts, key=key,
                                  prediction="x0"),
                  ito_log_density(model, PROCESS, x, ts, key=key,
                                  log_prob_init=PROCESS.prior_log_prob(x))):
        np.testing.assert_allclose(other.x, out.x, rtol=1e-9)
        np.testing.assert_allclose(other.log_density_trajectory, out.log_density_trajectory,
                                   rtol=1e-9)


def test_float32_paths_stay_float32_under_x64(x64):
    """A float32 network keeps float32 samples and densities with a float64 time grid and
    float64 initial log-densities, and is called with float32 times."""
    _, model = _model()
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2), jnp.float32)
    time_dtypes = set()

    def net(z, t):
        time_dtypes.add(jnp.result_type(t))
        return model(z, t).astype(z.dtype)

    out = ito_log_density(net, PROCESS, x, np.asarray([0.9, 0.8, 0.7]),
                          key=jax.random.PRNGKey(2), log_prob_init=np.zeros(5))
    assert time_dtypes == {jnp.dtype(jnp.float32)}, time_dtypes
    assert (out.x.dtype, out.log_density.dtype, out.log_density_trajectory.dtype) == \
        (jnp.float32,) * 3


def test_argument_checks_with_their_messages():
    _, model = _model()
    x, key = jnp.zeros((3, 2)), jax.random.PRNGKey(0)
    msg = ("ito_log_density: log_prob_init must give one value per example, shape (3,), "
           "got (3, 1).")
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        ito_log_density(model, PROCESS, x, [0.5, 0.1], key=key,
                        log_prob_init=lambda z: jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"^ito_log_density: timesteps must decrease"):
        ito_log_density(model, PROCESS, x, [0.1, 0.5], key=key)
