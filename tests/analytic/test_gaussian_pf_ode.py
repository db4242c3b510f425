"""The closed-form Gaussian PF-ODE flow map against a tight diffrax solve, and its
pushforward moments."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import (
    GaussianMixture,
    gaussian_pf_ode_solution,
    gaussian_pf_ode_trajectory,
)
from diffax.processes import get_process
from mixture_helpers import alpha_sigma as _alpha_sigma


def _gaussian(dim: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dim)
    a = rng.normal(size=(dim, dim))
    cov = 0.3 * a @ a.T + 0.05 * np.eye(dim)  # full, anisotropic (condition number ~100)
    return mean, cov


def _marginal_cov(process, cov, t):
    a, s = map(float, _alpha_sigma(process, t))
    return a**2 * cov + s**2 * np.eye(cov.shape[0])


def _sample_marginal(key, process, mean, cov, t, n):
    c = _marginal_cov(process, cov, t)
    z = jax.random.normal(key, (n, mean.shape[0]), jnp.float64)
    return float(_alpha_sigma(process, t)[0]) * mean + np.asarray(z) @ np.linalg.cholesky(c).T


def _diffrax_flow(process, gm, x_init, ts):
    """Reference: adaptive Tsit5 with rtol = atol = 1e-10 on dx/dt = f x - g^2/2 score."""

    def vector_field(t, x, args):
        return process.pf_ode_drift(x, t, gm.score(x, t, process))

    @jax.jit
    def solve(x_init):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vector_field), diffrax.Tsit5(), t0=ts[0], t1=ts[-1], dt0=None,
            y0=x_init, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
            max_steps=200_000,
        )
        return sol.ys

    return solve(x_init)


@pytest.mark.parametrize("name", ["vp_linear", "ve", "edm", "rectified_flow"])
def test_closed_form_matches_diffrax(x64, name):
    mean, cov = _gaussian()
    gm = GaussianMixture.gaussian(mean, cov)
    process = get_process(name)
    t_max, t_min = process.t_max, process.t_min
    if name == "edm":
        ts = np.geomspace(t_max, t_min, 4)
    else:
        ts = np.linspace(t_max, t_min, 4)
    ts = jnp.asarray(ts)
    x_init = jnp.asarray(_sample_marginal(jax.random.PRNGKey(0), process, mean, cov, t_max, 4))

    ref = np.asarray(_diffrax_flow(process, gm, x_init, ts))
    traj = np.asarray(gaussian_pf_ode_trajectory(mean, cov, process, x_init, ts))
    assert traj.shape == (4, 4, 3)
    np.testing.assert_allclose(traj[0], x_init, rtol=1e-13)
    # (the reference's own error is ~1e-9; |x| reaches ~100 for VE/EDM at t_max)
    np.testing.assert_allclose(traj, ref, rtol=0, atol=1e-6)
    # the one-shot solution agrees with the trajectory
    end = gaussian_pf_ode_solution(mean, cov, process, x_init, ts[0], ts[-1])
    np.testing.assert_allclose(end, traj[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["vp_linear", "edm"])
def test_flow_map_pushes_marginal_to_marginal(x64, name):
    mean, cov = _gaussian()
    process = get_process(name)
    s, t = process.t_max, (0.3 if name == "vp_linear" else 0.5)
    c_s, c_t = _marginal_cov(process, cov, s), _marginal_cov(process, cov, t)
    mean_t = float(_alpha_sigma(process, t)[0]) * mean

    # exact: the map is affine with Jacobian M; M C_s M^T = C_t and M maps alpha_s mu
    # to alpha_t mu.
    flow = lambda x: gaussian_pf_ode_solution(mean, cov, process, x, s, t)  # noqa: E731
    jac = np.asarray(jax.jacfwd(flow)(jnp.zeros(3)))
    np.testing.assert_allclose(jac @ c_s @ jac.T, c_t, rtol=1e-10, atol=1e-12)
    start = jnp.asarray(float(_alpha_sigma(process, s)[0]) * mean)
    np.testing.assert_allclose(flow(start), mean_t, rtol=1e-12, atol=1e-12)

    # Monte Carlo: samples of N(alpha_s mu, C_s) land on N(alpha_t mu, C_t).
    n = 20_000
    xs = _sample_marginal(jax.random.PRNGKey(1), process, mean, cov, s, n)
    xt = np.asarray(flow(jnp.asarray(xs)))
    se_mean = np.sqrt(np.diag(c_t) / n)
    assert np.all(np.abs(xt.mean(0) - mean_t) < 5 * se_mean)
    emp = np.cov(xt.T)
    se_cov = np.sqrt((c_t**2 + np.outer(np.diag(c_t), np.diag(c_t))) / n)
    assert np.all(np.abs(emp - c_t) < 5 * se_cov)


def test_flow_map_group_property(x64):
    """Phi_{u->t} o Phi_{s->u} = Phi_{s->t}, Phi_{t->s} o Phi_{s->t} = id."""
    mean, cov = _gaussian()
    process = get_process("rectified_flow")
    x = jnp.asarray(np.random.default_rng(2).normal(size=(5, 3)))
    s, u, t = 0.9, 0.4, 0.05
    direct = gaussian_pf_ode_solution(mean, cov, process, x, s, t)
    two_step = gaussian_pf_ode_solution(
        mean, cov, process, gaussian_pf_ode_solution(mean, cov, process, x, s, u), u, t)
    np.testing.assert_allclose(two_step, direct, rtol=1e-12, atol=1e-12)
    back = gaussian_pf_ode_solution(mean, cov, process, direct, t, s)
    np.testing.assert_allclose(back, x, rtol=1e-11, atol=1e-11)


def test_float32_jit_and_unbatched():
    mean, cov = _gaussian()
    process = get_process("vp_linear")
    x = jnp.asarray(np.random.default_rng(3).normal(size=(5, 3)), jnp.float32)
    out = jax.jit(lambda x: gaussian_pf_ode_solution(mean.astype(np.float32),
                                                     cov.astype(np.float32), process,
                                                     x, 1.0, 0.01))(x)
    assert out.dtype == jnp.float32 and out.shape == (5, 3)
    # float64 numpy reference of the formula, via the scipy-free eigendecomposition
    lam, u = np.linalg.eigh(cov)
    a_s, s_s = map(float, _alpha_sigma(process, 1.0))
    a_t, s_t = map(float, _alpha_sigma(process, 0.01))
    ratio = np.sqrt((a_t**2 * lam + s_t**2) / (a_s**2 * lam + s_s**2))
    ref = a_t * mean + ((np.asarray(x, np.float64) - a_s * mean) @ u * ratio) @ u.T
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    single = gaussian_pf_ode_solution(mean, cov, process, np.asarray(x[0]), 1.0, 0.01)
    assert single.shape == (3,)


def test_bad_input_raises():
    mean, cov = _gaussian()
    process = get_process("vp_linear")
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"cov must have shape \(d, d\)"):
        gaussian_pf_ode_solution(mean, cov[:2], process, x, 1.0, 0.1)
    with pytest.raises(ValueError, match=r"x_s must have shape \(\.\.\., d\) with d=3"):
        gaussian_pf_ode_solution(mean, cov, process, np.zeros((2, 2)), 1.0, 0.1)
    with pytest.raises(ValueError, match="s and t must be scalars"):
        gaussian_pf_ode_solution(mean, cov, process, x, np.ones(2), 0.1)
    with pytest.raises(ValueError, match="ts must be a non-empty 1-D array"):
        gaussian_pf_ode_trajectory(mean, cov, process, x, 0.5)
