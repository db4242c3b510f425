"""ADMM-TV with conjugate gradients (diffax.inverse.mbir_admm): adjoint identities,
shrinkage against its closed form, CG on an SPD system, and TV reconstructions that
improve with the number of views."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.data import phantoms
from diffax.inverse import Radon
from diffax.inverse.mbir_admm import (admm_tv, conjugate_gradient, difference_adjoint,
                                      forward_difference, linear_adjoint, shrink)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_difference_and_its_adjoint(axis):
    rng = np.random.default_rng(0)
    x, p = rng.normal(size=(2, 5, 6, 7))
    dx = forward_difference(jnp.asarray(x), axis)
    want = np.concatenate([np.diff(x, axis=axis), np.zeros_like(np.take(x, [0], axis))], axis)
    np.testing.assert_allclose(dx, want, atol=1e-14)
    lhs = np.vdot(np.asarray(dx), p)
    rhs = np.vdot(x, np.asarray(difference_adjoint(jnp.asarray(p), axis)))
    assert lhs == pytest.approx(rhs, rel=1e-12)
    np.testing.assert_allclose(forward_difference(jnp.ones((4, 4)), 1), 0.0)


def test_shrink_is_the_prox_of_the_l1_norm():
    v = jnp.linspace(-3, 3, 61)
    tau = 0.7
    closed = np.where(v > tau, v - tau, np.where(v < -tau, v + tau, 0.0))
    np.testing.assert_allclose(shrink(v, tau), closed, atol=1e-15)
    # the minimiser of 1/2 (z - v)^2 + tau |z| on a fine grid agrees to the grid step
    z = np.linspace(-4, 4, 80001)
    obj = 0.5 * (z[None] - np.asarray(v)[:, None]) ** 2 + tau * np.abs(z)[None]
    np.testing.assert_allclose(z[obj.argmin(1)], closed, atol=1e-4)


def test_cg_solves_an_spd_system():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(12, 12))
    m = jnp.asarray(g @ g.T + 0.5 * np.eye(12))
    b = jnp.asarray(rng.normal(size=12))
    exact = np.linalg.solve(m, b)
    x = conjugate_gradient(lambda v: m @ v, b, jnp.zeros(12), 12)
    np.testing.assert_allclose(x, exact, rtol=1e-7, atol=1e-9)
    # warm start at the solution stays there; 0 iterations return x0
    np.testing.assert_allclose(conjugate_gradient(lambda v: m @ v, b, jnp.asarray(exact), 3),
                               exact, atol=1e-12)
    np.testing.assert_array_equal(conjugate_gradient(lambda v: m @ v, b, b, 0), b)
    # fewer iterations: a larger error in the M-norm, which CG minimises over Krylov spaces
    errs = [np.sqrt((e := np.asarray(conjugate_gradient(lambda v: m @ v, b, jnp.zeros(12), k))
                     - exact) @ np.asarray(m) @ e) for k in (2, 4, 8)]
    assert errs[0] > errs[1] > errs[2]


def test_linear_adjoint_of_radon():
    op = Radon.sparse_view(5)
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 1)))
    yv = jnp.asarray(rng.normal(size=(2, 5, 8)))
    adj = linear_adjoint(op, x.shape, x.dtype)
    assert float(jnp.vdot(op(x), yv)) == pytest.approx(float(jnp.vdot(x, adj(yv))), rel=1e-10)


def test_admm_tv_improves_with_views_and_lam_zero_fits_the_data():
    vol = jnp.asarray(phantoms.shepp_logan_3d(16)[5:11, ..., None], jnp.float64)
    errs = {}
    for k in (3, 12):
        op = Radon.sparse_view(k)
        y = op(vol)
        x = jax.jit(lambda y: admm_tv(y, op, jnp.zeros_like(vol), lam=0.02, rho=1.0,
                                      n_iter=60, n_cg=3))(y)
        errs[k] = float(jnp.sqrt(jnp.mean((x - vol) ** 2)))
    assert errs[12] < 0.5 * errs[3], errs
    # lam = 0: the iterations minimise ||A x - y||^2 (consistent data: residual -> 0)
    op = Radon.sparse_view(3)
    y = op(vol)
    x = admm_tv(y, op, jnp.zeros_like(vol), lam=0.0, rho=1e-3, n_iter=40, n_cg=5)
    assert float(jnp.linalg.norm(op(x) - y)) < 1e-3 * float(jnp.linalg.norm(y))


def test_bad_input():
    op = Radon.sparse_view(3)
    x = jnp.zeros((2, 8, 8, 1))
    with pytest.raises(ValueError, match="axes"):
        admm_tv(op(x), op, x, axes=(0, 0))
    with pytest.raises(ValueError, match="rho"):
        admm_tv(op(x), op, x, rho=0.0)
    with pytest.raises(ValueError, match="n_iter"):
        conjugate_gradient(lambda v: v, x, x, -1)
