"""ADMM-TV with conjugate gradients (diffax/inverse/mbir_admm.py) against NumPy
transcriptions (inverse_by_hand): the difference operator's adjoint written out, CG
iterates after each of 1..5 iterations, one ADMM iteration from a non-zero state (z, u)
with a dense operator, and admm_tv's defaults as 100 such iterations. Float64: measured max error
3e-15, tolerance 1e-10 relative (1e-9 after 100 iterations)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse.mbir_admm import (ADMMState, admm_tv, admm_tv_step, conjugate_gradient,
                                      difference_adjoint, forward_difference, linear_adjoint)

RNG = np.random.default_rng(37)
SHAPE = (3, 2, 4)
M = RNG.normal(size=(5, 24))
X = RNG.normal(size=SHAPE)


def op(v):
    return jnp.asarray(M, v.dtype) @ v.reshape(-1)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_difference_and_adjoint_by_hand(x64, axis):
    p = RNG.normal(size=SHAPE)
    np.testing.assert_allclose(np.asarray(forward_difference(jnp.asarray(p), axis)),
                               H.diff(p, axis), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(difference_adjoint(jnp.asarray(p), axis)),
                               H.diff_t(p, axis), rtol=1e-14, atol=1e-15)


def test_cg_iterates_by_hand(x64):
    g = RNG.normal(size=(6, 6))
    m = g @ g.T + 0.1 * np.eye(6)
    b, x0 = RNG.normal(size=6), RNG.normal(size=6)
    for n in range(6):
        got = conjugate_gradient(lambda v: jnp.asarray(m) @ v, jnp.asarray(b), jnp.asarray(x0), n)
        np.testing.assert_allclose(np.asarray(got), H.cg(lambda v: m @ v, b, x0, n), rtol=1e-10,
                                   atol=1e-12)


def test_cg_at_the_solution_and_on_a_singular_system(x64):
    """r0 = 0 exactly: every direction is 0 (p^T M p = 0, r^T r = 0) and x stays, with no
    0/0; M = 0: the same."""
    b = jnp.asarray(RNG.normal(size=4))
    np.testing.assert_array_equal(np.asarray(conjugate_gradient(lambda v: v, b, b, 3)), b)
    np.testing.assert_array_equal(
        np.asarray(conjugate_gradient(lambda v: 0.0 * v, b, jnp.zeros(4), 3)), np.zeros(4))
    # and differentiable there: the guarded divisions give zero, not NaN, gradients
    g = jax.grad(lambda v: jnp.sum(conjugate_gradient(lambda w: w, v, v, 3)))(b)
    np.testing.assert_array_equal(np.asarray(g), np.ones(4))
    with pytest.raises(ValueError) as e:
        conjugate_gradient(lambda v: v, b, b, -1)
    assert str(e.value) == "conjugate_gradient: n_iter must be an integer >= 0, got n_iter=-1."


@pytest.mark.parametrize("axes, n_cg", [((0, 2), 3), ((1,), 1), ((-1, 0, 1), 0)])
def test_admm_tv_step_by_hand(x64, axes, n_cg):
    z, u = RNG.normal(size=(2, len(axes)) + SHAPE)
    y = RNG.normal(size=5)
    adjoint = linear_adjoint(op, SHAPE, jnp.float64)
    x1, st = admm_tv_step(jnp.asarray(X), ADMMState(z=jnp.asarray(z), u=jnp.asarray(u)), op,
                          adjoint, adjoint(jnp.asarray(y)), lam=0.3, rho=2.0, axes=axes,
                          n_cg=n_cg)
    wx, wz, wu = H.admm_step(X, z, u, M, y, 0.3, 2.0, axes, n_cg)
    for a, b in ((x1, wx), (st.z, wz), (st.u, wu)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)


def test_admm_tv_defaults_by_hand(x64):
    """lam 1, rho 10, axes (0, 1, 2), 100 iterations of 5 CG steps, from x_init."""
    y = RNG.normal(size=5)
    got = admm_tv(jnp.asarray(y), op, jnp.asarray(X))
    x, z, u = X, np.zeros((3,) + SHAPE), np.zeros((3,) + SHAPE)
    for _ in range(100):
        x, z, u = H.admm_step(x, z, u, M, y, 1.0, 10.0, (0, 1, 2), 5)
    np.testing.assert_allclose(np.asarray(got), x, rtol=1e-9, atol=1e-11)


def test_admm_tv_default_settings_before_convergence(x64):
    """Two iterations, so that lam, rho, the axes and n_cg show (ADMM's limit does not
    depend on rho)."""
    y = RNG.normal(size=5)
    got = admm_tv(jnp.asarray(y), op, jnp.asarray(X), n_iter=2)
    x, z, u = X, np.zeros((3,) + SHAPE), np.zeros((3,) + SHAPE)
    for _ in range(2):
        x, z, u = H.admm_step(x, z, u, M, y, 1.0, 10.0, (0, 1, 2), 5)
    np.testing.assert_allclose(np.asarray(got), x, rtol=1e-10, atol=1e-12)


def test_admm_tv_float32_volume_with_a_float64_measurement(x64):
    """float32 in, float32 out (state, CG and duals in float32); agreement with the
    float64 transcription measured 1.6e-7, tolerance 5e-6."""
    y = RNG.normal(size=5)
    got = admm_tv(jnp.asarray(y), op, jnp.asarray(X, jnp.float32), lam=0.2, rho=3.0, n_iter=4,
                  n_cg=2)
    assert got.dtype == jnp.float32
    x, z, u = X, np.zeros((3,) + SHAPE), np.zeros((3,) + SHAPE)
    for _ in range(4):
        x, z, u = H.admm_step(x, z, u, M, y, 0.2, 3.0, (0, 1, 2), 2)
    np.testing.assert_allclose(np.asarray(got), x, rtol=5e-6, atol=5e-6)


def test_admm_tv_options_by_hand(x64):
    y = RNG.normal(size=5)
    got = admm_tv(jnp.asarray(y), op, jnp.asarray(X), lam=0.2, rho=3.0, axes=(2,), n_iter=4,
                  n_cg=2)
    x, z, u = X, np.zeros((1,) + SHAPE), np.zeros((1,) + SHAPE)
    for _ in range(4):
        x, z, u = H.admm_step(x, z, u, M, y, 0.2, 3.0, (2,), 2)
    np.testing.assert_allclose(np.asarray(got), x, rtol=1e-10, atol=1e-12)


def test_state_zeros_and_linear_adjoint():
    s = ADMMState.zeros((2, 3), 4)
    assert s.z.shape == s.u.shape == (4, 2, 3) and s.z.dtype == s.u.dtype == jnp.float32
    assert not np.any(np.asarray(s.z)) and not np.any(np.asarray(s.u))
    with jax.enable_x64(True):
        s64 = ADMMState.zeros((2,), 1, jnp.float64)
        assert s64.z.dtype == s64.u.dtype == jnp.float64
        s32 = ADMMState.zeros((2,), 1)  # the default float32 holds under x64 too
        assert s32.z.dtype == s32.u.dtype == jnp.float32
        adj = linear_adjoint(op, SHAPE, jnp.float64)
        yv = RNG.normal(size=5)
        np.testing.assert_allclose(np.asarray(adj(jnp.asarray(yv))), (M.T @ yv).reshape(SHAPE),
                                   rtol=1e-13)
    assert linear_adjoint(op, SHAPE)(jnp.ones(5, jnp.float32)).dtype == jnp.float32


def test_argument_messages_in_full():
    x, y = jnp.asarray(X, jnp.float32), jnp.zeros(5)
    for axes, shown in (((0, 0), (0, 0)), ((0, -3), (0, -3)), ((), ()), ((3,), (3,)),
                        ((-4,), (-4,))):
        with pytest.raises(ValueError) as e:
            admm_tv(y, op, x, axes=axes)
        assert str(e.value) == f"TV axes must be distinct axes of a 3-D array, got {shown}."
    admm_tv(y, op, x, axes=(-3, 2), n_iter=1, n_cg=0)  # -3 is axis 0: allowed alone
    for kw, msg in (({"rho": 0.0}, "admm_tv: rho must be finite and > 0, got rho=0.0."),
                    ({"lam": -1.0}, "admm_tv: lam must be finite and >= 0, got lam=-1.0."),
                    ({"n_iter": 0}, "admm_tv: n_iter must be an integer >= 1, got n_iter=0.")):
        with pytest.raises(ValueError) as e:
            admm_tv(y, op, x, **kw)
        assert str(e.value) == msg
    admm_tv(y, op, x, lam=0.0, n_iter=1, n_cg=1)  # lam = 0 is allowed


def test_admm_tv_jits_over_lam_and_rho(x64):
    """Traced lam and rho pass the argument checks (they are checked when concrete)."""
    y = RNG.normal(size=5)
    run = jax.jit(lambda lam, rho: admm_tv(jnp.asarray(y), op, jnp.asarray(X), lam=lam, rho=rho,
                                           n_iter=3, n_cg=2))
    x, z, u = X, np.zeros((3,) + SHAPE), np.zeros((3,) + SHAPE)
    for _ in range(3):
        x, z, u = H.admm_step(x, z, u, M, y, 0.2, 3.0, (0, 1, 2), 2)
    np.testing.assert_allclose(np.asarray(run(0.2, 3.0)), x, rtol=1e-10, atol=1e-12)
