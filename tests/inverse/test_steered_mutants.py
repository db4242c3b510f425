"""Steered diffusion (Nair et al. 2023) and its guidance wrapper against a NumPy
transcription (inverse_by_hand): each DDIM(eta) step t -> s is followed by
x_s - rho_t grad_{x_t} E(x0_hat(x_t), y), rho_t = step_size sigma_t^2, and the step is
repeated n_inner times with a jump q(x_t | x_s) back in between (keys: split(key, N)[i]
per step, split of that into n_inner repeats, each split into (step draw, jump draw)).

For the linear test model grad_{x_t} E = m_t dE/dx0. Two steps on (3, 2, 2) states with
conditioning the model uses; the energy is the default ||y - A x0||^2 (3 x 4 projection)
or a quartic energy_fn. Float64: measured max error 1e-11 (the quartic
energy's large gradients), 0.27 of the tolerance (1e-11 relative + 1e-12)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import RandomProjection, steered, steered_guidance
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(11)
A = RNG.normal(size=(3, 4))
X = RNG.normal(size=(3, 2, 2))
Y = RNG.normal(size=(3, 3))
Y4 = RNG.normal(size=(3, 2, 2))
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.8, 0.55, 0.3])


def _op():
    return RandomProjection(matrix=jnp.asarray(A))


def quartic(x0, y):
    return 0.5 * jnp.sum((x0 - y) ** 4, axis=(1, 2))


def _grad(x, t, shift, energy):
    sh = shift[:, None, None]
    x0, eps = H.x0_hat(x, t, sh), H.eps_hat(x, t, sh)
    if energy == "residual":
        r = Y - x0.reshape(3, -1) @ A.T
        de = (-2.0 * (r @ A)).reshape(x.shape)
    else:
        de = 2.0 * (x0 - Y4) ** 3
    return H.jac(t) * de, x0, eps


def _steered_by_hand(x, key, step_size, eta, n_inner, shift, energy, dtype=jnp.float64):
    keys = H.split(key, len(TS) - 1)
    traj = [x]
    for i, (t, s) in enumerate(zip(TS[:-1], TS[1:])):
        for r, kr in enumerate(H.split(keys[i], n_inner)):
            k_block, k_jump = H.split(kr, 2)
            g, x0, eps = _grad(x, t, shift, energy)
            x_end = H.ddim(x0, eps, t, s, eta, H.normal(k_block, x.shape, dtype)) \
                - step_size * H.sigma(t) ** 2 * g
            x = H.jump(x_end, s, t, H.normal(k_jump, x.shape, dtype)) if r < n_inner - 1 else x_end
        traj.append(x)
    return x, np.stack(traj)


@pytest.mark.parametrize("kind, n_inner, energy", [("eps", 1, "residual"), ("x0", 3, "residual"),
                                                   ("eps", 2, "quartic")])
def test_steered_by_hand(x64, kind, n_inner, energy):
    key = jax.random.PRNGKey(2)
    kw = {"operator": _op(), "y": jnp.asarray(Y)} if energy == "residual" else {
        "energy_fn": quartic, "y": jnp.asarray(Y4)}
    out = steered(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), key=key,
                  prediction=kind, step_size=0.3, eta=0.5, n_inner=n_inner,
                  cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True, **kw)
    want, traj = _steered_by_hand(X, key, 0.3, 0.5, n_inner, SHIFT, energy)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-11, atol=1e-12)
    assert out.nfe == 2 * n_inner


def test_steered_defaults(x64):
    """step_size 1, eta 1, n_inner 1, eps prediction, no trajectory."""
    key = jax.random.PRNGKey(3)
    out = steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                  y=jnp.asarray(Y), key=key)
    want, _ = _steered_by_hand(X, key, 1.0, 1.0, 1, np.zeros(3), "residual")
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-11, atol=1e-12)
    assert out.trajectory is None and out.nfe == 2


def test_steered_float32_state_under_x64(x64):
    key = jax.random.PRNGKey(3)
    out = steered(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS), operator=_op(),
                  y=jnp.asarray(Y), key=key, n_inner=2, return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    # float32 draws (measured agreement 2.2e-6; tolerance 2e-5)
    want, _ = _steered_by_hand(X, key, 1.0, 1.0, 2, np.zeros(3), "residual", jnp.float32)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=2e-5, atol=2e-5)
    # a custom energy sees the measurement in the state's dtype (y given in float64)
    seen = []

    def energy(x0, y):
        seen.append(y.dtype)
        return quartic(x0, y)

    steered(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS), energy_fn=energy,
            y=jnp.asarray(Y4), key=key)
    assert seen and all(d == jnp.float32 for d in seen)


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_steered_guidance_by_hand(x64, kind):
    t = 0.6
    tb = jnp.full((3,), t)
    guided = steered_guidance(H.model(P, kind), P, jnp.asarray(Y4), energy_fn=quartic,
                              prediction=kind, scale=lambda tt: 0.5 + tt)
    out = np.asarray(guided(jnp.asarray(X), tb, shift=jnp.asarray(SHIFT)))
    g, x0, eps = _grad(X, t, SHIFT, "quartic")
    score = -eps / H.sigma(t) - (0.5 + t) * g
    want = -H.sigma(t) * score if kind == "eps" else (X + H.sigma(t) ** 2 * score) / H.alpha(t)
    np.testing.assert_allclose(out, want, rtol=1e-11, atol=1e-12)


def test_steered_guidance_defaults(x64):
    t = 0.6
    guided = steered_guidance(H.model(P), P, jnp.asarray(Y), operator=_op())
    out = np.asarray(guided(jnp.asarray(X), jnp.full((3,), t)))
    g, x0, eps = _grad(X, t, np.zeros(3), "residual")
    np.testing.assert_allclose(out, eps + H.sigma(t) * g, rtol=1e-11, atol=1e-12)


def test_steered_argument_messages_in_full():
    msg = ("{}: pass energy_fn(x0_hat, y) (an inverse model's loss) or operator (for "
           "||A(x0_hat) - y||^2).")
    with pytest.raises(ValueError) as e:
        steered_guidance(H.model(P), P, jnp.asarray(Y))
    assert str(e.value) == msg.format("steered_guidance")
    with pytest.raises(ValueError) as e:
        steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), y=jnp.asarray(Y),
                key=jax.random.PRNGKey(0))
    assert str(e.value) == msg.format("steered")
    with pytest.raises(ValueError) as e:
        steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.zeros((3, 2)), key=jax.random.PRNGKey(0))
    assert str(e.value) == ("steered: y has shape (3, 2) but the operator maps x of shape "
                            "(3, 2, 2) to (3, 3).")
    with pytest.raises(ValueError) as e:
        steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.asarray(Y), key=jax.random.PRNGKey(0), n_inner=0)
    assert str(e.value) == "steered: n_inner must be an integer >= 1, got n_inner=0."
    with pytest.raises(ValueError, match=r"^steered: timesteps must decrease"):
        steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS[::-1]), operator=_op(),
                y=jnp.asarray(Y), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown prediction kind"):
        steered(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=_op(),
                y=jnp.asarray(Y), key=jax.random.PRNGKey(0), prediction="noise")
