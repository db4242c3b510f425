"""``diffax/samplers/bdia.py`` against a NumPy transcription (langevin_bdia_by_hand.py) of
BDIA-DDIM (Zhang, Lewis & Kleijn, 2023, "Exact Diffusion Inversion via Bi-directional
Integration Approximation": y_{k+1} = gamma (y_{k-1} - D(y_k, t_k -> t_{k-1}))
+ D(y_k, t_k -> t_{k+1}) after one DDIM step) and of its inverse (the update solved for
y_{k-1}), written for its mutation run (docs/testing.md): every state of whole runs on
VP-linear with an x- and t-dependent model and a non-uniform grid; gamma = 1 (the default,
time-symmetric), 0.6, 0 (DDIM) and traced; with and without ``x_second``; eps and x0
models, ``cond``; float32 states; round trips data -> noise -> data that return the start
to float64 rounding; the NFE and every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured 1.7e-15 at most).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ddim_sde_by_hand as D
import langevin_bdia_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.samplers import bdia as mod

RTOL, ATOL = 1e-10, 1e-12
# float32 states against the float64 transcription: measured 2.2e-6 relative at most
# (the inversion at gamma = 0.8, which amplifies rounding by 1/gamma per step); 9x.
RTOL32 = 2e-5
N = len(TS) - 1
US = TS[::-1].copy()  # increasing: the inversion's grid
SHIFT = 0.25
X2 = np.array([[0.5, -0.9], [1.6, 0.4], [-0.2, 1.1]])  # a given state at the second time


# ---- refusals (cheap; the runner stops at the first failure) ------------------------------

def test_every_refusal_in_full():
    x, ts, us = jnp.ones((3, 2)), jnp.asarray(TS), jnp.asarray(US)
    for g in (-0.1, 1.5):
        assert refusal(mod.bdia, model, P, x, ts, gamma=g) == (
            f"bdia: gamma must be finite and in [0, 1], got gamma={g!r}.")
        assert refusal(mod.bdia_inversion, model, P, x, us, gamma=g) == (
            f"bdia_inversion: gamma must be finite and in (0, 1], got gamma={g!r}.")
    assert refusal(mod.bdia_inversion, model, P, x, us, gamma=0.0) == (
        "bdia_inversion: gamma must be in (0, 1] (gamma = 0 is DDIM, which has no exact "
        "inverse), got gamma=0.0.")
    for fn, grid, name in ((mod.bdia, ts, "bdia"), (mod.bdia_inversion, us, "bdia_inversion")):
        assert refusal(fn, model, P, x, grid, x_second=jnp.ones((2, 2))) == (
            f"{name}: x_second must have the shape of x_init (3, 2), got (2, 2).")
    assert refusal(mod.bdia, model, P, x, us) == not_decreasing_message("bdia", US)
    assert refusal(mod.bdia_inversion, model, P, x, ts) == (
        f"bdia_inversion: inversion timesteps must increase strictly; got {TS}.")


# ---- whole runs against the transcription -------------------------------------------------

def _all_runs(gamma):
    """Every run in one program (one compile); ``gamma`` (0.7) is traced."""
    x, ts, us = jnp.asarray(X), jnp.asarray(TS), jnp.asarray(US)
    cond = dict(shift=SHIFT)
    b, inv = mod.bdia, mod.bdia_inversion
    out = {}
    out["default"] = b(model, P, x, ts)  # gamma = 1, eps model, no trajectory
    out["g06"] = b(x0_model_needing_shift, P, x, ts, prediction="x0", cond=cond, gamma=0.6,
                   return_trajectory=True)
    out["g0"] = b(model, P, x, ts, gamma=0.0, return_trajectory=True)
    out["second"] = b(model_needing_shift, P, x, ts, cond=cond, gamma=0.6,
                      x_second=jnp.asarray(X2), return_trajectory=True)
    out["inv"] = i1 = inv(model, P, x, us, return_trajectory=True)  # gamma = 1
    out["rec"] = b(model, P, i1.x, ts, x_second=i1.x_penultimate)
    out["inv08"] = i2 = inv(x0_model_needing_shift, P, x, us, prediction="x0", cond=cond,
                            gamma=0.8, x_second=jnp.asarray(X2), return_trajectory=True)
    out["rec08"] = b(model_needing_shift, P, i2.x, ts, cond=cond, gamma=0.8,
                     x_second=i2.x_penultimate, return_trajectory=True)
    out["inv_default"] = inv(model, P, x, us)
    out["traced"] = (b(model, P, x, ts, gamma=gamma).x, inv(model, P, x, us, gamma=gamma).x)
    x32 = x.astype(jnp.float32)
    out["f32"] = b(model, P, x32, ts, gamma=0.6, return_trajectory=True)
    out["f32_second"] = b(model, P, x32, ts, gamma=0.6, x_second=jnp.asarray(X2),
                          return_trajectory=True)  # a float64 x_second
    out["f32_inv"] = inv(model, P, x32, us, gamma=0.8, return_trajectory=True)
    return out


@pytest.fixture(scope="module")
def runs():
    with float64():
        out = jax.tree_util.tree_map(np.asarray, jax.jit(_all_runs)(0.7))
    return out


def _close(got, want, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_sampler_runs(runs):
    r, want = runs["default"], H.bdia(X, TS, 1.0)
    assert r.trajectory is None and r.nfe == N
    _close(r.x, want[-1])
    _close(r.x_penultimate, want[-2])
    r, want = runs["g06"], H.bdia(X, TS, 0.6, shift=SHIFT)
    _close(r.trajectory, want)
    _close(r.x, want[-1])
    _close(r.x_penultimate, want[-2])
    assert r.nfe == N
    r = runs["g0"]  # gamma = 0 is DDIM
    _close(r.trajectory, H.bdia(X, TS, 0.0))
    _close(r.trajectory, D.ddim(X, TS, 0.0, None))
    r, want = runs["second"], H.bdia(X, TS, 0.6, y1=X2, shift=SHIFT)
    _close(r.trajectory, want)
    _close(r.x_penultimate, want[-2])
    assert r.nfe == N - 1
    x, inv = runs["traced"]
    _close(x, H.bdia(X, TS, 0.7)[-1])
    _close(inv, H.bdia_inverse(X, US, 0.7)[-1])


def test_inversion_and_round_trips(runs):
    r, want = runs["inv"], H.bdia_inverse(X, US, 1.0)
    _close(r.trajectory, want)
    _close(r.x, want[-1])
    _close(r.x_penultimate, want[-2])
    assert r.nfe == N
    r = runs["inv_default"]
    assert r.trajectory is None
    _close(r.x, want[-1])
    r, want = runs["inv08"], H.bdia_inverse(X, US, 0.8, w1=X2, shift=SHIFT)
    _close(r.trajectory, want)
    _close(r.x_penultimate, want[-2])
    assert r.nfe == N - 1
    # Exact round trips: data -> noise -> data through the pair (x, x_penultimate), to
    # rounding relative to the largest state carried (|y| up to 230 here): measured
    # 1.9e-15 (gamma = 1) and 1.8e-15 (gamma = 0.8); a wrong weight gives O(1).
    for name, inverse in (("rec", runs["inv"].trajectory), ("rec08", want)):
        scale = np.max(np.abs(inverse))
        states = runs[name].x if name == "rec" else runs[name].trajectory
        _close(states, X if name == "rec" else inverse[::-1], rtol=0, atol=2e-14 * scale)
    assert runs["rec"].nfe == N - 1


def test_float32_states(runs):
    for name, want in (("f32", H.bdia(X, TS, 0.6)), ("f32_second", H.bdia(X, TS, 0.6, y1=X2)),
                       ("f32_inv", H.bdia_inverse(X, US, 0.8))):
        r = runs[name]
        assert r.x.dtype == r.x_penultimate.dtype == r.trajectory.dtype == np.float32, name
        _close(r.trajectory, want, rtol=RTOL32, atol=1e-6)
