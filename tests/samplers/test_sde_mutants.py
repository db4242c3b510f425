"""``diffax/samplers/sde.py`` against a NumPy transcription (ddim_sde_by_hand.py) of its
three reverse-SDE steps: Euler-Maruyama of the reverse SDE (Song et al., 2021,
"Score-Based Generative Modeling through Stochastic Differential Equations", eq. 6), their
reverse-diffusion predictor (eq. 46) and DDPM ancestral sampling (Ho et al., 2020,
"Denoising Diffusion Probabilistic Models", eqs. 6-7, "small" = beta_tilde and "large" =
beta variance), written for its mutation run (docs/testing.md): every state of whole runs
on VP-linear with an x- and t-dependent model and a non-uniform grid, denoise on and off,
eps and x0 models, ``cond``, every default and every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only).
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ddim_sde_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.samplers import sde as mod

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1
KEY = jax.random.PRNGKey(11)
SHIFT = 0.25
NAMES = ("euler_maruyama", "reverse_diffusion", "ancestral")



def _z(key, shape):
    """The sampler's draws: step i uses the i-th of N split keys."""
    return np.stack([np.asarray(jax.random.normal(k, shape, jnp.float64))
                     for k in jax.random.split(key, N)])



# ---- refusals and defaults (cheap) --------------------------------------------------------

def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    grid = TS[::-1].copy()
    for name in NAMES:
        fn = getattr(mod, name)
        assert refusal(fn, model, P, x, ts) == (
            f"{name} is stochastic: pass key=jax.random.key(seed).")
        assert refusal(fn, model, P, x, ts, key=KEY, denoise="no") == (
            f"{name}: denoise must be True or False, got denoise='no'.")
        assert refusal(fn, model, P, x, jnp.asarray(grid), key=KEY) == (
            not_decreasing_message(name, grid))
    assert refusal(mod.ancestral, model, P, x, ts, key=KEY, variance="medium") == (
        "ancestral: unknown variance 'medium'; valid choices: ['small', 'large'].")


def test_defaults_pinned():
    """eps prediction, denoise on (score_sde's noise_removal), and DDPM's beta_tilde
    ("small") posterior variance for ancestral."""
    for name in NAMES:
        d = {k: v.default for k, v in inspect.signature(getattr(mod, name)).parameters.items()}
        assert d["prediction"] == "eps" and d["denoise"] is True and d["key"] is None
        assert d["return_trajectory"] is False and d["cond"] is None
    assert inspect.signature(mod.ancestral).parameters["variance"].default == "small"


# ---- whole runs against the transcription (float64) ---------------------------------------

@pytest.fixture(scope="module")
def runs():
    with float64():
        x, ts = jnp.asarray(X), jnp.asarray(TS)
        cond = dict(shift=SHIFT)
        out = {"z": _z(KEY, X.shape)}
        for name in NAMES:
            fn = getattr(mod, name)
            out[name + "_traj"] = fn(model_needing_shift, P, x, ts, key=KEY, cond=cond,
                                     denoise=False, return_trajectory=True)
            out[name + "_x0"] = fn(x0_model_needing_shift, P, x, ts, key=KEY,
                                   prediction="x0", cond=cond)  # denoise default
        out["ancestral_large"] = mod.ancestral(model, P, x, ts, key=KEY, variance="large",
                                               denoise=False, return_trajectory=True)
        out = jax.tree_util.tree_map(np.asarray, out)
    return out


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_runs(runs, name):
    z = runs["z"]
    r = runs[name + "_traj"]
    _close(r.trajectory, H.reverse_sde(name, X, TS, z, denoise=False, shift=SHIFT))
    _close(r.x, r.trajectory[-1])
    assert r.nfe == N
    r = runs[name + "_x0"]
    assert r.trajectory is None and r.nfe == N
    _close(r.x, H.reverse_sde(name, X, TS, z, denoise=True, shift=SHIFT)[-1])


def test_ancestral_large_variance(runs):
    """DDPM's beta (sigma_{t|s}^2) instead of beta_tilde; "small" is in test_runs."""
    _close(runs["ancestral_large"].trajectory,
           H.reverse_sde("ancestral", X, TS, runs["z"], denoise=False, variance="large"))
