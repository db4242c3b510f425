"""The PF-ODE likelihood's pieces by hand: what mutation testing of
diffax/likelihood/pf_ode.py checks (docs/testing.md, "Mutation testing"); the agreement
with the exact mixture density is in test_pf_ode_likelihood.py.

Pieces (Chen et al., 2018; Grathwohl et al., 2019):
- the exact divergence tr J(x_b) of each example b, J = d v / d x over all axes after
  the batch; the Hutchinson estimate (1/K) sum_k eps_k^T J eps_k;
- probes: Rademacher or standard normal, drawn from the key with the samples' dtype;
- the augmented ODE d[x, l]/dt = [v, div v] from l(t0) = 0, solved by diffrax Dopri5 with
  a PID controller (rtol = atol = 1e-5, at most 16384 steps) that steps onto jump_ts;
- log p(x) = prior(z) + l(t1), with every option handed on unchanged.
"""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.likelihood import pf_ode_log_likelihood
from diffax.likelihood.pf_ode import divergence_fn, make_probes, solve_augmented_ode
from diffax.processes import DiscreteDDPM, VPLinear
from diffax.samplers.base import predictor

pf_ode_module = sys.modules["diffax.likelihood.pf_ode"]

# v(x, t) = t tanh(M z) + z / 2 on z = x flattened per example (d = 6): per example
# J = t diag(sech^2(M z)) M + I / 2, so tr J = t sum_i sech^2((M z)_i) M_ii + 3.
M = np.random.default_rng(0).normal(size=(6, 6))


def _velocity(x, t):
    z = x.reshape(x.shape[0], -1)
    return (t * jnp.tanh(z @ jnp.asarray(M, x.dtype).T) + 0.5 * z).reshape(x.shape)


def _jacobians(x, t):
    z = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    s = 1.0 / np.cosh(z @ M.T) ** 2
    return t * s[:, :, None] * M[None] + 0.5 * np.eye(6)[None]  # (B, 6, 6)


def _x(dtype=jnp.float64):
    # (B, 2, 3): B = 5, d = 6, and no two of B, x.shape[1], x.shape[2], d are equal
    return jax.random.normal(jax.random.PRNGKey(0), (5, 2, 3), dtype)


def test_exact_divergence_by_hand(x64):
    x, t = _x(), 0.7
    v, div = divergence_fn(_velocity, "exact", None)(x, t)
    np.testing.assert_allclose(v, _velocity(x, t), rtol=1e-14, atol=1e-14)
    assert div.shape == (5,)
    np.testing.assert_allclose(div, np.trace(_jacobians(x, t), axis1=1, axis2=2), rtol=1e-12)
    # float32 samples under x64: the basis takes the samples' dtype
    v32, div32 = divergence_fn(_velocity, "exact", None)(_x(jnp.float32), t)
    assert v32.dtype == div32.dtype == jnp.float32 and div32.shape == (5,)
    np.testing.assert_allclose(div32, np.trace(_jacobians(_x(jnp.float32), t), axis1=1, axis2=2),
                               rtol=1e-6)  # measured 1.2e-7


def test_hutchinson_divergence_by_hand(x64):
    """(1/K) sum_k eps_k^T J eps_k per example, K = 3 Gaussian probes (not the trace)."""
    x, t = _x(), 0.3
    probes = jax.random.normal(jax.random.PRNGKey(1), (3,) + x.shape, x.dtype)
    v, div = divergence_fn(_velocity, "hutchinson", probes)(x, t)
    np.testing.assert_allclose(v, _velocity(x, t), rtol=1e-14, atol=1e-14)
    e = np.asarray(probes).reshape(3, 5, 6)
    want = np.einsum("kbi,bij,kbj->b", e, _jacobians(x, t), e) / 3
    assert div.shape == (5,)
    np.testing.assert_allclose(div, want, rtol=1e-12)
    assert np.min(np.abs(want - np.trace(_jacobians(x, t), axis1=1, axis2=2))) > 1e-3


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_make_probes_by_hand(probe, x64):
    key = jax.random.PRNGKey(2)
    draw = jax.random.rademacher if probe == "rademacher" else jax.random.normal
    got = make_probes(key, (5, 2, 3), 3, probe, jnp.float32)
    assert got.dtype == jnp.float32 and got.shape == (3, 5, 2, 3)
    np.testing.assert_array_equal(got, draw(key, (3, 5, 2, 3), dtype=jnp.float32))
    if probe == "rademacher":
        assert set(np.unique(np.asarray(got))) == {-1.0, 1.0}


def _message(call):
    with pytest.raises(ValueError) as err:
        call()
    return str(err.value)


