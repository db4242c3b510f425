"""``diffax/samplers/consistency.py`` and ``segmented_consistency.py`` against NumPy
transcriptions (consistency_by_hand.py), written for their mutation run (docs/testing.md):

* multistep consistency sampling (Song et al., 2023, "Consistency Models", Algorithm 1):
  every state of runs on VP-linear with an x- and t-dependent model and a non-uniform
  grid (eps model with ``cond`` and a trajectory; x0 model with every default and a
  float32 state under x64), the re-noising coefficients on VP-linear and EDM, NFE;
* Hyper-SD's s-step sampler (Ren et al., 2024, "Hyper-SD", Sec. 3.1): every state with an
  eps model and ``cond``, the defaults, and with ``grid`` the evaluation times (a model
  that returns its time) at the exact boundaries of the grid although the given times are
  5e-5 (relative) off them; the boundaries of every grid; NFE;
* every refusal with its whole message, the boundary check's 1e-4 tolerance from both
  sides.

Float64; rtol 1e-10 against the transcriptions (rounding only; measured 2.8e-15).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import consistency_by_hand as H
from linear_step_problem import (TS, X, P, float64, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model)
from diffax.processes import EDM
from diffax.samplers import consistency as cm
from diffax.samplers import segmented_consistency as sc

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1
KEY = jax.random.PRNGKey(5)
SHIFT = 0.25
E = EDM()
S = 4  # segments of the grid runs
KARRAS_DESC = H.boundaries(H.EDM_, S, "karras")[::-1]  # 80 > ... > 0.002
E78 = EDM(t_max=78.125)
KARRAS78 = H.boundaries(dict(H.EDM_, t_max=78.125), S, "karras")[::-1]
GIVEN78 = np.concatenate([[78.125 - 1e-4 * 78.125], KARRAS78[1:]])
NEAR = 1 + 5e-5 * np.array([0, 1, -1, 1, 0])  # given times 5e-5 off the boundaries
# t_max = 80 given as 80 - 0.0079999997: inside the float64 tolerance 1e-4 * 80 = 0.008,
# outside a float32 one, fl32(fl32(1e-4) * 80) = 0.0079999994
G80 = 80.0 - 0.0079999997


def _z(key, dtype=jnp.float64):
    """The sampler's draws: step i uses the i-th of N split keys."""
    return jax.vmap(lambda k: jax.random.normal(k, X.shape, dtype))(jax.random.split(key, N))


def _clock(x, t):
    """A model that returns its time: the trajectory shows where it is evaluated."""
    return jnp.broadcast_to(jnp.reshape(t, (-1, 1)), x.shape).astype(x.dtype)


# ---- refusals (cheap; the runner stops at the first failure) -----------------------------

def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    grid = TS[::-1].copy()
    assert refusal(cm.consistency, x0_model, P, x, ts) == (
        "consistency is stochastic: pass key=jax.random.key(seed).")
    assert refusal(cm.consistency, x0_model, P, x, jnp.asarray(grid), key=KEY) == (
        not_decreasing_message("consistency", grid))
    assert refusal(cm.consistency, x0_model, P, x, ts[:1], key=KEY) == (
        "consistency: timesteps must be 1-D with at least 2 entries, got shape (1,).")
    name = "segmented_consistency"
    assert refusal(sc.segmented_consistency, x0_model, P, x, jnp.asarray(grid)) == (
        not_decreasing_message(name, grid))
    assert refusal(sc.segmented_consistency, x0_model, P, x, ts[:1]) == (
        f"{name}: timesteps must be 1-D with at least 2 entries, got shape (1,).")
    assert refusal(sc.segmented_consistency, x0_model, P, x, ts, grid="sigma") == (
        f"{name}: unknown grid 'sigma'; valid choices: ['uniform_time', 'karras', "
        f"'log_snr'].")


def _off_message(i, given, want, grid="karras"):
    return (f"segmented_consistency: timesteps[{i}] = {given:.6g} is not the boundary "
            f"{want:.6g} of {S} segments of grid={grid!r}; pass the schedule of that grid "
            f"over [t_min, t_max] ('karras' for 'karras', 'uniform_time' for "
            f"'uniform_time', 'uniform_log_snr' for 'log_snr').")


