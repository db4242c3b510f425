"""``diffax/samplers/deis.py`` against a NumPy transcription of multistep DEIS (Zhang &
Chen, 2023, "Fast Sampling of Diffusion Models with Exponential Integrator", Eq. (15):
tAB with Lagrange extrapolation in t, rhoAB in rho = sigma / alpha; unipc_by_hand.py),
written for its mutation run (docs/testing.md): the coefficient integrals computed in t
by a 400-node Gauss-Legendre rule (independent of the library's quadrature in lambda),
every state of whole runs for orders 1-4 in both bases on an x-dependent model and a grid
non-uniform in t; the documented quadrature in lambda with a 3-node rule by hand
(``quad_nodes`` handed on); the defaults (order 3, basis t, 32 nodes); ``cond`` reaching
the model; a float32 grid under x64; the tables' dtype; every refusal with its whole
message.

Float64. Tolerances: the tables against the 400-node integrals and the states against
the loop over them rtol 1e-11 (measured 1.6e-14 and 3.3e-14); the 3-node rule by hand
rtol 1e-10 (same formula, rounding only: measured 6e-16).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import unipc_by_hand as H
from linear_step_problem import (TS, X, P, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model)
from diffax.samplers import deis as mod



# ---- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("opt,value,msg", [
    ("order", 5, "deis: unknown order 5; valid choices: [1, 2, 3, 4]."),
    ("order", 0, "deis: unknown order 0; valid choices: [1, 2, 3, 4]."),
    ("basis", "lambda", "deis: unknown basis 'lambda'; valid choices: ['t', 'rho']."),
    ("quad_nodes", 1, "deis: quad_nodes must be an integer >= 2, got quad_nodes=1."),
    ("quad_nodes", 2.5, "deis: quad_nodes must be an integer >= 2, got quad_nodes=2.5."),
])
def test_every_refusal_in_full(opt, value, msg):
    with pytest.raises(ValueError) as err:
        mod.deis(model, P, jnp.ones((2, 2)), jnp.asarray(TS), **{opt: value})
    assert str(err.value) == msg


def test_valid_choices():
    assert mod.ORDERS == (1, 2, 3, 4) and mod.BASES == ("t", "rho")


def test_a_bad_grid_is_refused_with_the_sampler_name():
    grid = TS[::-1].copy()
    assert refusal(mod.deis, model, P, jnp.ones((2, 2)), jnp.asarray(grid)) == (
        not_decreasing_message("deis", grid))


# ---- tables and whole runs ---------------------------------------------------------------

@pytest.mark.parametrize("basis", ["t", "rho"])
def test_tables_and_states_match_the_integrals(x64, basis):
    # one program for the four orders (eager dispatch of the tables took 10 s)
    run = jax.jit(lambda ts, x: [
        (mod.deis_coefficients(P, ts, order=k, basis=basis),
         mod.deis(model, P, x, ts, order=k, basis=basis, return_trajectory=True))
        for k in (1, 2, 3, 4)])
    for order, ((A, C), out) in zip((1, 2, 3, 4), run(jnp.asarray(TS), jnp.asarray(X))):
        A_ref, C_ref = H.deis_tables_in_t(TS, order, basis)
        assert C.shape == (len(TS) - 1, order)
        np.testing.assert_allclose(A, A_ref, rtol=1e-12)
        np.testing.assert_allclose(C, C_ref, rtol=1e-11, atol=1e-14)
        assert out.nfe == len(TS) - 1
        ref = H.multistep_by_hand(X, TS, A_ref, C_ref)
        np.testing.assert_allclose(out.trajectory, ref, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(out.x, ref[-1], rtol=1e-11, atol=1e-13)


def _tables_by_lambda_quadrature(ts, order, basis, q):
    """The module's formula C_ij = -sigma_{i+1} h int_0^1 e^{h(1-u)} l_ij(s(lambda_i + u h))
    du with a q-node Gauss-Legendre rule on [0, 1]; s = t(lambda) or e^{-lambda}."""
    lm = H.lam(ts)
    u, w = np.polynomial.legendre.leggauss(q)
    u, w = 0.5 * (u + 1.0), 0.5 * w
    n = len(ts) - 1
    C = np.zeros((n, order))
    for i in range(n):
        h = lm[i + 1] - lm[i]
        lq = lm[i] + u * h
        if basis == "t":
            sq = np.asarray(P.t_from_log_snr(jnp.asarray(2.0 * lq)))
            nodes_all = ts
        else:
            sq, nodes_all = np.exp(-lq), np.exp(-lm)
        o = min(order, i + 1)
        nd = nodes_all[i - np.arange(o)]
        for j in range(o):
            ell = np.prod([(sq - nd[m]) / (nd[j] - nd[m]) for m in range(o) if m != j],
                          axis=0)
            C[i, j] = -H.sigma(ts[i + 1]) * h * np.sum(w * np.exp(h * (1 - u)) * ell)
    return C


@pytest.mark.parametrize("basis", ["t", "rho"])
def test_quad_nodes_is_the_rule_of_the_docstring(x64, basis):
    C_ref = _tables_by_lambda_quadrature(TS, 3, basis, 3)
    _, C = mod.deis_coefficients(P, jnp.asarray(TS), order=3, basis=basis, quad_nodes=3)
    np.testing.assert_allclose(C, C_ref, rtol=1e-10, atol=1e-14)
    out = mod.deis(model, P, jnp.asarray(X), jnp.asarray(TS), order=3, basis=basis,
                   quad_nodes=3)
    ref = H.multistep_by_hand(X, TS, H.alpha(TS[1:]) / H.alpha(TS[:-1]), C_ref)
    np.testing.assert_allclose(out.x, ref[-1], rtol=1e-10, atol=1e-12)


def test_defaults(x64):
    """order 3, basis "t", 32 nodes (the same program with the values given: equal
    bitwise), eps model, no trajectory; an x0 model converted."""
    d = mod.deis_coefficients(P, jnp.asarray(TS), order=3)
    e = mod.deis_coefficients(P, jnp.asarray(TS), order=3, basis="t", quad_nodes=32)
    for a, b in zip(d, e):
        np.testing.assert_array_equal(a, b)
    out = mod.deis(model, P, jnp.asarray(X), jnp.asarray(TS))
    assert out.trajectory is None and out.nfe == 6
    # deis' own quad_nodes default: 32 and 33 nodes agree to rounding, so only the
    # same program with 32 given (deterministic: equal bitwise) tells them apart
    np.testing.assert_array_equal(
        out.x, mod.deis(model, P, jnp.asarray(X), jnp.asarray(TS), quad_nodes=32).x)
    assert not np.array_equal(
        out.x, mod.deis(model, P, jnp.asarray(X), jnp.asarray(TS), quad_nodes=33).x)
    A, C = mod.deis_coefficients(P, jnp.asarray(TS), order=3, basis="t", quad_nodes=32)
    ref = H.multistep_by_hand(X, TS, np.asarray(A), np.asarray(C))
    np.testing.assert_allclose(out.x, ref[-1], rtol=1e-12, atol=1e-13)
    # x0 -> eps conversion adds rounding only (rtol 1e-9 from the float64 eps of 1e-16
    # divided by sigma >= 0.05 at these times)
    out = mod.deis(x0_model, P, jnp.asarray(X), jnp.asarray(TS), prediction="x0",
                   key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(out.x, ref[-1], rtol=1e-9, atol=1e-11)


def test_cond_reaches_the_model(x64):
    out = mod.deis(model_needing_shift, P, jnp.asarray(X), jnp.asarray(TS),
                   cond={"shift": 0.25}, order=2, basis="rho")
    A, C = H.deis_tables_in_t(TS, 2, "rho")
    ref = H.multistep_by_hand(X, TS, A, C, shift=0.25)
    np.testing.assert_allclose(out.x, ref[-1], rtol=1e-11, atol=1e-13)


def test_float32_grid_is_promoted_under_x64(x64):
    ts32 = jnp.asarray(TS, jnp.float32)
    t64 = np.asarray(ts32, np.float64)
    out = mod.deis(model, P, jnp.asarray(X), ts32, order=3)
    A, C = H.deis_tables_in_t(t64, 3, "t")
    assert out.x.dtype == jnp.float64
    np.testing.assert_allclose(out.x, H.multistep_by_hand(X, t64, A, C)[-1], rtol=1e-11,
                               atol=1e-12)


@pytest.mark.parametrize("basis", ["t", "rho"])
def test_tables_keep_the_grid_dtype(x64, basis):
    """float32 grid -> float32 tables (quadrature weights too), close to float64 ones
    (float32 rounding of the nodes amplified by the Lagrange denominators: measured
    1.2e-6 relative at most)."""
    t32 = jnp.asarray(TS, jnp.float32)
    A32, C32 = mod.deis_coefficients(P, t32, order=4, basis=basis)
    A64, C64 = mod.deis_coefficients(P, t32.astype(jnp.float64), order=4, basis=basis)
    assert A32.dtype == C32.dtype == jnp.float32
    np.testing.assert_allclose(A32, A64, rtol=1e-6)  # measured 1.1e-7
    np.testing.assert_allclose(C32, C64, rtol=1e-5, atol=1e-10)