def test_every_argument_check_with_its_whole_message():
    p, x = VPLinear(), jnp.zeros((2, 3))
    model = lambda x, t: x  # noqa: E731
    where = "pf_ode_log_likelihood"
    assert _message(lambda: make_probes(jax.random.PRNGKey(0), (2,), 1, "cauchy", jnp.float32)) \
        == f"{where}: unknown probe 'cauchy'; valid choices: ['gaussian', 'rademacher']."
    assert _message(lambda: pf_ode_log_likelihood(model, p, x, divergence="trace")) \
        == f"{where}: unknown divergence 'trace'; valid choices: ['exact', 'hutchinson']."
    assert _message(lambda: pf_ode_log_likelihood(model, p, x, solver="euler")) \
        == f"{where}: unknown solver 'euler'; valid choices: ['dopri5', 'dopri8', 'tsit5']."
    assert _message(lambda: pf_ode_log_likelihood(model, p, x, divergence="hutchinson")) == (
        f"{where}: divergence='hutchinson' needs key=jax.random.key(seed) for its probes.")
    assert _message(lambda: pf_ode_log_likelihood(model, p, x, divergence="hutchinson",
                                                  key=jax.random.PRNGKey(0), n_probes=0)) \
        == f"{where}: n_probes must be an integer >= 1, got n_probes=0."
    assert _message(lambda: pf_ode_log_likelihood(model, p, jnp.zeros(3))) == (
        f"{where}: x must be a float batch (B, ...) with at least 2 axes, got dtype float32 "
        "and shape (3,).")
    for t_min, t_max in ((0.5, 0.2), (0.0005, 0.5), (0.1, 1.5)):
        assert _message(lambda: pf_ode_log_likelihood(model, p, x, t_min=t_min, t_max=t_max)) \
            == f"{where}: need 0.001 <= t_min < t_max <= 1.0, got t_min={t_min}, t_max={t_max}."


class _RecordingSolve:
    """Stands in for solve_augmented_ode: records its arguments and returns a fixed
    (z, l, steps)."""

    def __init__(self):
        self.calls = []

    def __call__(self, f, x, t0, t1, **kwargs):
        self.calls.append((f, x, t0, t1, kwargs))
        return x + 1.0, 0.1 * jnp.arange(x.shape[0], dtype=x.dtype) + 0.3, jnp.asarray(7)


def _check_rhs(f, velocity, x, probes=None):
    """The augmented right-hand side at t = 0.4 is the velocity and its divergence
    (divergence_fn itself is checked by hand above)."""
    v, div = f(x, 0.4)
    want_v, want_div = divergence_fn(velocity, "exact" if probes is None else "hutchinson",
                                     probes)(x, 0.4)
    np.testing.assert_allclose(v, want_v, rtol=1e-14)
    np.testing.assert_allclose(div, want_div, rtol=1e-12)


def _model(x, t, scale=1.0):
    """An eps model with a conditioning argument: scale tanh(x W) + t x."""
    w = jnp.asarray(M[:3, :3], x.dtype)
    return scale * jnp.tanh(x @ w) + t[:, None] * x


def _check_result(res, x, prior):
    z, delta = x + 1.0, 0.1 * np.arange(x.shape[0]) + 0.3
    np.testing.assert_array_equal(res.z, z)
    np.testing.assert_allclose(res.delta_log_prob, delta, rtol=1e-15)
    np.testing.assert_allclose(res.prior_log_prob, prior(z), rtol=1e-15)
    np.testing.assert_allclose(res.log_prob, prior(z) + delta, rtol=1e-15)
    assert int(res.num_steps) == 7


def test_defaults_reach_the_solver(x64, monkeypatch):
    """Defaults: eps prediction, exact divergence, the process's [t_min, t_max], Dopri5,
    rtol = atol = 1e-5, 16384 steps, the process's kinks as jump times, its prior."""
    solve = _RecordingSolve()
    monkeypatch.setattr(pf_ode_module, "solve_augmented_ode", solve)
    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(3), (4, 3))
    res = pf_ode_log_likelihood(_model, p, x)
    (f, x_in, t0, t1, kwargs), = solve.calls
    np.testing.assert_array_equal(x_in, x)
    assert (t0, t1) == (p.t_min, p.t_max)
    assert kwargs == dict(solver="dopri5", rtol=1e-5, atol=1e-5, max_steps=16384, jump_ts=None)
    _check_rhs(f, predictor(_model, "eps", p, "velocity"), x)
    _check_result(res, x, p.prior_log_prob)


