"""``diffax/samplers/edm_heun.py`` against a NumPy transcription of Karras et al. (2022),
"Elucidating the Design Space of Diffusion-Based Generative Models", Algorithms 1 and 2
(edm_heun_by_hand.py), written for its mutation run (docs/testing.md): every state of
whole runs on VP-linear with an x- and t-dependent model and a non-uniform grid
(deterministic, final Euler step, churn on some steps only, churn clamped at
sqrt(2) - 1, S_noise != 1, S_churn = 0, eps and x0 models, ``cond``), the defaults of
both samplers and of ``churn_schedule`` pinned to the paper (S_churn = 40, S_tmin = 0,
S_tmax = inf, S_noise = 1; Table 5 tunes them per data set), the churn tables with
inclusive S_tmin/S_tmax bounds (EDM process: s = t exactly), float32 states and tables,
the NFE count and every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured at most 3.2e-15
relative, x0 models included).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import edm_heun_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.processes import EDM
from diffax.samplers import edm_heun as mod

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1  # 6 steps; s = sigma/alpha runs from 93 down to 0.17
KEY = jax.random.PRNGKey(4)
SHIFT = 0.25



def _xi(key, n, shape, dtype=jnp.float64):
    """The sampler's draws: step i uses the i-th of n split keys."""
    draw = jax.vmap(lambda k: jax.random.normal(k, shape, dtype))
    return np.asarray(draw(jax.random.split(key, n)), np.float64)


# ---- refusals, NFE (cheap; the runner stops at the first failure) -------------------------


def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    sto = mod.edm_heun_stochastic
    assert refusal(mod.edm_heun, model, P, x, ts, final_euler="yes") == (
        "edm_heun: final_euler must be True or False, got final_euler='yes'.")
    assert refusal(sto, model, P, x, ts, key=KEY, final_euler=1) == (
        "edm_heun_stochastic: final_euler must be True or False, got final_euler=1.")
    for name in ("s_churn", "s_min", "s_max", "s_noise"):
        assert refusal(sto, model, P, x, ts, key=KEY, **{name: -0.5}) == (
            f"edm_heun_stochastic: {name} must be >= 0, got {name}=-0.5.")
    assert refusal(sto, model, P, x, ts, key=KEY, s_min=2.0, s_max=1.5) == (
        "edm_heun_stochastic: need s_min <= s_max, got s_min=2.0, s_max=1.5.")
    assert refusal(sto, model, P, x, ts) == (
        "edm_heun_stochastic is stochastic: pass key=jax.random.key(seed).")
    grid = TS[::-1].copy()
    for fn, name in ((mod.edm_heun, "edm_heun"), (sto, "edm_heun_stochastic")):
        assert refusal(fn, model, P, x, jnp.asarray(grid), key=KEY) == (
            not_decreasing_message(name, grid))


def test_valid_churn_options_are_accepted():
    """Equal bounds, an infinite S_tmax, zeros and JAX arrays (traced: not checked)."""
    x, ts = jnp.ones((1, 2)), jnp.asarray(TS)
    mod._check_churn(0.0, 1.5, 1.5, 0.0)
    mod._check_churn(0.0, 0.0, math.inf, 1.0)
    mod._check_churn(jnp.asarray(-1.0), jnp.asarray(3.0), 1.0, jnp.asarray(-1.0))
    out = jax.jit(lambda c, lo, hi, sn: mod.edm_heun_stochastic(
        model, P, x, ts, key=KEY, s_churn=c, s_min=lo, s_max=hi, s_noise=sn).x)(
        2.0, 0.5, 20.0, 1.0)
    assert np.all(np.isfinite(out))


def test_heun_nfe():
    """2N model calls, 2N - 1 with a final Euler step (none for N = 0)."""
    for n in (0, 1, 2, 7):
        assert mod.heun_nfe(n) == 2 * n
        assert mod.heun_nfe(n, False) == 2 * n
        assert mod.heun_nfe(n, True) == max(2 * n - 1, 0)


# ---- churn tables ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables():
    """The churn tables of the tests below from one compiled program (x64 around it)."""
    with float64():
        ts = jnp.asarray(TS[:-1])
        ts32 = jnp.asarray(TS[:-1], jnp.float32)
        opts = [jnp.asarray(v, jnp.float64) for v in (1.5, 0.5, 20.0, 1.007)]

        @jax.jit
        def go(ts, ts32, ts200, ts_edm, opts):
            cs = mod.churn_schedule
            return dict(
                partial=cs(P, ts, 1.5, 0.5, 20.0, 1.007),
                clamped=cs(P, ts, 40.0, 0.0, 5.0, 0.5),
                default=cs(P, ts),
                default200=cs(P, ts200),
                edm=cs(EDM(), ts_edm, 0.5, 5.0, 5.0, 1.0),
                f32=cs(P, ts32, *opts),
                f64=cs(P, ts32.astype(jnp.float64), *opts),
            )

        out = go(ts, ts32, jnp.linspace(0.95, 0.05, 200), jnp.array([80.0, 20.0, 5.0, 1.0, 0.2]),
                 opts)
        return jax.tree.map(np.asarray, out), np.asarray(P.alpha(ts))


