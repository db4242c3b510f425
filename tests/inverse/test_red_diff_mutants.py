"""RED-diff (Mardani, Song, Kautz & Vahdat 2024) against a NumPy transcription
(inverse_by_hand): at noise level t (keys split(key, N - 1), one per level, eps from each)

    x_t = alpha_t mu + sigma_t eps,  reg = eps_hat(x_t, t) - eps,  w = lam (sigma_t / alpha_t)^p,
    grad = -A^T (y - A mu) / sigma_y^2 + w reg,    sigma_y^2 = max(noise_std^2, 1e-12),

then one optimiser step (SGD written out, or Adam with b1 = 0.9, b2 = 0.999, eps = 1e-8 and
bias correction, optax's defaults). Two levels on (3, 2, 2) states, a 3 x 4 projection,
conditioning the model uses, both prediction kinds. Float64: measured max error 2e-11 (SGD
steps of size 0.5 on gradients ~1e2), tolerance 1e-10 relative."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import inverse_by_hand as H
from diffax.inverse import RandomProjection, red_diff
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(13)
A = RNG.normal(size=(3, 4))
MU = RNG.normal(size=(3, 2, 2))
Y = RNG.normal(size=(3, 3))
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.8, 0.55, 0.3])


def _op():
    return RandomProjection(matrix=jnp.asarray(A))


def _grads(key, lam, power, sy2, shift, update, dtype=jnp.float64):
    """Run the levels by hand; ``update(i, mu, g) -> mu``."""
    mu, traj = MU, [MU]
    for i, (t, k) in enumerate(zip(TS[:-1], H.split(key, len(TS) - 1))):
        eps = H.normal(k, mu.shape, dtype)
        xt = H.alpha(t) * mu + H.sigma(t) * eps
        reg = H.eps_hat(xt, t, shift[:, None, None]) - eps
        w = lam * (H.sigma(t) / H.alpha(t)) ** power
        r = Y - mu.reshape(3, -1) @ A.T
        g = -(r @ A).reshape(mu.shape) / sy2 + w * reg
        mu = update(i, mu, g)
        traj.append(mu)
    return mu, np.stack(traj)


def _adam(lr):
    state = {}

    def update(i, mu, g):
        m = 0.9 * state.get("m", 0.0) + 0.1 * g
        v = 0.999 * state.get("v", 0.0) + 0.001 * g**2
        state.update(m=m, v=v)
        mh, vh = m / (1 - 0.9 ** (i + 1)), v / (1 - 0.999 ** (i + 1))
        return mu - lr * mh / (np.sqrt(vh) + 1e-8)
    return update


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_red_diff_sgd_by_hand(x64, kind):
    key = jax.random.PRNGKey(8)
    out = red_diff(H.model(P, kind), P, jnp.asarray(MU), jnp.asarray(TS), operator=_op(),
                   y=jnp.asarray(Y), key=key, noise_std=0.2, prediction=kind, lam=0.3,
                   weight_power=2.0, optimizer=optax.sgd(0.5),
                   cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True)
    want, traj = _grads(key, 0.3, 2.0, 0.04, SHIFT, lambda i, mu, g: mu - 0.5 * g)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-10, atol=1e-12)
    assert out.nfe == 2


def test_red_diff_adam_with_a_learning_rate(x64):
    key = jax.random.PRNGKey(9)
    out = red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), operator=_op(),
                   y=jnp.asarray(Y), key=key, noise_std=0.5, learning_rate=0.03)
    want, _ = _grads(key, 0.25, 1.0, 0.25, np.zeros(3), _adam(0.03))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)


def test_red_diff_defaults(x64):
    """lam = 0.25, w = sigma/alpha, sigma_y = 0.05, Adam(0.1), eps prediction, no trajectory."""
    key = jax.random.PRNGKey(10)
    out = red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), operator=_op(),
                   y=jnp.asarray(Y), key=key)
    want, _ = _grads(key, 0.25, 1.0, 0.05**2, np.zeros(3), _adam(0.1))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.trajectory is None and out.nfe == 2


def test_red_diff_noiseless_weight_is_floored(x64):
    """noise_std = 0: the data weight uses sigma_y^2 = 1e-12 (SGD shows the scale)."""
    key = jax.random.PRNGKey(11)
    out = red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS[:2]), operator=_op(),
                   y=jnp.asarray(Y), key=key, noise_std=0.0, optimizer=optax.sgd(1e-13))
    mu1 = np.asarray(out.x)
    eps = H.normal(H.split(key, 1)[0], MU.shape)
    xt = H.alpha(TS[0]) * MU + H.sigma(TS[0]) * eps
    reg = H.eps_hat(xt, TS[0]) - eps
    g = -((Y - MU.reshape(3, -1) @ A.T) @ A).reshape(MU.shape) / 1e-12 \
        + 0.25 * H.sigma(TS[0]) / H.alpha(TS[0]) * reg
    np.testing.assert_allclose(mu1, MU - 1e-13 * g, rtol=1e-10, atol=1e-12)


def test_red_diff_float32_state_under_x64(x64):
    """SGD with a noise level that lets the regulariser (and so the draws) matter; the
    draws are float32 (measured agreement 3.3e-7, tolerance 2e-5; float64 draws move
    the result by 6e-2)."""
    out = red_diff(H.model(P), P, jnp.asarray(MU, jnp.float32), jnp.asarray(TS), operator=_op(),
                   y=jnp.asarray(Y), key=jax.random.PRNGKey(1), noise_std=1.0, lam=1.0,
                   optimizer=optax.sgd(0.1), return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    sgd = lambda i, mu, g: mu - 0.1 * g  # noqa: E731
    want, _ = _grads(jax.random.PRNGKey(1), 1.0, 1.0, 1.0, np.zeros(3), sgd, jnp.float32)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=2e-5, atol=2e-5)
    other, _ = _grads(jax.random.PRNGKey(1), 1.0, 1.0, 1.0, np.zeros(3), sgd)
    assert np.max(np.abs(other - want)) > 1e-2  # float64 draws would differ
    # the network sees the state's dtype (the float64 grid is cast for x_t too)
    seen = []

    def model(x, t, **kw):
        seen.append((x.dtype, t.dtype))
        return H.model(P)(x, t, **kw)

    red_diff(model, P, jnp.asarray(MU, jnp.float32), jnp.asarray(TS), operator=_op(),
             y=jnp.asarray(Y), key=jax.random.PRNGKey(1))
    assert seen and all(d == (jnp.float32, jnp.float32) for d in seen), seen


def test_red_diff_hands_the_optimizer_the_parameters(x64):
    """Weight decay needs mu: SGD on g + 0.5 mu (optax's add_decayed_weights)."""
    key = jax.random.PRNGKey(12)
    tx = optax.chain(optax.add_decayed_weights(0.5), optax.sgd(0.2))
    out = red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), operator=_op(),
                   y=jnp.asarray(Y), key=key, noise_std=0.5, optimizer=tx)
    want, _ = _grads(key, 0.25, 1.0, 0.25, np.zeros(3), lambda i, mu, g: mu - 0.2 * (g + 0.5 * mu))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)


def test_red_diff_argument_messages_in_full():
    kw = dict(operator=_op(), y=jnp.asarray(Y), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError) as e:
        red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), **dict(kw, noise_std=-0.1))
    assert str(e.value) == ("red_diff: noise_std must be finite and >= 0, got "
                            "noise_std=-0.1.")
    with pytest.raises(ValueError) as e:
        red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), **dict(kw, y=jnp.zeros((3, 2))))
    assert str(e.value) == ("red_diff: y has shape (3, 2) but the operator maps x of shape "
                            "(3, 2, 2) to (3, 3).")
    with pytest.raises(ValueError, match=r"^red_diff: timesteps must decrease"):
        red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS[::-1]), **kw)
    with pytest.raises(ValueError, match="unknown prediction kind"):
        red_diff(H.model(P), P, jnp.asarray(MU), jnp.asarray(TS), prediction="noise", **kw)