def test_the_process_kinks_are_jump_times(x64, monkeypatch):
    solve = _RecordingSolve()
    monkeypatch.setattr(pf_ode_module, "solve_augmented_ode", solve)
    p = DiscreteDDPM.linear(8, 1e-3, 0.2)  # kinks at n / 8 inside (t_min, t_max)
    pf_ode_log_likelihood(_model, p, jnp.zeros((2, 3)))
    np.testing.assert_array_equal(solve.calls[0][4]["jump_ts"], p.kink_times())
    assert len(p.kink_times()) == 6


def test_every_option_reaches_the_solver(x64, monkeypatch):
    solve = _RecordingSolve()
    monkeypatch.setattr(pf_ode_module, "solve_augmented_ode", solve)
    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(4), (4, 3))
    key, cond = jax.random.PRNGKey(5), {"scale": 0.3}
    prior = lambda z: -jnp.sum(jnp.abs(z), axis=1)  # noqa: E731
    res = pf_ode_log_likelihood(_model, p, x, prediction="x0", cond=cond,
                                divergence="hutchinson", key=key, probe="gaussian",
                                n_probes=2, t_min=0.2, t_max=0.8, solver="tsit5", rtol=1e-3,
                                atol=1e-4, max_steps=77, prior_log_prob=prior)
    (f, _, t0, t1, kwargs), = solve.calls
    assert (t0, t1) == (0.2, 0.8)
    assert kwargs == dict(solver="tsit5", rtol=1e-3, atol=1e-4, max_steps=77, jump_ts=None)
    probes = jax.random.normal(key, (2, 4, 3), x.dtype)
    _check_rhs(f, predictor(_model, "x0", p, "velocity", cond), x, probes)
    _check_result(res, x, prior)


def test_hutchinson_defaults_one_rademacher_probe(x64, monkeypatch):
    solve = _RecordingSolve()
    monkeypatch.setattr(pf_ode_module, "solve_augmented_ode", solve)
    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(6), (4, 3))
    key = jax.random.PRNGKey(7)
    pf_ode_log_likelihood(_model, p, x, divergence="hutchinson", key=key)
    probes = jax.random.rademacher(key, (1, 4, 3), x.dtype)
    _check_rhs(solve.calls[0][0], predictor(_model, "eps", p, "velocity"), x, probes)


def _ramp(c):
    """v = c t x, div v = d c t (d = 3): with s = (t1^2 - t0^2) / 2, z = x e^{c s} and
    l = 3 c s."""
    return lambda x, t: (c * t * x, jnp.full(x.shape[:1], 3 * c, x.dtype) * t)


def test_solve_augmented_ode_defaults_and_closed_form(x64):
    """float32 samples and times under x64: l starts in the samples' dtype, so the whole
    solve stays in float32 (with Python-float times diffrax promotes the state to the
    times' float64)."""
    x = jax.random.normal(jax.random.PRNGKey(8), (4, 3), jnp.float32)
    t0, t1 = jnp.float32(0.1), jnp.float32(0.9)
    z, l, steps = solve_augmented_ode(_ramp(-3.0), x, t0, t1)
    assert z.dtype == l.dtype == jnp.float32 and z.shape == (4, 3) and l.shape == (4,)
    np.testing.assert_allclose(z, x * math.exp(-3.0 * 0.4), rtol=1e-4)  # measured 1.0e-5
    # l is the integral of a linear function of t, which Dopri5 integrates exactly
    np.testing.assert_allclose(l, np.full(4, 3 * -3.0 * 0.4), rtol=1e-6)
    # the defaults are Dopri5, rtol = atol = 1e-5: the same solve, step for step
    z2, l2, steps2 = solve_augmented_ode(_ramp(-3.0), x, t0, t1, solver="dopri5", rtol=1e-5,
                                         atol=1e-5, max_steps=16384)
    np.testing.assert_array_equal(z, z2)
    np.testing.assert_array_equal(l, l2)
    assert int(steps) == int(steps2) > 1


def test_solve_steps_onto_jump_times_and_stops_at_16384_steps(x64):
    """A zero velocity needs few steps, but every jump time ends a step: n jump times
    inside (0, 1) take exactly n + 1 steps (measured for n >= 100), so 16383 fit the
    default 16384 steps and 16384 do not."""
    zero = _ramp(0.0)
    x = jnp.ones((2, 3))
    for n in (16383, 16384):
        jumps = np.arange(1, n + 1) / (n + 1)
        if n < 16384:
            _, _, steps = solve_augmented_ode(zero, x, 0.0, 1.0, jump_ts=jumps)
            assert int(steps) == n + 1
        else:
            with pytest.raises(Exception, match="maximum number of"):
                solve_augmented_ode(zero, x, 0.0, 1.0, jump_ts=jumps)