@pytest.mark.parametrize("case,s_churn,s_min,s_max,s_noise", [
    ("partial", 1.5, 0.5, 20.0, 1.007), ("clamped", 40.0, 0.0, 5.0, 0.5)])
def test_churn_schedule_against_algorithm_2(tables, case, s_churn, s_min, s_max, s_noise):
    """Churned steps: gamma = min(S_churn / N, sqrt(2) - 1), s_hat = (1 + gamma) s,
    t_hat = t(s_hat), ratio = alpha(t_hat) / alpha(t), std = alpha(t_hat) s sqrt(gamma
    (2 + gamma)) S_noise; the other steps pass t, alpha through exactly, ratio 1, std 0."""
    t_hat, s_hat, a_hat, ratio, std = tables[0][case]
    s = H.s_of(TS[:-1])
    g = H.gamma(s, N, s_churn, s_min, s_max)
    on = g > 0
    assert 0 < on.sum() < N
    sh = (1 + g) * s
    th = np.where(on, H.t_of_s(sh), TS[:-1])
    ah = H.alpha(th)
    np.testing.assert_allclose(s_hat, sh, rtol=1e-13)
    np.testing.assert_allclose(t_hat, th, rtol=1e-12)
    np.testing.assert_allclose(a_hat, ah, rtol=1e-12)
    np.testing.assert_allclose(ratio, ah / H.alpha(TS[:-1]), rtol=1e-12)
    np.testing.assert_allclose(std, ah * s * np.sqrt(g * (2 + g)) * s_noise, rtol=1e-12)
    # off steps: exactly the grid (a select, no arithmetic): x_hat = x bit for bit
    np.testing.assert_array_equal(t_hat[~on], TS[:-1][~on])
    np.testing.assert_allclose(a_hat[~on], tables[1][~on], rtol=1e-14)
    np.testing.assert_array_equal(ratio[~on], 1.0)
    np.testing.assert_array_equal(std[~on], 0.0)


def test_churn_schedule_defaults_are_the_papers(tables):
    """S_churn = 40 (gamma clamped at sqrt(2) - 1 for N = 6), S_tmin = 0, S_tmax = inf,
    S_noise = 1: every step churned; unclamped with 200 steps: gamma = 40 / 200."""
    s = H.s_of(TS[:-1])
    g = math.sqrt(2.0) - 1.0
    _, s_hat, a_hat, _, std = tables[0]["default"]
    np.testing.assert_allclose(s_hat, (1 + g) * s, rtol=1e-13)
    np.testing.assert_allclose(std, a_hat * s * math.sqrt(g * (2 + g)), rtol=1e-12)
    _, s_hat, _, _, _ = tables[0]["default200"]
    np.testing.assert_allclose(s_hat, 1.2 * H.s_of(np.linspace(0.95, 0.05, 200)), rtol=1e-12)


def test_churn_bounds_are_inclusive(tables):
    """EDM process (alpha = 1, s = t exactly): S_tmin = S_tmax = a grid value churns that
    step only; t_hat = s_hat (t(s) = s)."""
    ts = np.array([80.0, 20.0, 5.0, 1.0, 0.2])
    t_hat, s_hat, a_hat, ratio, std = tables[0]["edm"]
    g = np.array([0.0, 0.0, 0.1, 0.0, 0.0])  # 0.5 / 5 steps
    np.testing.assert_allclose(s_hat, (1 + g) * ts, rtol=1e-15)
    np.testing.assert_allclose(t_hat, (1 + g) * ts, rtol=1e-14)
    np.testing.assert_array_equal(a_hat, 1.0)
    np.testing.assert_array_equal(ratio, 1.0)
    np.testing.assert_allclose(std, ts * np.sqrt(g * (2 + g)), rtol=1e-14)


