"""DiffusionMBIR (diffax/inverse/mbir.py) against a NumPy transcription
(inverse_by_hand): per step t -> s (noise normal(split(key, N)[i])), the DDIM(eta) step
from (x0_hat, eps_hat), then n_admm ADMM-TV iterations with (z, u) carried across steps,
applied to v = x_s / alpha_s ("state", then x_s = alpha_s v) or to x0_hat before the step
("x0"). A VP process (alpha_s != 1), a dense operator on the whole (3, 2, 2, 1) volume,
the linear test model with conditioning. Float64: measured max error 4e-15,
tolerance 1e-10 relative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse.mbir import diffusion_mbir
from diffax.processes import VPLinear

P = VPLinear()
RNG = np.random.default_rng(43)
SHAPE = (3, 2, 2, 1)
M = RNG.normal(size=(5, 12))
X = RNG.normal(size=SHAPE)
Y = RNG.normal(size=5)
SHIFT = np.array([0.3, -0.5, 0.8])
TS = np.array([0.8, 0.55, 0.3])


def op(v):
    return jnp.asarray(M, v.dtype) @ v.reshape(-1)


def _by_hand(key, lam, rho, n_cg, n_admm, eta, axes, consistency, shift,
             dtype=jnp.float64, ts=TS):
    x, traj = X, [X]
    z = np.zeros((len(axes),) + SHAPE)
    u = np.zeros_like(z)
    sh = shift[:, None, None, None]

    def admm(v, z, u):
        for _ in range(n_admm):
            v, z, u = H.admm_step(v, z, u, M, Y, lam, rho, axes, n_cg)
        return v, z, u

    for t, s, k in zip(ts[:-1], ts[1:], H.split(key, len(ts) - 1)):
        x0, eps = H.x0_hat(x, t, sh), H.eps_hat(x, t, sh)
        noise = H.normal(k, SHAPE, dtype)
        if consistency == "x0":
            x0, z, u = admm(x0, z, u)
            x = H.ddim(x0, eps, t, s, eta, noise)
        else:
            v, z, u = admm(H.ddim(x0, eps, t, s, eta, noise) / H.alpha(s), z, u)
            x = H.alpha(s) * v
        traj.append(x)
    return x, np.stack(traj)


@pytest.mark.parametrize("kind, consistency, axes", [("eps", "state", (0,)), ("x0", "x0", (0, 2)),
                                                     ("x0", "state", (-1, 1))])
def test_diffusion_mbir_by_hand(x64, kind, consistency, axes):
    key = jax.random.PRNGKey(7)
    out = diffusion_mbir(H.model(P, kind), P, jnp.asarray(X), jnp.asarray(TS), operator=op,
                         y=jnp.asarray(Y), key=key, prediction=kind, lam=0.3, rho=2.0, n_cg=2,
                         n_admm=2, eta=0.6, tv_axes=axes, consistency=consistency,
                         cond={"shift": jnp.asarray(SHIFT)}, return_trajectory=True)
    want, traj = _by_hand(key, 0.3, 2.0, 2, 2, 0.6, axes, consistency, SHIFT)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-10, atol=1e-12)
    assert out.nfe == 2


def test_diffusion_mbir_three_steps(x64):
    """One key per step, split(key, N), for N = 3 (the other runs take N = 2 steps, the
    number of keys split(key) makes by default)."""
    key, ts = jax.random.PRNGKey(11), np.array([0.8, 0.6, 0.4, 0.25])
    out = diffusion_mbir(H.model(P, "x0"), P, jnp.asarray(X), jnp.asarray(ts), operator=op,
                         y=jnp.asarray(Y), key=key, prediction="x0", lam=0.3, rho=2.0,
                         eta=0.6, return_trajectory=True)
    want, traj = _by_hand(key, 0.3, 2.0, 1, 1, 0.6, (0,), "state", np.zeros(3), ts=ts)
    np.testing.assert_allclose(np.asarray(out.trajectory), traj, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.nfe == 3


def test_diffusion_mbir_defaults(x64):
    """lam 0.04, rho 10, one CG step, one ADMM iteration, eta 1, TV along axis 0, the
    state consistency, eps prediction, no trajectory."""
    key = jax.random.PRNGKey(8)
    out = diffusion_mbir(H.model(P), P, jnp.asarray(X), jnp.asarray(TS), operator=op,
                         y=jnp.asarray(Y), key=key)
    want, _ = _by_hand(key, 0.04, 10.0, 1, 1, 1.0, (0,), "state", np.zeros(3))
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-10, atol=1e-12)
    assert out.trajectory is None and out.nfe == 2


def test_diffusion_mbir_jits_over_lam_and_rho(x64):
    key = jax.random.PRNGKey(9)
    run = jax.jit(lambda lam, rho: diffusion_mbir(H.model(P), P, jnp.asarray(X), jnp.asarray(TS),
                                                  operator=op, y=jnp.asarray(Y), key=key,
                                                  lam=lam, rho=rho).x)
    want, _ = _by_hand(key, 0.3, 2.0, 1, 1, 1.0, (0,), "state", np.zeros(3))
    np.testing.assert_allclose(np.asarray(run(0.3, 2.0)), want, rtol=1e-10, atol=1e-12)


def test_float32_volume_under_x64(x64):
    out = diffusion_mbir(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS),
                         operator=op, y=jnp.asarray(Y), key=jax.random.PRNGKey(8),
                         return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    # float32 draws (measured agreement 3.8e-7; tolerance 1e-5)
    want, _ = _by_hand(jax.random.PRNGKey(8), 0.04, 10.0, 1, 1, 1.0, (0,), "state", np.zeros(3),
                       jnp.float32)
    np.testing.assert_allclose(np.asarray(out.x), want, rtol=1e-5, atol=1e-5)


def test_argument_messages_in_full():
    def call(**kw):
        args = dict(operator=op, y=jnp.asarray(Y, jnp.float32), key=jax.random.PRNGKey(0))
        args.update(kw)
        diffusion_mbir(H.model(P), P, jnp.asarray(X, jnp.float32), jnp.asarray(TS), **args)

    for kw, msg in (
            ({"consistency": "z"},
             "diffusion_mbir: unknown consistency 'z'; valid choices: ['state', 'x0']."),
            ({"n_cg": -1}, "diffusion_mbir: n_cg must be an integer >= 0, got n_cg=-1."),
            ({"n_admm": -1}, "diffusion_mbir: n_admm must be an integer >= 0, got n_admm=-1."),
            ({"lam": -0.1}, "diffusion_mbir: lam must be finite and >= 0, got lam=-0.1."),
            ({"rho": 0.0}, "diffusion_mbir: rho must be finite and > 0, got rho=0.0."),
            ({"y": jnp.zeros(4)}, "diffusion_mbir: y has shape (4,) but the operator maps x of "
                                  "shape (3, 2, 2, 1) to (5,).")):
        with pytest.raises(ValueError) as e:
            call(**kw)
        assert str(e.value) == msg
    call(n_cg=0, n_admm=0, lam=0.0)  # the bounds themselves are allowed
    with pytest.raises(ValueError, match=r"^diffusion_mbir: timesteps must decrease"):
        diffusion_mbir(H.model(P), P, jnp.asarray(X), jnp.asarray(TS[::-1]), operator=op,
                       y=jnp.asarray(Y), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown prediction kind"):
        call(prediction="noise")
