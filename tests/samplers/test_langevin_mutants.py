"""``diffax/samplers/langevin.py`` against a NumPy transcription (langevin_bdia_by_hand.py)
of predictor-corrector sampling (Song et al., 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations", Appendix G, Algorithms 2-5: the Langevin corrector's
step size from the signal-to-noise ratio r) and of annealed Langevin dynamics (Song &
Ermon, 2019, "Generative Modeling by Estimating Gradients of the Data Distribution",
Algorithm 1, alpha_i = eps sigma_i^2 / sigma_L^2), written for its mutation run
(docs/testing.md): every state of whole runs on VP-linear (where the corrector's factor
(alpha_{t_i} / alpha_{t_{i+1}})^2 is not 1) with an x- and t-dependent model and a
non-uniform grid; reverse diffusion, ancestral with both variances and no predictor (the
predictors' tables are tested in test_sde_mutants.py), 1 and 2 corrector steps, denoise on
and off, eps and x0 models, ``cond``, a traced snr and step size, float32 states (their
draws are float32); the batch-averaged norm of the step size; every default exercised
by a run (snr 0.16, reverse diffusion with one corrector step, denoise on, the "small"
ancestral variance; NCSN's step_size 2e-5 with 100 steps per level) and every refusal
with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured 4.2e-15 at most,
after the 600 steps of the default annealed Langevin run).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import langevin_bdia_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.samplers import langevin as mod

RTOL, ATOL = 1e-10, 1e-12
# float32 states against the float64 transcription: measured 2.5e-6 relative at most
# (annealed Langevin, 18 model calls; 2.7e-7 predictor-corrector); 12x that.
RTOL32 = 3e-5
N = len(TS) - 1
# A key of XLA's RngBitGenerator: its draws compile in a fraction of threefry's time (the
# samplers only split keys and draw normals, as with any key).
KEY = jax.random.key(5, impl="unsafe_rbg")
SHIFT = 0.25


def _normal(keys, dtype):
    # lax.map, not vmap: a batched draw of an RngBitGenerator key differs from single ones
    return jax.lax.map(lambda k: jax.random.normal(k, X.shape, dtype), keys)


def _pc_draws(m, dtype=jnp.float64):
    """The sampler's draws: step i splits the i-th of N keys into a predictor key and a
    corrector key, which is split into one key per corrector step."""
    def one(k):
        k_pred, k_corr = jax.random.split(k)
        return (jax.random.normal(k_pred, X.shape, dtype),
                _normal(jax.random.split(k_corr, m), dtype))
    zp, zc = jax.lax.map(one, jax.random.split(KEY, N))
    return zp.astype(jnp.float64), zc.astype(jnp.float64)


def _ald_draws(m, dtype=jnp.float64):
    """Level i splits the i-th of N keys into one key per Langevin step."""
    z = jax.lax.map(lambda k: _normal(jax.random.split(k, m), dtype),
                    jax.random.split(KEY, N))
    return z.astype(jnp.float64)


# ---- refusals (cheap; the runner stops at the first failure) ------------------------------

def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    pc, ald = mod.pc_sampler, mod.annealed_langevin
    assert refusal(pc, model, P, x, ts, key=KEY, predictor="heun") == (
        "pc_sampler: unknown predictor 'heun'; valid choices: ['euler_maruyama', "
        "'reverse_diffusion', 'ancestral', 'none'].")
    assert refusal(pc, model, P, x, ts, key=KEY, predictor="ancestral", variance="big") == (
        "pc_sampler: unknown variance 'big'; valid choices: ['small', 'large'].")
    for bad in (-1, 1.5, True):
        assert refusal(pc, model, P, x, ts, key=KEY, n_corrector_steps=bad) == (
            f"pc_sampler: n_corrector_steps must be an integer >= 0, got "
            f"n_corrector_steps={bad!r}.")
    assert refusal(pc, model, P, x, ts, key=KEY, predictor="none", n_corrector_steps=0) == (
        "pc_sampler: predictor='none' needs n_corrector_steps >= 1, got 0.")
    for bad in (0.0, -0.1):
        assert refusal(pc, model, P, x, ts, key=KEY, snr=bad) == (
            f"pc_sampler: snr must be finite and > 0, got snr={bad!r}.")
        assert refusal(ald, model, P, x, ts, key=KEY, step_size=bad) == (
            f"annealed_langevin: step_size must be finite and > 0, got step_size={bad!r}.")
    assert refusal(pc, model, P, x, ts, key=KEY, denoise=None) == (
        "pc_sampler: denoise must be True or False, got denoise=None.")
    assert refusal(ald, model, P, x, ts, key=KEY, steps_per_level=0) == (
        "annealed_langevin: steps_per_level must be an integer >= 1, got steps_per_level=0.")
    grid = TS[::-1].copy()
    for fn, name in ((pc, "pc_sampler"), (ald, "annealed_langevin")):
        assert refusal(fn, model, P, x, ts) == (
            f"{name} is stochastic: pass key=jax.random.key(seed).")
        assert refusal(fn, model, P, x, jnp.asarray(grid), key=KEY) == (
            not_decreasing_message(name, grid))


# ---- whole runs against the transcription -------------------------------------------------

# Three programs (draws, annealed Langevin, predictor-corrector), each compiled once: a
# mutant of one sampler changes (and recompiles) that sampler's program only.

def _draws():
    return {"pc": {m: _pc_draws(m) for m in (1, 2)}, "pc32": _pc_draws(1, jnp.float32),
            "ald": _ald_draws(100), "ald32": _ald_draws(3, jnp.float32)}


def _ald_runs(step_size):
    """``step_size`` (0.02) is traced."""
    x, ald = jnp.asarray(X), mod.annealed_langevin
    return {
        # NCSN's defaults: step_size 2e-5, 100 steps per level; eps model
        "default": ald(model, P, x, jnp.asarray(TS), key=KEY),
        "f32": ald(x0_model_needing_shift, P, x.astype(jnp.float32), jnp.asarray(TS),
                   key=KEY, prediction="x0", cond=dict(shift=SHIFT), step_size=step_size,
                   steps_per_level=3, return_trajectory=True),
    }


def _pc_runs(snr):
    """``snr`` (0.25) is traced."""
    x, ts, pc = jnp.asarray(X), jnp.asarray(TS), mod.pc_sampler
    cond = dict(shift=SHIFT)
    return {
        # every default: reverse diffusion, 1 corrector step, snr 0.16, denoise, eps model
        "default": pc(model, P, x, ts, key=KEY),
        "anc_large": pc(x0_model_needing_shift, P, x, ts, key=KEY, prediction="x0", cond=cond,
                        predictor="ancestral", variance="large", n_corrector_steps=2,
                        snr=snr, return_trajectory=True),
        "none": pc(model_needing_shift, P, x, ts, key=KEY, cond=cond, predictor="none",
                   n_corrector_steps=2, return_trajectory=True),
        # the "small" ancestral variance by default
        "f32": pc(model, P, x.astype(jnp.float32), ts, key=KEY, predictor="ancestral",
                  snr=0.3, denoise=False, return_trajectory=True),
    }


def _compute(fn, *args):
    with float64():
        return jax.tree_util.tree_map(np.asarray, jax.jit(fn)(*args))


@pytest.fixture(scope="module")
def draws():
    return _compute(_draws)


@pytest.fixture(scope="module")
def ald_runs():
    return _compute(_ald_runs, 0.02)


@pytest.fixture(scope="module")
def pc_runs():
    return _compute(_pc_runs, 0.25)


def _close(got, want, rtol=RTOL):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL)


def test_mean_norm():
    """The per-example norm averaged over the batch, on a state with two trailing axes."""
    v = np.arange(24.0).reshape(3, 2, 4) - 7.5
    with float64():
        got = float(mod._mean_norm(jnp.asarray(v)))
    _close(got, H.mean_norm(v))


def test_annealed_langevin_runs(ald_runs, draws):
    r = ald_runs["default"]
    assert r.trajectory is None and r.nfe == 100 * N
    _close(r.x, H.annealed_langevin(X, TS, 2e-5, draws["ald"])[-1])
    r = ald_runs["f32"]
    assert r.x.dtype == np.float32 and r.trajectory.dtype == np.float32
    assert r.nfe == 3 * N
    want = H.annealed_langevin(X, TS, 0.02, draws["ald32"], shift=SHIFT)
    print("ald float32: max relative error", np.max(np.abs(r.trajectory / want - 1)))
    _close(r.trajectory, want, rtol=RTOL32)


def test_pc_runs(pc_runs, draws):
    z = draws["pc"]
    r = pc_runs["default"]
    assert r.trajectory is None and r.nfe == 2 * N
    _close(r.x, H.pc(X, TS, "reverse_diffusion", 1, 0.16, *z[1])[-1])
    r = pc_runs["anc_large"]
    _close(r.trajectory, H.pc(X, TS, "ancestral", 2, 0.25, *z[2], variance="large",
                              shift=SHIFT))
    _close(r.x, r.trajectory[-1])
    assert r.nfe == 3 * N
    r = pc_runs["none"]
    _close(r.trajectory, H.pc(X, TS, "none", 2, 0.16, *z[2], shift=SHIFT))
    assert r.nfe == 2 * N


def test_pc_float32_state(pc_runs, draws):
    r = pc_runs["f32"]
    assert r.x.dtype == np.float32 and r.trajectory.dtype == np.float32
    want = H.pc(X, TS, "ancestral", 1, 0.3, *draws["pc32"], denoise=False)
    print("pc float32: max relative error", np.max(np.abs(r.trajectory / want - 1)))
    _close(r.trajectory, want, rtol=RTOL32)