def test_churn_tables_keep_a_float32_grid(tables):
    """float32 times with float64 (JAX array) options: all five tables float32, equal to
    the float64 tables up to float32 rounding (measured 3.0e-7 relative; tolerance 1e-5)."""
    for a, b in zip(tables[0]["f32"], tables[0]["f64"]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ---- whole runs against the transcription -----------------------------------------------

TS100 = np.linspace(0.95, 0.05, 101)  # S_churn / N = 0.4 < sqrt(2) - 1: not clamped
CHURN = dict(s_churn=1.0, s_min=1.0, s_max=30.0, s_noise=1.007)  # gamma 1/6 on steps 1-4


@pytest.fixture(scope="module")
def runs():
    """Every run of the tests below in one compiled program (x64 set around it)."""
    with float64():
        ts, cond = jnp.asarray(TS), {"shift": SHIFT}
        ts100 = jnp.asarray(TS100)
        det, sto = mod.edm_heun, mod.edm_heun_stochastic

        @jax.jit
        def go(x, x32):
            return dict(
                det_default=det(model, P, x, ts),
                det_euler_cond=det(model_needing_shift, P, x, ts, cond=cond,
                                   final_euler=True, return_trajectory=True),
                sto_default=sto(model, P, x, ts100, key=KEY),
                sto_partial=sto(x0_model_needing_shift, P, x, ts, key=KEY, cond=cond,
                                prediction="x0", final_euler=True, return_trajectory=True,
                                **CHURN),
                sto_zero=sto(x0_model_needing_shift, P, x, ts, key=KEY, s_churn=0.0,
                             prediction="x0", cond=cond, final_euler=True,
                             return_trajectory=True),
                sto32=sto(model, P, x32, ts, key=KEY, final_euler=True,
                          return_trajectory=True, **CHURN),
            )

        out = go(jnp.asarray(X), jnp.asarray(X, jnp.float32))
        xi = {dt: _xi(KEY, N, X.shape, dt) for dt in (jnp.float64, jnp.float32)}
        xi[100] = _xi(KEY, 100, X.shape)
        return jax.tree.map(np.asarray, out), xi


def _check(out, ref, nfe, rtol=RTOL, trajectory=True):
    assert out.nfe == nfe
    if trajectory:
        assert out.trajectory.shape == (N + 1,) + X.shape
        np.testing.assert_allclose(out.trajectory, ref, rtol=rtol, atol=ATOL)
    else:
        assert out.trajectory is None
    np.testing.assert_allclose(out.x, ref[-1], rtol=rtol, atol=ATOL)


def test_algorithm_1_defaults(runs):
    """eps model, every step corrected, no trajectory."""
    _check(runs[0]["det_default"], H.heun_by_hand(X, TS), 2 * N, trajectory=False)


def test_algorithm_1_final_euler_with_cond(runs):
    _check(runs[0]["det_euler_cond"], H.heun_by_hand(X, TS, final_euler=True, shift=SHIFT),
           2 * N - 1)


def test_algorithm_2_defaults(runs):
    """S_churn = 40 (100 steps: gamma = 0.4 on every step, below the clamp), S_tmin = 0,
    S_tmax = inf, S_noise = 1, corrected last step, eps model, no trajectory."""
    ref = H.heun_by_hand(X, TS100, xi=runs[1][100], s_churn=40.0)
    _check(runs[0]["sto_default"], ref, 200, trajectory=False)


def test_algorithm_2_partial_churn_x0_model_final_euler_cond(runs):
    """Churn on steps 1-4 only (steps 0 and 5 lie outside [S_tmin, S_tmax]), gamma =
    S_churn / N = 1/6, S_noise = 1.007."""
    ref = H.heun_by_hand(X, TS, xi=runs[1][jnp.float64], final_euler=True, shift=SHIFT,
                         **CHURN)
    _check(runs[0]["sto_partial"], ref, 2 * N - 1)
    gamma = H.gamma(H.s_of(TS[:-1]), N, CHURN["s_churn"], CHURN["s_min"], CHURN["s_max"])
    np.testing.assert_array_equal(gamma > 0, [0, 1, 1, 1, 1, 0])
    det = H.heun_by_hand(X, TS, final_euler=True, shift=SHIFT)
    assert np.max(np.abs(ref[-1] - det[-1])) > 0.1  # the churn did something


def test_algorithm_2_without_churn_is_algorithm_1(runs):
    """S_churn = 0 runs Algorithm 1 with every option handed on (x0 model, cond, final
    Euler step, trajectory)."""
    _check(runs[0]["sto_zero"], H.heun_by_hand(X, TS, final_euler=True, shift=SHIFT),
           2 * N - 1)


def test_float32_states_with_a_float64_grid(runs):
    """float32 x, float64 grid (cast to float32), churn, final Euler step outside the
    scan: the state stays float32 and matches the float64 transcription from the float32
    times and the float32 draws (tolerance: float32 rounding over 6 steps, measured 2e-6
    relative)."""
    t32 = TS.astype(np.float32).astype(np.float64)
    x32 = X.astype(np.float32).astype(np.float64)
    sto = runs[0]["sto32"]
    assert sto.x.dtype == np.float32 and sto.trajectory.dtype == np.float32
    ref = H.heun_by_hand(x32, t32, xi=runs[1][jnp.float32], final_euler=True, **CHURN)
    np.testing.assert_allclose(sto.trajectory, ref, rtol=1e-5, atol=1e-6)