def _traced(fn, *args):
    """``fn(*args)`` traced by jit (its refusals come while tracing, nothing compiles);
    the arrays among ``args`` are closed over, hence concrete."""
    return lambda: jax.jit(lambda: fn(*args))()


def test_boundary_check(x64):
    """Given times more than 1e-4 (relative) off the boundaries are refused (closed over
    inside jit: concrete there); the first such index is named."""
    x = jnp.zeros((2, 2))
    off = KARRAS_DESC.copy()
    off[2] *= 1 + 2e-4
    off[3] *= 1 - 3e-4
    msg = _off_message(2, off[2], KARRAS_DESC[2])
    off = jnp.asarray(off)
    assert refusal(_traced(lambda: sc.segmented_consistency(_clock, E, x, off,
                                                            grid="karras").x)) == msg
    assert refusal(_traced(sc.segment_times, E, off, "karras")) == msg
    # t_min missed at the last index
    low = KARRAS_DESC.copy()
    low[-1] *= 1.001
    assert refusal(_traced(sc.segment_times, E, jnp.asarray(low), "karras")) == (
        _off_message(S, low[-1], 0.002))
    # exactly 1e-4 off is accepted (test_segment_times_are_the_boundaries), one float64
    # ulp more is not
    near = GIVEN78.copy()
    near[0] = np.nextafter(near[0], 0.0)
    assert refusal(_traced(sc.segment_times, E78, jnp.asarray(near), "karras")) == (
        _off_message(0, near[0], 78.125))
    assert refusal(sc.segment_times, E, jnp.asarray(KARRAS_DESC), "Karras") == (
        "segmented_consistency: unknown grid 'Karras'; valid choices: ['uniform_time', "
        "'karras', 'log_snr'].")


def test_segment_times_are_the_boundaries(runs):
    """b_S > ... > b_0 of the grid, whatever given times within 1e-4 (relative) of them
    (5e-5 off here); float32 boundaries: rtol 2e-6 (measured at most 5.8e-7). Exactly
    1e-4 off is accepted: with t_max = 78.125 (float32-exact), g = t_max - d and
    d = fl(1e-4 t_max) give |g - t_max| == d in float64 (found by a search over k / 16)."""
    np.testing.assert_allclose(runs["st_karras"], KARRAS_DESC, rtol=2e-6)
    assert float(np.float32(1e-4) * np.float32(80.0)) < 80.0 - G80 < 1e-4 * 80.0
    assert abs(GIVEN78[0] - 78.125) == 1e-4 * 78.125
    np.testing.assert_allclose(runs["st_78"], KARRAS78, rtol=2e-6)
    assert runs["st_78"][0] == 78.125


def _b_sum(ts):
    a = H.alpha(ts[1:]) / H.alpha(ts[-1])
    return np.sum(np.sqrt(H.sigma(ts[1:-1]) ** 2 - (a[:-1] * H.sigma(ts[-1])) ** 2))


def test_renoise_coefficients_derivative(runs):
    """d(sum_i b_i)/d t_j is finite (b_N = 0 is not sqrt(0), whose derivative is infinite)
    and equals central differences of the transcription (step 1e-6: measured 4.4e-9
    relative)."""
    h, fd = 1e-6, []
    for j in range(len(TS)):
        e = np.zeros(len(TS))
        e[j] = h
        fd.append((_b_sum(TS + e) - _b_sum(TS - e)) / (2 * h))
    np.testing.assert_allclose(runs["renoise_grad"], fd, rtol=1e-7)


def test_renoise_coefficients(runs):
    """a_i = alpha_i / alpha_N, b_i = sqrt(sigma_i^2 - (a_i sigma_N)^2), b_N = 0; on EDM
    the paper's sqrt(tau^2 - eps^2) with a = 1."""
    (a, b), (c, d) = runs["renoise_vp"], runs["renoise_edm"]
    al, sg = H.alpha(TS), H.sigma(TS)
    wa = al[1:] / al[-1]
    np.testing.assert_allclose(a, wa, rtol=RTOL)
    np.testing.assert_allclose(b[:-1], np.sqrt(sg[1:-1] ** 2 - (wa[:-1] * sg[-1]) ** 2),
                               rtol=RTOL)
    assert float(b[-1]) == 0.0 and float(d[-1]) == 0.0
    np.testing.assert_allclose(c, 1.0, rtol=RTOL)
    np.testing.assert_allclose(d[:-1], np.sqrt(np.array([4.0, 0.25]) - 0.002 ** 2), rtol=RTOL)


