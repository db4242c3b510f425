"""``diffax/samplers/base.py`` against its module docstring, written for its mutation run
(docs/testing.md): the output types, ``batch_time``, the model wrappers ``predictor`` and
``x0_eps_predictor`` against a NumPy transcription (ddim_sde_by_hand.py: VP-linear and the
eps model of linear_step_problem.py; the probability-flow velocity
f(t) x - 1/2 g(t)^2 score with score = -eps / sigma, Song et al. 2021, eq. 13), the grid
check ``check_timesteps`` at its tolerance 1e-6 max(1, |t_max|) on both sides and every
message in full, ``last_step_mask``, ``require_key`` and ``run_scan`` (dtype cast back
every step, trajectory with x_init first).

Float64 where values are compared: rtol 1e-12 against the transcription (rounding only;
measured at most 1.2e-14 relative, the velocity from an x0 model).
"""

import jax
import jax.numpy as jnp
import numpy as np

import ddim_sde_by_hand as H
from linear_step_problem import (X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.processes import EDM, VPLinear
from diffax.samplers import base as mod

RTOL = 1e-12
SHIFT = 0.25
T = 0.7
KINDS = "['eps', 'x0', 'v', 'score', 'velocity']"


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=RTOL, atol=1e-13)


# ---- output types, batch_time ----------------------------------------------------------

def test_output_types():
    x = jnp.ones((2, 3))
    out = mod.SampleOutput(x=x)
    assert out.trajectory is None and out.nfe == 0
    traj = x[None]
    out = mod.SampleOutput(x, traj, nfe=5)
    # nfe is static (not a leaf): it survives jit and tree_map untouched
    leaves = jax.tree_util.tree_leaves(out)
    assert len(leaves) == 2 and leaves[0] is x and leaves[1] is traj and out.nfe == 5
    assert jax.jit(lambda o: o)(out).nfe == 5
    a = mod.AdaptiveSampleOutput(x, None, jnp.int32(7), jnp.int32(2), jnp.int32(1),
                                 jnp.asarray(True))
    assert len(jax.tree_util.tree_leaves(a)) == 5 and int(a.nfe) == 7


def test_batch_time_one_time_per_example():
    with float64():
        for dtype in (jnp.float32, jnp.float64):
            x = jnp.zeros((3, 2), dtype)
            tb = mod.batch_time(T, x)
            assert tb.shape == (3,) and tb.dtype == dtype
            np.testing.assert_array_equal(np.asarray(tb), np.full(3, T, np.dtype(dtype)))
        tb = mod.batch_time(jnp.asarray(0.25), jnp.zeros((5, 1, 4)))
        assert tb.shape == (5,) and tb.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(tb), np.full(5, 0.25))


# ---- predictor, x0_eps_predictor -------------------------------------------------------

def _velocity(x, t, shift=0.0):
    """f x - 1/2 g^2 score with f = -beta/2, g^2 = beta, score = -eps/sigma."""
    return -0.5 * H.beta(t) * x + 0.5 * H.beta(t) * H.eps(x, t, shift) / H.sigma(t)


def test_predictor_converts_one_evaluation():
    calls = []

    def counting(x, t):
        calls.append(t.shape)
        return model(x, t)

    with float64():
        x = jnp.asarray(X)
        x0, eps = H.x0_eps(X, T)
        _close(mod.predictor(counting, "eps", P, "velocity")(x, T), _velocity(X, T))
        assert calls == [(3,)]  # one evaluation, one time per example
        _close(mod.predictor(counting, "eps", P, "x0")(x, T), x0)
        _close(mod.predictor(counting, "eps", P, "eps")(x, T), eps)
        x0s, eps_s = H.x0_eps(X, T, SHIFT)
        cond = {"shift": SHIFT}
        _close(mod.predictor(model_needing_shift, "eps", P, "x0", cond)(x, T), x0s)
        _close(mod.predictor(x0_model_needing_shift, "x0", P, "eps", cond=cond)(x, T), eps_s)
        _close(mod.predictor(x0_model_needing_shift, "x0", P, "velocity", cond)(x, T),
               _velocity(X, T, SHIFT))
        f = mod.x0_eps_predictor(counting, "eps", P)
        got = f(x, T)
        assert isinstance(got, tuple) and len(got) == 2 and len(calls) == 4
        _close(got[0], x0)
        _close(got[1], eps)
        got = mod.x0_eps_predictor(x0_model_needing_shift, "x0", P, cond)(x, T)
        _close(got[0], x0s)
        _close(got[1], eps_s)
        got = mod.x0_eps_predictor(model_needing_shift, "eps", P, cond=cond)(x, T)
        _close(got[0], x0s)
        _close(got[1], eps_s)


def test_predictor_refuses_unknown_kinds():
    for kw in (dict(prediction="noise", target="x0"), dict(prediction="eps", target="noise")):
        assert refusal(mod.predictor, model, kw["prediction"], P, kw["target"]) == (
            f"unknown prediction kind 'noise'; valid choices: {KINDS}.")
    assert refusal(mod.x0_eps_predictor, model, "noise", P) == (
        f"unknown prediction kind 'noise'; valid choices: {KINDS}.")


# ---- check_timesteps -------------------------------------------------------------------

def _span(where, lo, hi, p):
    return (f"{where}: timesteps span [{lo}, {hi}], outside the process interval "
            f"[t_min={p.t_min}, t_max={p.t_max}].")


