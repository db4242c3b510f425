"""PiGDM (Song, Vahdat, Mardani & Kautz 2023) against a NumPy transcription
(inverse_by_hand): with r_t^2 = c sigma_t^2 / (alpha_t^2 c + sigma_t^2),

    score_g = score + scale m_t A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0_hat),

m_t the Jacobian of the linear test model's x0_hat, returned in the model's prediction
kind; ``pigdm`` runs it with the DDIM sampler (deterministic steps written out; eta > 0
against the registered sampler on the same guidance and key). (3, 2, 2) states, a 3 x 4
projection, conditioning the model uses. Float64: measured max error 3e-13,
tolerance 1e-10 relative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax import samplers
from diffax.inverse import (LinearOperator, Nonlinear, RandomProjection, pigdm,
                            pigdm_guidance)
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(19)
A = RNG.normal(size=(3, 4))
X = RNG.normal(size=(3, 2, 2))
Y = RNG.normal(size=(3, 3))
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.8, 0.55, 0.3])


def _op():
    return RandomProjection(matrix=jnp.asarray(A))


def _guided_eps(x, t, c, sy, scale, shift):
    sh = shift[:, None, None]
    x0, eps = H.x0_hat(x, t, sh), H.eps_hat(x, t, sh)
    a, s = H.alpha(t), H.sigma(t)
    r2 = c * s**2 / (a**2 * c + s**2)
    resid = Y - x0.reshape(3, -1) @ A.T
    w = np.linalg.solve(r2 * A @ A.T + sy**2 * np.eye(3), resid.T).T
    g = H.jac(t) * (w @ A).reshape(x.shape)
    return -s * (-eps / s + scale * g)


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_pigdm_guidance_by_hand(x64, kind):
    t = 0.6
    guided = pigdm_guidance(H.model(P, kind), P, _op(), jnp.asarray(Y), noise_std=0.3,
                            prediction=kind, prior_variance=0.4, scale=0.7)
    out = np.asarray(guided(jnp.asarray(X), jnp.full((3,), t), shift=jnp.asarray(SHIFT)))
    eps = _guided_eps(X, t, 0.4, 0.3, 0.7, SHIFT)
    want = eps if kind == "eps" else (X - H.sigma(t) * eps) / H.alpha(t)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)


def test_pigdm_guidance_defaults_and_a_scalar_time(x64):
    """prior_variance 1, scale 1, eps prediction; a scalar t works as well as a batch."""
    t = 0.45
    guided = pigdm_guidance(H.model(P), P, _op(), jnp.asarray(Y), noise_std=0.2)
    want = _guided_eps(X, t, 1.0, 0.2, 1.0, np.zeros(3))
    for tt in (jnp.full((3,), t), jnp.asarray(t)):
        np.testing.assert_allclose(np.asarray(guided(jnp.asarray(X), tt)), want, rtol=1e-10,
                                   atol=1e-12)


def _ddim_by_hand(c, sy, scale, shift):
    x = X
    for t, s in zip(TS[:-1], TS[1:]):
        eps = _guided_eps(x, t, c, sy, scale, shift)
        x = H.alpha(s) * (x - H.sigma(t) * eps) / H.alpha(t) + H.sigma(s) * eps
    return x


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_pigdm_deterministic_by_hand(x64, kind):
    out = pigdm(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.asarray(Y), noise_std=0.3, prediction=kind, prior_variance=0.4,
                scale=0.7, cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True)
    want = _ddim_by_hand(0.4, 0.3, 0.7, SHIFT)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.trajectory.shape == (3, 3, 2, 2) and out.nfe == 2
    np.testing.assert_array_equal(np.asarray(out.trajectory[0]), X)


def test_pigdm_defaults(x64):
    """noise_std 0, prior_variance 1, scale 1, eta 0 (no key needed), no trajectory."""
    out = pigdm(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(), y=jnp.asarray(Y))
    np.testing.assert_allclose(np.asarray(out.x), _ddim_by_hand(1.0, 0.0, 1.0, np.zeros(3)),
                               rtol=1e-9, atol=1e-11)
    assert out.trajectory is None


def test_pigdm_with_eta_is_the_ddim_sampler_on_its_guidance(x64):
    key = jax.random.PRNGKey(3)
    cond = {"shift": jnp.asarray(SHIFT)}
    out = pigdm(H.model(P, "x0"), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.asarray(Y), noise_std=0.3, prediction="x0", key=key, eta=0.5,
                prior_variance=0.4, scale=0.7, cond=cond)
    guided = pigdm_guidance(H.model(P, "x0"), P, _op(), jnp.asarray(Y), noise_std=0.3,
                            prediction="x0", prior_variance=0.4, scale=0.7)
    want = samplers.sampler_info("ddim").fn(guided, P, jnp.asarray(X), jnp.asarray(TS),
                                            prediction="x0", eta=0.5, key=key, cond=cond).x
    np.testing.assert_allclose(np.asarray(out.x), np.asarray(want), rtol=1e-13, atol=1e-14)
    det = pigdm(H.model(P, "x0"), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.asarray(Y), noise_std=0.3, prediction="x0", prior_variance=0.4,
                scale=0.7, cond=cond).x
    assert float(jnp.max(jnp.abs(out.x - det))) > 1e-3  # the noise mattered


def test_pigdm_argument_messages_in_full():
    kw = dict(operator=_op(), y=jnp.asarray(Y))
    with pytest.raises(ValueError) as e:
        pigdm(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), noise_std=-1.0, **kw)
    assert str(e.value) == ("pigdm_guidance: noise_std must be finite and >= 0, got "
                            "noise_std=-1.0.")
    with pytest.raises(ValueError) as e:
        pigdm(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), **dict(kw, y=jnp.zeros((3, 2))))
    assert str(e.value) == ("pigdm: y has shape (3, 2) but the operator maps x of shape "
                            "(3, 2, 2) to (3, 3).")
    with pytest.raises(ValueError) as e:
        pigdm_guidance(H.model(P), P, Nonlinear(fn=jnp.tanh), jnp.asarray(X), noise_std=0.1)
    assert str(e.value) == ("pigdm_guidance: needs a linear operator from diffax.inverse "
                            "(Mask, Downsample, Blur, RandomProjection, Radon), got Nonlinear; "
                            "use dps or red_diff for nonlinear ones.")
    with pytest.raises(ValueError, match=r"^pigdm: timesteps must decrease"):
        pigdm(H.model(P), P, jnp.asarray(X), jnp.asarray(TS[::-1]), **kw)
    with pytest.raises(ValueError, match="unknown prediction kind"):
        pigdm_guidance(H.model(P), P, _op(), jnp.asarray(Y), noise_std=0.1, prediction="noise")


class _Dense(LinearOperator):
    """y = A x.flatten() with no closed forms: PiGDM's gain by the base class's CG."""

    a: jax.Array

    def __call__(self, x):
        return x.reshape(x.shape[0], -1) @ self.a.T


def test_pigdm_guidance_with_a_generic_linear_operator(x64):
    """The event shape reaches the operator's CG normal solve and transpose; CG stops at
    relative residual 1e-7, so the tolerance is 1e-6 (measured error 1.4e-15: 3 x 3)."""
    t = 0.6
    guided = pigdm_guidance(H.model(P), P, _Dense(a=jnp.asarray(A)), jnp.asarray(Y),
                            noise_std=0.3, prior_variance=0.4, scale=0.7)
    out = np.asarray(guided(jnp.asarray(X), jnp.full((3,), t)))
    np.testing.assert_allclose(out, _guided_eps(X, t, 0.4, 0.3, 0.7, np.zeros(3)), rtol=1e-6,
                               atol=1e-8)


def test_pigdm_guidance_float32_state_under_x64(x64):
    """float32 states with a float64 measurement and NumPy float64 settings (not weakly
    typed, unlike Python floats): float32 output, equal to the float64 transcription to
    float32 rounding (measured 8e-7, tolerance 2e-5)."""
    t = 0.6
    guided = pigdm_guidance(H.model(P), P, _op(), jnp.asarray(Y), noise_std=np.float64(0.3),
                            prior_variance=np.float64(0.4), scale=0.7)
    out = guided(jnp.asarray(X, jnp.float32), jnp.full((3,), t, jnp.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), _guided_eps(X, t, 0.4, 0.3, 0.7, np.zeros(3)),
                               rtol=2e-5, atol=2e-5)
