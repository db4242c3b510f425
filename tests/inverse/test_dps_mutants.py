"""DPS (Chung et al. 2023, Algorithm 1) and its guidance wrapper against a NumPy
transcription (inverse_by_hand): the DDIM(eta) step from x0_hat(x_t), then the move
-(zeta / ||y - A x0_hat||) grad_{x_t} ||y - A x0_hat||^2 with
grad = -2 m_t A^T (y - A x0_hat) for the linear test model (m_t its Jacobian).

Two steps on (3, 2, 2) states, a 3 x 4 projection, conditioning that the model uses,
both prediction kinds, eta = 0.6, zeta = 0.4; the noise of step i is normal(split(key,
N)[i]). Float64: measured max error 6e-15 on values of order 1, tolerance 1e-11
relative; float32 states under x64 stay float32 and agree to 6e-7 (measured), tolerance
2e-5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import RandomProjection, dps, dps_guidance
from diffax.inverse.dps import residual_norm
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 4))
X = RNG.normal(size=(3, 2, 2))
Y = RNG.normal(size=(3, 3)) * np.array([[1.0], [0.05], [2.0]])  # residual norms < and > 1
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.8, 0.55, 0.3])


def _op():
    return RandomProjection(matrix=jnp.asarray(A))


def _grad(x, t, y, shift):
    """(g, x0, eps, L) of L_b = ||y_b - A x0_hat_b||^2 by hand."""
    sh = shift[:, None, None]
    x0, eps = H.x0_hat(x, t, sh), H.eps_hat(x, t, sh)
    r = y - x0.reshape(3, -1) @ A.T
    g = (-2.0 * H.jac(t) * (r @ A)).reshape(x.shape)
    return g, x0, eps, np.sum(r**2, axis=1)


def _dps_by_hand(x, ts, key, zeta, eta, y=Y, shift=SHIFT):
    keys = H.split(key, len(ts) - 1)
    traj = [x]
    for i, (t, s) in enumerate(zip(ts[:-1], ts[1:])):
        g, x0, eps, L = _grad(x, t, y, shift)
        z = H.normal(keys[i], x.shape)
        step = zeta / np.maximum(np.sqrt(L), 1e-12)
        x = H.ddim(x0, eps, t, s, eta, z) - step[:, None, None] * g
        traj.append(x)
    return x, np.stack(traj)


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_dps_two_steps_by_hand(x64, kind):
    key = jax.random.PRNGKey(4)
    out = dps(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
              y=jnp.asarray(Y), key=key, prediction=kind, zeta=0.4, eta=0.6,
              cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True)
    want, traj = _dps_by_hand(X, TS, key, 0.4, 0.6)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-11, atol=1e-12)
    assert out.nfe == 2


def test_dps_defaults_zeta_1_eta_1_eps_no_trajectory(x64):
    key = jax.random.PRNGKey(5)
    out = dps(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(), y=jnp.asarray(Y),
              key=key)
    want, _ = _dps_by_hand(X, TS, key, 1.0, 1.0, shift=np.zeros(3))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-11, atol=1e-12)
    assert out.trajectory is None and out.nfe == 2


def test_dps_float32_state_under_x64(x64):
    key = jax.random.PRNGKey(6)
    out = dps(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS), operator=_op(),
              y=jnp.asarray(Y), key=key, zeta=0.4, eta=0.6, return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    keys = H.split(key, 2)
    x = X
    for i, (t, s) in enumerate(zip(TS[:-1], TS[1:])):
        g, x0, eps, L = _grad(x, t, Y, np.zeros(3))
        z = np.asarray(jax.random.normal(keys[i], x.shape, jnp.float32), np.float64)
        x = H.ddim(x0, eps, t, s, 0.6, z) - (0.4 / np.sqrt(L))[:, None, None] * g
    np.testing.assert_allclose(np.asarray(out.x), x, rtol=2e-5, atol=2e-5)


def test_residual_norm_and_its_floor(x64):
    np.testing.assert_array_equal(np.asarray(residual_norm(jnp.asarray([0.0, 0.25, 4.0]))),
                                  [1e-12, 0.5, 2.0])


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_dps_guidance_by_hand(x64, kind):
    """score - scale(t) grad ||r||^2 / ||r||, returned in the model's kind; the scale is
    a function of the time batch here (a number in the other test)."""
    t = 0.6
    tb = jnp.full((3,), t)
    guided = dps_guidance(H.model(P, kind), P, _op(), jnp.asarray(Y), prediction=kind,
                          scale=lambda tt: 0.5 + tt)
    out = np.asarray(guided(jnp.asarray(X), tb, shift=jnp.asarray(SHIFT)))
    g, x0, eps, L = _grad(X, t, Y, SHIFT)
    score = -eps / H.sigma(t) - ((0.5 + t) / np.sqrt(L))[:, None, None] * g
    want = -H.sigma(t) * score if kind == "eps" else (X + H.sigma(t) ** 2 * score) / H.alpha(t)
    np.testing.assert_allclose(out, want, rtol=1e-11, atol=1e-12)


def test_dps_guidance_default_scale_and_kind(x64):
    t = 0.6
    guided = dps_guidance(H.model(P), P, _op(), jnp.asarray(Y))
    out = np.asarray(guided(jnp.asarray(X), jnp.full((3,), t)))
    g, x0, eps, L = _grad(X, t, Y, np.zeros(3))
    want = eps + H.sigma(t) * (1.0 / np.sqrt(L))[:, None, None] * g
    np.testing.assert_allclose(out, want, rtol=1e-11, atol=1e-12)


def test_dps_argument_messages_in_full():
    ts = jnp.asarray(TS)
    with pytest.raises(ValueError) as e:
        dps(H.model(P), P, jnp.asarray(X), ts, operator=_op(), y=jnp.zeros((3, 2)),
            key=jax.random.PRNGKey(0))
    assert str(e.value) == ("dps: y has shape (3, 2) but the operator maps x of shape "
                            "(3, 2, 2) to (3, 3).")
    with pytest.raises(ValueError, match=r"^dps: timesteps must decrease"):
        dps(H.model(P), P, jnp.asarray(X), ts[::-1], operator=_op(), y=jnp.asarray(Y),
            key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown prediction kind"):
        dps(H.model(P), P, jnp.asarray(X), ts, operator=_op(), y=jnp.asarray(Y),
            key=jax.random.PRNGKey(0), prediction="noise")
