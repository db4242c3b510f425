"""``diffax/samplers/euler.py`` and ``diffax/samplers/reverse_sde.py`` against NumPy
transcriptions, written for their mutation run (docs/testing.md).

* Euler on the probability-flow ODE (Song et al., 2021, "Score-Based Generative Modeling
  through Stochastic Differential Equations", eq. 13): x_{i+1} = x_i + (t_{i+1} - t_i) v,
  v = f x - 1/2 g^2 score, score = -eps / sigma; on VP-linear f = -beta/2, g^2 = beta
  (their eq. 11). Every state of a run with an x0 model and ``cond``; a run with every
  default.
* The reverse-step tables x_s = a x_t + b pred + c z of ``predictor_coefficients``,
  entry by entry on a non-uniform grid: Euler-Maruyama of the reverse SDE (eq. 6), the
  reverse-diffusion predictor (eq. 46: x_s = x_t - F + G^2 score + G z with
  F = (alpha_{t|s} - 1) x, G^2 = sigma_{t|s}^2) and DDPM's posterior (Ho et al., 2020,
  "Denoising Diffusion Probabilistic Models", eqs. 6-7; "small" = beta_tilde, "large" =
  beta), with the target kind each multiplies and the default variance.
* Every refusal with its whole message.

The closed forms of VP-linear and the eps model are ddim_sde_by_hand.py's. Float64;
rtol 1e-10 against the transcriptions (rounding only; measured 5.9e-16 relative for the
Euler states, 9.8e-16 for the tables).
"""

import jax
import jax.numpy as jnp
import numpy as np

import ddim_sde_by_hand as H
from linear_step_problem import (TS, X, P, model, not_decreasing_message, refusal,
                                 x0_model_needing_shift)
from diffax.samplers import euler as euler_mod
from diffax.samplers import reverse_sde as mod

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1
SHIFT = 0.25


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=RTOL, atol=ATOL)


# ---- euler.py -----------------------------------------------------------------------------

def euler_by_hand(x, ts, shift=0.0):
    """Song et al. 2021, eq. 13 by explicit Euler; the N + 1 states."""
    out = [x]
    for t, s in zip(ts[:-1], ts[1:]):
        score = -H.eps(x, t, shift) / H.sigma(t)
        v = -0.5 * H.beta(t) * x - 0.5 * H.beta(t) * score
        x = x + (s - t) * v
        out.append(x)
    return np.stack(out)


def test_euler_runs(x64):
    x, ts = jnp.asarray(X), jnp.asarray(TS)
    want = euler_by_hand(X, TS, SHIFT)
    # x0 model with cond and a trajectory; the key is ignored (deterministic sampler)
    r = euler_mod.euler(x0_model_needing_shift, P, x, ts, prediction="x0",
                        cond=dict(shift=SHIFT), key=jax.random.PRNGKey(0),
                        return_trajectory=True)
    _close(r.trajectory, want)
    _close(r.x, want[-1])
    assert r.nfe == N and isinstance(r.nfe, int)
    # every default: eps prediction, no trajectory, no key
    r = euler_mod.euler(model, P, x, ts)
    _close(r.x, euler_by_hand(X, TS)[-1])
    assert r.trajectory is None and r.nfe == N


# ---- reverse_sde.py -----------------------------------------------------------------------

def tables_by_hand(name, t, s, variance="small"):
    """(target, a, b, c) of one step t -> s < t, from the papers (see the docstring)."""
    a_ts = H.alpha(t) / H.alpha(s)
    var_ts = H.sigma(t) ** 2 - a_ts**2 * H.sigma(s) ** 2  # forward x_t | x_s
    if name == "euler_maruyama":
        # x_s = x_t - [f x_t - g^2 score] dt + g sqrt(dt) z, dt = t - s, f = -beta/2
        dt = t - s
        return ("score", 1.0 - dt * (-0.5 * H.beta(t)), dt * H.beta(t),
                np.sqrt(H.beta(t) * dt))
    if name == "reverse_diffusion":
        return "score", 1.0 - (a_ts - 1.0), var_ts, np.sqrt(var_ts)
    r = H.sigma(s) ** 2 / H.sigma(t) ** 2
    var = var_ts * r if variance == "small" else var_ts
    return "x0", a_ts * r, H.alpha(s) * var_ts / H.sigma(t) ** 2, np.sqrt(var)


def test_predictor_tables(x64):
    t, s = TS[:-1], TS[1:]
    cases = [("euler_maruyama", {}), ("reverse_diffusion", {}), ("ancestral", {}),
             ("ancestral", {"variance": "small"}), ("ancestral", {"variance": "large"}),
             # the variance is read by ancestral only
             ("euler_maruyama", {"variance": "large"}),
             ("reverse_diffusion", {"variance": "large"})]
    for name, kw in cases:
        got = mod.predictor_coefficients(name, P, jnp.asarray(t), jnp.asarray(s), **kw)
        want = tables_by_hand(name, t, s, kw.get("variance", "small"))
        assert got[0] == want[0], (name, kw)
        for g, w in zip(got[1:], want[1:]):
            assert g.shape == (N,)
            _close(g, w)
    assert mod.PREDICTORS == ("euler_maruyama", "reverse_diffusion", "ancestral")
    assert mod.VARIANCES == ("small", "large")


def test_every_refusal_in_full():
    x, ts = jnp.ones((2, 2)), jnp.asarray(TS)
    grid = TS[::-1].copy()
    assert refusal(euler_mod.euler, model, P, x, jnp.asarray(grid)) == (
        not_decreasing_message("euler", grid))
    assert refusal(euler_mod.euler, model, P, x, ts, prediction="score_x") == (
        "unknown prediction kind 'score_x'; valid choices: "
        "['eps', 'x0', 'v', 'score', 'velocity'].")
    t, s = ts[:-1], ts[1:]
    assert refusal(mod.predictor_coefficients, "heun", P, t, s) == (
        "predictor_coefficients: unknown predictor 'heun'; valid choices: "
        "['euler_maruyama', 'reverse_diffusion', 'ancestral'].")
    assert refusal(mod.predictor_coefficients, "ancestral", P, t, s, "medium") == (
        "ancestral: unknown variance 'medium'; valid choices: ['small', 'large'].")