def test_check_timesteps_shapes_and_order():
    with float64():
        grid = [0.9, 0.5, 0.2]
        ts = mod.check_timesteps(grid, P)
        assert isinstance(ts, jax.Array)
        np.testing.assert_array_equal(np.asarray(ts), grid)
        np.testing.assert_array_equal(np.asarray(mod.check_timesteps([0.9, 0.5], P)),
                                      [0.9, 0.5])  # two entries are enough by default
        assert refusal(mod.check_timesteps, jnp.ones((2, 2)), P) == (
            "sampler: timesteps must be 1-D with at least 2 entries, got shape (2, 2).")
        assert refusal(mod.check_timesteps, [0.5], P, name="ddim") == (
            "ddim: timesteps must be 1-D with at least 2 entries, got shape (1,).")
        assert refusal(mod.check_timesteps, [0.9, 0.5], P, min_len=3) == (
            "sampler: timesteps must be 1-D with at least 3 entries, got shape (2,).")
        np.testing.assert_array_equal(np.asarray(mod.check_timesteps(grid, P, min_len=3)),
                                      grid)
        for bad in ([0.9, 0.5, 0.5], [0.2, 0.5, 0.9]):
            assert refusal(mod.check_timesteps, bad, P) == not_decreasing_message(
                "sampler", np.asarray(bad))
        up = [0.2, 0.5, 0.9]
        np.testing.assert_array_equal(np.asarray(mod.check_timesteps(up, P, increasing=True)),
                                      up)
        for bad in ([0.2, 0.5, 0.5], [0.9, 0.5, 0.2]):
            assert refusal(mod.check_timesteps, bad, P, increasing=True, name="inv") == (
                f"inv: inversion timesteps must increase strictly; got {np.asarray(bad)}.")
        # traced grids cannot be read: returned unchecked (even increasing ones)
        got = jax.jit(lambda t: mod.check_timesteps(t, P))(jnp.asarray(up))
        np.testing.assert_array_equal(np.asarray(got), up)


def test_check_timesteps_tolerance_on_both_sides():
    """Accepted up to 1e-6 max(1, |t_max|) outside [t_min, t_max], both ends, the bound
    itself included."""
    with float64():
        for p in (P, VPLinear(t_min=0.01, t_max=0.9), EDM()):
            tol = 1e-6 * max(1.0, abs(p.t_max))
            mid = 0.5 * (p.t_min + p.t_max)
            for grid in ([p.t_max + tol, mid, p.t_min - tol],
                         [p.t_max + 0.9 * tol, p.t_min - 0.9 * tol]):
                np.testing.assert_array_equal(np.asarray(mod.check_timesteps(grid, p)), grid)
            hi, lo = p.t_max + 1.1 * tol, p.t_min - 1.1 * tol
            assert refusal(mod.check_timesteps, [hi, mid], p) == _span("sampler", mid, hi, p)
            assert refusal(mod.check_timesteps, [mid, lo], p, name="x") == _span("x", lo, mid, p)
            assert refusal(mod.check_timesteps, [lo, mid], p, increasing=True) == (
                _span("sampler", lo, mid, p))
            assert refusal(mod.check_timesteps, [mid, hi], p, increasing=True) == (
                _span("sampler", mid, hi, p))


# ---- last_step_mask, require_key, run_scan ---------------------------------------------

def test_last_step_mask_and_require_key():
    with float64():
        m = mod.last_step_mask(4, True, jnp.float32)
        assert m.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(m), [1.0, 1.0, 1.0, 0.0])
        m = mod.last_step_mask(3, False, jnp.float64)
        assert m.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(m), [1.0, 1.0, 1.0])
        np.testing.assert_array_equal(np.asarray(mod.last_step_mask(1, True, jnp.float64)),
                                      [0.0])
    key = jax.random.PRNGKey(3)
    assert mod.require_key(key, "ddim") is key
    assert refusal(mod.require_key, None, "euler_maruyama") == (
        "euler_maruyama is stochastic: pass key=jax.random.key(seed).")


def test_run_scan_casts_back_and_stacks_the_trajectory():
    """Carry (float32 state, int32 counter); the step returns float64 (x64 on) and must
    come back as float32; the trajectory is x_init followed by x_of(carry) per step."""
    a = np.array([0.1, -0.2, 0.3])

    def step(c, ai):
        x, k = c
        return x * 1.5 + ai, k + jnp.asarray(2, jnp.int64)

    with float64():
        x_init = jnp.asarray([1.0, -2.0], jnp.float32)
        carry0 = (x_init, jnp.int32(1))
        want = [np.asarray(x_init)]
        for ai in a:  # the step in float64, rounded back to float32
            want.append((want[-1].astype(np.float64) * 1.5 + ai).astype(np.float32))
        (x, k), traj = mod.run_scan(step, carry0, jnp.asarray(a), lambda c: c[0], x_init, True)
        assert x.dtype == jnp.float32 and k.dtype == jnp.int32 and int(k) == 7
        assert traj.dtype == jnp.float32 and traj.shape == (4, 2)
        # float32 rounding of the same float64 values: at most one float32 ulp apart
        np.testing.assert_allclose(np.asarray(traj), np.stack(want), rtol=2e-7)
        np.testing.assert_allclose(np.asarray(x), want[-1], rtol=2e-7)
        (x2, k2), none = mod.run_scan(step, carry0, jnp.asarray(a), lambda c: c[0], x_init,
                                      False)
        assert none is None and int(k2) == 7
        np.testing.assert_allclose(np.asarray(x2), want[-1], rtol=2e-7)
        # x_of picks what is stacked; x_init (not x_of(carry0)) starts the trajectory
        _, traj = mod.run_scan(step, carry0, jnp.asarray(a), lambda c: 2 * c[0],
                               jnp.zeros(2, jnp.float32), True)
        np.testing.assert_array_equal(np.asarray(traj[0]), [0.0, 0.0])
        np.testing.assert_allclose(np.asarray(traj[1:]), 2 * np.stack(want[1:]), rtol=2e-7)

