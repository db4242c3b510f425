"""The two moves of the inverse loops (diffax/inverse/steps.py) against NumPy transcriptions
(inverse_by_hand): the DDIM(eta) step of Song, Meng & Ermon (2021, eq. 12) and the forward
jump q(x_t | x_s), on (3, 2, 2) arrays in float64 (measured max error 2e-16;
tolerance 1e-12 relative)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse.steps import renoise_forward, renoise_prediction
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(3)
X0, EPS, Z = (RNG.normal(size=(3, 2, 2)) for _ in range(3))


@pytest.mark.parametrize("eta", [0.0, 0.4, 1.0, 3.0])
def test_renoise_prediction_by_hand(x64, eta):
    """eta = 3 makes c > sigma_s: the eps share sqrt(sigma_s^2 - c^2) is clamped to 0."""
    t, s = 0.7, 0.35
    got = renoise_prediction(P, jnp.asarray(X0), jnp.asarray(EPS), jnp.asarray(t),
                             jnp.asarray(s), eta, jnp.asarray(Z))
    np.testing.assert_allclose(np.asarray(got), H.ddim(X0, EPS, t, s, eta, Z), rtol=1e-12,
                               atol=1e-14)


def test_renoise_prediction_takes_one_time_per_example(x64):
    t, s = np.array([0.7, 0.5, 0.9]), np.array([0.35, 0.2, 0.1])
    got = renoise_prediction(P, jnp.asarray(X0), jnp.asarray(EPS), jnp.asarray(t)[:, None, None],
                             jnp.asarray(s)[:, None, None], 0.6, jnp.asarray(Z))
    for b in range(3):
        np.testing.assert_allclose(np.asarray(got[b]), H.ddim(X0[b], EPS[b], t[b], s[b], 0.6, Z[b]),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("s, t", [(0.3, 0.6), (0.05, 0.95), (0.6, 0.3)])
def test_renoise_forward_by_hand(x64, s, t):
    """(0.6, 0.3) runs backwards: the variance sigma_t^2 - a^2 sigma_s^2 < 0 is clamped."""
    got = renoise_forward(P, jnp.asarray(X0), jnp.asarray(s), jnp.asarray(t), jnp.asarray(Z))
    np.testing.assert_allclose(np.asarray(got), H.jump(X0, s, t, Z), rtol=1e-12, atol=1e-14)


def test_renoise_forward_has_the_forward_marginal_variance(x64):
    """From the point mass at c, x_s = alpha_s c + sigma_s z1 and then one jump: x_t is
    alpha_t c + (alpha_{t|s} sigma_s z1 + sigma_{t|s} z2), of variance sigma_t^2 exactly:
    checked on the coefficients (z1, z2 unit vectors)."""
    s, t, c = 0.3, 0.8, 0.5
    zero, one = jnp.zeros(()), jnp.ones(())
    mean = renoise_forward(P, P.alpha(s) * c + zero, s, t, zero)
    a_ts = renoise_forward(P, one, s, t, zero)
    sd = renoise_forward(P, zero, s, t, one)
    np.testing.assert_allclose(float(mean), H.alpha(t) * c, rtol=1e-13)
    np.testing.assert_allclose(float(a_ts) ** 2 * H.sigma(s) ** 2 + float(sd) ** 2,
                               H.sigma(t) ** 2, rtol=1e-13)


def test_float32_inputs_stay_float32():
    x = jnp.asarray(X0, jnp.float32)
    out = renoise_prediction(P, x, x, jnp.float32(0.7), jnp.float32(0.3), 1.0, x)
    assert out.dtype == jnp.float32
    assert renoise_forward(P, x, jnp.float32(0.3), jnp.float32(0.7), x).dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), H.ddim(X0, X0, 0.7, 0.3, 1.0, X0), rtol=2e-5,
                               atol=2e-6)


def test_the_draw_is_used_as_given():
    key = jax.random.PRNGKey(0)
    z = jax.random.normal(key, (3, 2, 2))
    a = renoise_prediction(P, jnp.zeros((3, 2, 2)), jnp.zeros((3, 2, 2)), 0.7, 0.3, 1.0, z)
    b = renoise_prediction(P, jnp.zeros((3, 2, 2)), jnp.zeros((3, 2, 2)), 0.7, 0.3, 1.0, 2 * z)
    np.testing.assert_allclose(np.asarray(b), 2 * np.asarray(a), rtol=1e-6)
