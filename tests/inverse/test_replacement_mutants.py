"""Replacement (Song et al. 2021, App. I.2) and RePaint (Lugmayr et al. 2022) against a
NumPy transcription (inverse_by_hand). Each reverse step t -> s is the DDIM(eta) step,
then x_s + A^+ (y_s - A x_s) with y_s = alpha_s y + sigma_s A(n); blocks of jump_length
steps are run n_resample times with a jump q(x_{t_a} | x_{t_b}) back in between.
Keys: split(key, blocks)[b] per block, split into n_resample repeats, each split into
(block key, jump key); the block key split into one key per step, each split into (step
draw, measurement draw). The trajectory holds the block boundaries.

(3, 2, 2) states, a 3 x 4 projection (A^+ from NumPy's pinv) or a mask, conditioning the
model uses, both prediction kinds. Float64: measured max error 2e-15,
tolerance 1e-10 relative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import Mask, Radon, RandomProjection, repaint, replacement
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(17)
A = RNG.normal(size=(3, 4))
X = RNG.normal(size=(3, 2, 2))
Y = RNG.normal(size=(3, 3))
MASK = np.array([[1.0, 0.0], [1.0, 1.0]])
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.9, 0.75, 0.6, 0.45, 0.3])


def _proj():
    fwd = lambda x: x.reshape(3, -1) @ A.T  # noqa: E731
    pinv = lambda y: (y @ np.linalg.pinv(A).T).reshape(3, 2, 2)  # noqa: E731
    return RandomProjection(matrix=jnp.asarray(A)), fwd, pinv, Y


def _mask():
    y = RNG.normal(size=(3, 2, 2)) * MASK
    return Mask(mask=jnp.asarray(MASK)), (lambda x: x * MASK), (lambda y: y * MASK), y


def _repaint_by_hand(fwd, pinv, y, ts, key, jump, n_res, eta, shift, dtype=jnp.float64):
    n = len(ts) - 1
    blocks = n // jump
    x, traj = X, [X]
    for b, kb in enumerate(H.split(key, blocks)):
        tf, tt = ts[b * jump:(b + 1) * jump], ts[b * jump + 1:(b + 1) * jump + 1]
        for r, kr in enumerate(H.split(kb, n_res)):
            k_block, k_jump = H.split(kr, 2)
            for t, s, kj in zip(tf, tt, H.split(k_block, jump)):
                k_step, k_meas = H.split(kj, 2)
                sh = shift[:, None, None]
                x0, eps = H.x0_hat(x, t, sh), H.eps_hat(x, t, sh)
                xs = H.ddim(x0, eps, t, s, eta, H.normal(k_step, x.shape, dtype))
                ys = H.alpha(s) * y + H.sigma(s) * fwd(H.normal(k_meas, x.shape, dtype))
                x = xs + pinv(ys - fwd(xs))
            if r < n_res - 1:
                x = H.jump(x, tt[-1], tf[0], H.normal(k_jump, x.shape, dtype))
        traj.append(x)
    return x, np.stack(traj)


@pytest.mark.parametrize("kind, jump, n_res, task", [("eps", 2, 2, "proj"), ("x0", 1, 3, "proj"),
                                                     ("eps", 4, 2, "mask")])
def test_repaint_by_hand(x64, kind, jump, n_res, task):
    op, fwd, pinv, y = _proj() if task == "proj" else _mask()
    key = jax.random.PRNGKey(3)
    out = repaint(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), operator=op,
                  y=jnp.asarray(y), key=key, prediction=kind, jump_length=jump,
                  n_resample=n_res, eta=0.7, cond={"shift": jnp.asarray(SHIFT)},
                  return_trajectory=True)
    want, traj = _repaint_by_hand(fwd, pinv, y, TS, key, jump, n_res, 0.7, SHIFT)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-10, atol=1e-12)
    assert out.nfe == 4 * n_res


def test_repaint_defaults_are_replacement(x64):
    """jump_length 1, n_resample 1, eta 1, eps prediction, no trajectory."""
    op, fwd, pinv, y = _proj()
    key = jax.random.PRNGKey(4)
    out = repaint(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=op, y=jnp.asarray(y),
                  key=key)
    want, _ = _repaint_by_hand(fwd, pinv, y, TS, key, 1, 1, 1.0, np.zeros(3))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.trajectory is None and out.nfe == 4


@pytest.mark.parametrize("kind", ["eps", "x0"])
def test_replacement_by_hand(x64, kind):
    op, fwd, pinv, y = _mask()
    key = jax.random.PRNGKey(5)
    out = replacement(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), operator=op,
                      y=jnp.asarray(y), key=key, prediction=kind, eta=0.4,
                      cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True)
    want, traj = _repaint_by_hand(fwd, pinv, y, TS, key, 1, 1, 0.4, SHIFT)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-10, atol=1e-12)
    assert out.nfe == 4


def test_replacement_defaults(x64):
    op, fwd, pinv, y = _proj()
    key = jax.random.PRNGKey(6)
    out = replacement(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=op,
                      y=jnp.asarray(y), key=key)
    want, _ = _repaint_by_hand(fwd, pinv, y, TS, key, 1, 1, 1.0, np.zeros(3))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.trajectory is None


def test_float32_state_under_x64(x64):
    op, fwd, pinv, y = _mask()
    out = repaint(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS), operator=op,
                  y=jnp.asarray(y), key=jax.random.PRNGKey(1), jump_length=2, n_resample=2,
                  return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    # float32 draws (measured agreement 9e-8; tolerance 2e-5)
    want, _ = _repaint_by_hand(fwd, pinv, y, TS, jax.random.PRNGKey(1), 2, 2, 1.0, np.zeros(3),
                               jnp.float32)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=2e-5, atol=2e-5)


def test_repaint_argument_messages_in_full():
    op, _, _, y = _proj()
    kw = dict(operator=op, y=jnp.asarray(y), key=jax.random.PRNGKey(0))
    ts = jnp.asarray(TS)
    with pytest.raises(ValueError) as e:
        repaint(H.model(P), P, jnp.asarray(X), ts, jump_length=3, **kw)
    assert str(e.value) == ("repaint: the 4 steps must be a multiple of jump_length=3; pick a "
                            "grid with a multiple of that many steps.")
    for name in ("jump_length", "n_resample"):
        with pytest.raises(ValueError) as e:
            repaint(H.model(P), P, jnp.asarray(X), ts, **{name: 0}, **kw)
        assert str(e.value) == f"repaint: {name} must be an integer >= 1, got {name}=0."
    with pytest.raises(ValueError) as e:
        repaint(H.model(P), P, jnp.asarray(X), ts, **dict(kw, y=jnp.zeros((3, 2))))
    assert str(e.value) == ("repaint: y has shape (3, 2) but the operator maps x of shape "
                            "(3, 2, 2) to (3, 3).")
    with pytest.raises(ValueError) as e:
        replacement(H.model(P), P, jnp.zeros((2, 8, 8, 1)), ts, operator=Radon.sparse_view(3),
                    y=jnp.zeros((2, 3, 8)), key=jax.random.PRNGKey(0))
    assert str(e.value) == ("repaint: needs an operator with a closed-form pseudo-inverse "
                            "(Mask, Downsample, Blur, RandomProjection), got Radon; use dps, "
                            "pigdm or red_diff instead.")
    with pytest.raises(ValueError, match=r"^repaint: timesteps must decrease"):
        repaint(H.model(P), P, jnp.asarray(X), ts[::-1], **kw)
    with pytest.raises(ValueError, match="unknown prediction kind"):
        repaint(H.model(P), P, jnp.asarray(X), ts, prediction="noise", **kw)
