"""Loss guidance through the denoiser (diffax/inverse/guidance.py) against a NumPy
transcription (inverse_by_hand): for the linear test model grad_x sum_b L_b(x0_hat) =
m_t dL/dx0, and the guided model returns score - w(L, t) g in the model's kind.
(3, 2, 2) states, a quartic loss, conditioning the model uses. Float64: measured error at most
1.3e-3 of the tolerance (1e-11 relative + 1e-12)."""

import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import Mask
from diffax.inverse.guidance import (as_schedule, loss_guidance, squared_residual,
                                     x0_loss_gradient)
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(29)
X = RNG.normal(size=(3, 2, 2))
C = RNG.normal(size=(3, 2, 2))
SHIFT = np.array([0.3, -0.5, 0.8])
T = 0.6


def quartic(x0):
    return 0.25 * jnp.sum((x0 - C) ** 4, axis=(1, 2))


def _by_hand(shift):
    sh = shift[:, None, None]
    x0, eps = H.x0_hat(X, T, sh), H.eps_hat(X, T, sh)
    return H.jac(T) * (x0 - C) ** 3, x0, eps, 0.25 * np.sum((x0 - C) ** 4, axis=(1, 2))


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_x0_loss_gradient_by_hand(x64, kind):
    f = x0_loss_gradient(H.model(P, kind), kind, P, quartic, {"shift": jnp.asarray(SHIFT)})
    for t in (jnp.asarray(T), jnp.full((3,), T)):  # a scalar or one time per example
        got = f(jnp.asarray(X), t)
        for a, b in zip(got, _by_hand(SHIFT)):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_loss_guidance_with_a_per_example_weight(x64, kind):
    guided = loss_guidance(H.model(P, kind), P, quartic, prediction=kind,
                           weight=lambda losses, t: jnp.sqrt(losses) * (1.0 + t))
    out = np.asarray(guided(jnp.asarray(X), jnp.full((3,), T), shift=jnp.asarray(SHIFT)))
    g, x0, eps, losses = _by_hand(SHIFT)
    score = -eps / H.sigma(T) - (np.sqrt(losses) * (1.0 + T))[:, None, None] * g
    want = -H.sigma(T) * score if kind == "eps" else (X + H.sigma(T) ** 2 * score) / H.alpha(T)
    np.testing.assert_allclose(out, want, rtol=1e-11, atol=1e-12)


def test_loss_guidance_defaults(x64):
    """weight 1, eps prediction."""
    out = np.asarray(loss_guidance(H.model(P), P, quartic)(jnp.asarray(X), jnp.full((3,), T)))
    g, x0, eps, _ = _by_hand(np.zeros(3))
    np.testing.assert_allclose(out, eps + H.sigma(T) * g, rtol=1e-11, atol=1e-12)
    with pytest.raises(ValueError, match="unknown prediction kind 'noise'"):
        loss_guidance(H.model(P), P, quartic, prediction="noise")


def test_squared_residual_sums_every_measurement_axis(x64):
    mask = jnp.asarray([[1.0, 0.0], [1.0, 1.0]])
    y = RNG.normal(size=(3, 2, 2))
    got = squared_residual(Mask(mask=mask), jnp.asarray(y))(jnp.asarray(X))
    want = np.sum((y - X * np.asarray(mask)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(np.asarray(got), want,
                               rtol=1e-13)
    # float32 estimates with a float64 measurement: the loss stays float32
    l32 = squared_residual(Mask(mask=mask), jnp.asarray(y))(jnp.asarray(X, jnp.float32))
    assert l32.dtype == jnp.float32


def test_as_schedule():
    f = lambda t: 2 * t  # noqa: E731
    assert as_schedule(f) is f
    assert as_schedule(0.3)(jnp.ones(3)) == 0.3