# ---- whole runs against the transcriptions (float64) --------------------------------------

@pytest.fixture(scope="module")
def runs():
    with float64():
        x, ts = jnp.asarray(X), jnp.asarray(TS)
        cond = dict(shift=SHIFT)
        # the given grids are made outside the jitted function: concrete there, so that
        # the boundary check runs
        given = jnp.asarray(np.concatenate([[G80], (KARRAS_DESC * NEAR)[1:]]))
        given78 = jnp.asarray(GIVEN78)
        # one compiled program for every run (the grids closed over are concrete: the
        # samplers' checks of them run while tracing)
        out = jax.jit(lambda x: {
            "c_eps": cm.consistency(model_needing_shift, P, x, ts, prediction="eps",
                                    key=KEY, cond=cond, return_trajectory=True),
            # every default (an x0 model, no trajectory), with a float32 state
            "c_f32": cm.consistency(x0_model, P, x.astype(jnp.float32), ts, key=KEY),
            "s_eps": sc.segmented_consistency(model_needing_shift, P, x, ts,
                                              prediction="eps", cond=cond,
                                              return_trajectory=True),
            "s_x0": sc.segmented_consistency(x0_model, P, x, ts),  # every default
            "s_clock": sc.segmented_consistency(_clock, E, x, given, grid="karras",
                                                return_trajectory=True),
            "renoise_vp": cm.renoise_coefficients(P, ts),
            "renoise_edm": cm.renoise_coefficients(E, jnp.array([80.0, 2.0, 0.5, 0.002])),
            "st_karras": sc.segment_times(E, given, "karras"),
            "st_78": sc.segment_times(E78, given78, "karras"),
            "renoise_grad": jax.grad(lambda t: cm.renoise_coefficients(P, t)[1].sum())(ts),
            "z": _z(KEY), "z32": _z(KEY, jnp.float32).astype(jnp.float64),
        })(x)
        return jax.tree_util.tree_map(np.asarray, out)


def _close(got, want, rtol=RTOL):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL)


def test_consistency_runs(runs):
    r = runs["c_eps"]
    assert r.nfe == N
    _close(r.trajectory, H.consistency_by_hand(X, TS, runs["z"],
                                               lambda x, t: H.x0_of(x, t, SHIFT)))
    _close(r.x, r.trajectory[-1])


def test_consistency_defaults_float32_state(runs):
    """Every default; float32 draws of the state's dtype and float32 states under x64 (the
    grid and the coefficients float64): rtol 1e-5 (measured 4.3e-7)."""
    r = runs["c_f32"]
    assert r.x.dtype == np.float32 and r.trajectory is None and r.nfe == N
    want = H.consistency_by_hand(X.astype(np.float32), TS, runs["z32"], H.x0_of)[-1]
    np.testing.assert_allclose(r.x, want, rtol=1e-5, atol=1e-6)


def test_segmented_runs(runs):
    r = runs["s_eps"]
    assert r.nfe == N
    _close(r.trajectory, H.segmented_by_hand(X, TS, lambda x, t: H.x0_of(x, t, SHIFT)))
    _close(r.x, r.trajectory[-1])
    r = runs["s_x0"]
    assert r.trajectory is None and r.nfe == N
    _close(r.x, H.segmented_by_hand(X, TS, H.x0_of)[-1])


def test_segmented_grid_steps_through_the_boundaries(runs):
    """With grid="karras" the model is evaluated at b_S, ..., b_1 (float32 boundaries:
    rtol 2e-6, measured at most 5.8e-7), not at the given times 5e-5 off them."""
    r = runs["s_clock"]
    assert r.nfe == S
    t = r.trajectory[1:, 0, 0]
    np.testing.assert_allclose(t, KARRAS_DESC[:-1], rtol=2e-6)
    assert np.all(r.trajectory[1:] == t[:, None, None])
    np.testing.assert_array_equal(r.trajectory[0], X)
