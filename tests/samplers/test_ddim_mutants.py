"""``diffax/samplers/ddim.py`` against a NumPy transcription (ddim_sde_by_hand.py) of
Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models", eq. 12 with sigma_t(eta)
of eq. 16, and of DDIM inversion (their Sec. 5.4), written for its mutation run
(docs/testing.md): every state of whole runs on VP-linear with an x- and t-dependent
model and a non-uniform grid, eta = 0 / 0.5 / 1 and a traced eta, denoise on and off,
eps and x0 models, ``cond``, every default and every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured at most ~1e-14
relative).
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ddim_sde_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.samplers import ddim as mod

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1
KEY = jax.random.PRNGKey(7)
SHIFT = 0.25



def _z(key, shape):
    """The sampler's draws: step i uses the i-th of N split keys."""
    return np.stack([np.asarray(jax.random.normal(k, shape, jnp.float64))
                     for k in jax.random.split(key, N)])



# ---- refusals and defaults (cheap) --------------------------------------------------------

def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    for eta in (-0.1, 1.5):
        assert refusal(mod.ddim, model, P, x, ts, key=KEY, eta=eta) == (
            "ddim: eta must lie in [0, 1] (0 = deterministic DDIM, 1 = DDPM ancestral "
            f"variance), got eta={eta!r}.")
    assert refusal(mod.ddim, model, P, x, ts, eta=0.5) == (
        "ddim with eta > 0 is stochastic: pass key=jax.random.key(seed).")
    assert refusal(mod.ddim, model, P, x, ts, denoise=1) == (
        "ddim: denoise must be True or False, got denoise=1.")
    grid = TS[::-1].copy()
    assert refusal(mod.ddim, model, P, x, jnp.asarray(grid)) == (
        not_decreasing_message("ddim", grid))
    assert refusal(mod.ddim_inversion, model, P, x, jnp.asarray(TS)) == (
        f"ddim_inversion: inversion timesteps must increase strictly; got {TS}.")


def test_defaults_pinned():
    """eta = 0 is deterministic DDIM (the paper's default sampler), eps prediction,
    denoise on, no trajectory."""
    d = {k: v.default for k, v in inspect.signature(mod.ddim).parameters.items()}
    assert d["eta"] == 0.0 and d["denoise"] is True and d["prediction"] == "eps"
    assert d["key"] is None and d["return_trajectory"] is False and d["cond"] is None
    d = {k: v.default for k, v in inspect.signature(mod.ddim_inversion).parameters.items()}
    assert d["prediction"] == "eps" and d["key"] is None and d["cond"] is None
    assert d["return_trajectory"] is False


# ---- whole runs against the transcription (float64) ---------------------------------------

@pytest.fixture(scope="module")
def runs():
    with float64():
        x, ts = jnp.asarray(X), jnp.asarray(TS)
        z = _z(KEY, X.shape)
        cond = dict(shift=SHIFT)
        out = {"z": z}
        out["default"] = mod.ddim(model, P, x, ts)  # eta = 0, no key needed
        out["eta0_x0"] = mod.ddim(x0_model_needing_shift, P, x, ts, prediction="x0",
                                  cond=cond, return_trajectory=True)
        out["eta0_key"] = mod.ddim(model, P, x, ts, eta=0.0, key=KEY,
                                   return_trajectory=True)
        out["eta_half"] = mod.ddim(model_needing_shift, P, x, ts, eta=0.5, key=KEY,
                                   cond=cond, return_trajectory=True)
        out["eta_half_nodenoise"] = mod.ddim(model, P, x, ts, eta=0.5, key=KEY,
                                             denoise=False, return_trajectory=True)
        out["eta1"] = mod.ddim(model, P, x, ts, eta=1.0, key=KEY, return_trajectory=True)
        out["eta_traced"] = jax.jit(
            lambda e: mod.ddim(model, P, x, ts, eta=e, key=KEY, denoise=False,
                               return_trajectory=True))(jnp.asarray(0.3))
        inv = jnp.asarray(TS[::-1].copy())
        out["inv"] = mod.ddim_inversion(model, P, x, inv, key=KEY, return_trajectory=True)
        out["inv_x0"] = mod.ddim_inversion(x0_model_needing_shift, P, x, inv,
                                           prediction="x0", cond=cond)
        out = jax.tree_util.tree_map(np.asarray, out)
    return out


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_deterministic_runs(runs):
    want = H.ddim(X, TS, 0.0, None)
    assert runs["default"].trajectory is None and runs["default"].nfe == N
    _close(runs["default"].x, want[-1])
    _close(runs["eta0_key"].trajectory, want)
    _close(runs["eta0_key"].x, want[-1])
    want = H.ddim(X, TS, 0.0, None, shift=SHIFT)
    _close(runs["eta0_x0"].trajectory, want)
    assert runs["eta0_x0"].nfe == N


def test_stochastic_runs(runs):
    z = runs["z"]
    r = runs["eta_half"]
    _close(r.trajectory, H.ddim(X, TS, 0.5, z, denoise=True, shift=SHIFT))
    _close(r.x, r.trajectory[-1])
    assert r.nfe == N
    _close(runs["eta_half_nodenoise"].trajectory, H.ddim(X, TS, 0.5, z, denoise=False))
    _close(runs["eta1"].trajectory, H.ddim(X, TS, 1.0, z, denoise=True))
    _close(runs["eta_traced"].trajectory, H.ddim(X, TS, 0.3, z, denoise=False))


def test_inversion(runs):
    inv = TS[::-1].copy()
    r = runs["inv"]
    _close(r.trajectory, H.ddim_inversion(X, inv))
    _close(r.x, r.trajectory[-1])
    assert r.nfe == N
    _close(runs["inv_x0"].x, H.ddim_inversion(X, inv, shift=SHIFT)[-1])
    assert runs["inv_x0"].trajectory is None  # return_trajectory defaults to False
