"""``diffax/samplers/pfgmpp.py`` against a NumPy transcription of Xu et al. (2023),
"PFGM++: Unlocking the Potential of Physics-Inspired Generative Models", Sec. 3-4 and
Appendix, written for its mutation run (docs/testing.md): with r = sigma sqrt(D) the ODE
dx/dr = (x - D(x; sigma)) / r is dx/dsigma = (x - D) / sigma, solved by Heun's method
(Karras et al. 2022, Algorithm 1) on a decreasing sigma grid,

    e = d(x_i, s_i),  x_e = x_i + (s_{i+1} - s_i) e,
    x_{i+1} = x_i + (s_{i+1} - s_i) (e + d(x_e, s_{i+1})) / 2,

(x_{i+1} = x_e on a final Euler step), NFE 2N (2N - 1); and the grid: EDM's eq. 5 with
rho = 7 from t_max = 80 down to t_min = 0.002 (the defaults of PFGMPP, the paper's EDM
sigma range), the ends exact. Every state of runs on a non-uniform grid with a nonlinear,
sigma-dependent denoiser ("x0", the default, and an "eps" field with ``cond``), final
Euler on 6 steps and on 1 step, a float32 state with a float64 model; every default and
every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured 1.1e-14).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from linear_step_problem import float64, not_decreasing_message, refusal
from diffax.processes import PFGMPP, VPLinear
from diffax.samplers import pfgmpp as mod

PP = PFGMPP(D=64.0, data_dim=2)
TS = np.array([80.0, 31.0, 9.5, 2.2, 0.6, 0.09, 0.002])
X = np.array([[30.0, -52.0], [71.0, 8.0], [-15.0, 40.0]])
N = len(TS) - 1
SHIFT = 0.25
RTOL, ATOL = 1e-10, 1e-12
RHO = 7.0  # Karras et al. (2022), eq. 5


def denoiser(x, t):
    """A nonlinear denoiser D(x; sigma), sigma = t of shape (B,)."""
    s = jnp.reshape(t, (-1, 1))
    return x / (1.0 + s ** 2) + 0.3 * jnp.sin(x) * s / (1.0 + s)


def field(x, t, *, shift):
    """An "eps" model: the field dx/dsigma itself, independent of ``denoiser``."""
    s = jnp.reshape(t, (-1, 1))
    return 0.02 * x + 0.3 * jnp.sin(x) + 0.1 * s + shift


def denoiser_np(x, s):
    return x / (1.0 + s ** 2) + 0.3 * np.sin(x) * s / (1.0 + s)


def field_np(x, s):
    return 0.02 * x + 0.3 * np.sin(x) + 0.1 * s + SHIFT


def heun_by_hand(x, ts, d, final_euler=False):
    ts = np.asarray(ts, np.float64)
    n = len(ts) - 1
    states = [np.asarray(x, np.float64)]
    for i in range(n):
        x, s, s1 = states[-1], ts[i], ts[i + 1]
        e = d(x, s)
        x_e = x + (s1 - s) * e
        states.append(x_e if final_euler and i == n - 1 else
                      x + (s1 - s) * (0.5 * e + 0.5 * d(x_e, s1)))
    return np.stack(states)


def d_x0(x, s):
    return (x - denoiser_np(x, s)) / s


def karras_by_hand(n, hi=80.0, lo=0.002):
    i = np.arange(n + 1) / n
    return (hi ** (1 / RHO) + i * (lo ** (1 / RHO) - hi ** (1 / RHO))) ** RHO


# ---- refusals, NFE, the grid (cheap) -------------------------------------------------------

def test_every_refusal_in_full():
    x, ts, vp = jnp.ones((3, 2)), jnp.asarray(TS), VPLinear()
    for where, fn in (("pfgmpp_karras", lambda: mod.pfgmpp_karras(vp, 4)),
                      ("pfgmpp_heun", lambda: mod.pfgmpp_heun(denoiser, vp, x, ts))):
        assert refusal(fn) == (
            f"{where}: process must be a PFGM++ process (family 'pfgmpp': "
            f"diffax.processes.PFGMPP), got VPLinear of family 'gaussian'; Gaussian "
            f"processes use the Gaussian samplers (e.g. 'edm_heun').")
    assert refusal(mod.pfgmpp_karras, PP, 0) == (
        "pfgmpp_karras: n must be an integer >= 1, got n=0.")
    for kw, got in ((dict(t_start=100.0), "t_end=0.002, t_start=100.0"),
                    (dict(t_end=0.001), "t_end=0.001, t_start=80.0"),
                    (dict(t_start=1.0, t_end=2.0), "t_end=2.0, t_start=1.0")):
        assert refusal(mod.pfgmpp_karras, PP, 4, **kw) == (
            f"pfgmpp_karras: need 0.002 <= t_end < t_start <= 80.0, got {got}.")
    assert refusal(mod.pfgmpp_heun, denoiser, PP, x, ts, final_euler="yes") == (
        "pfgmpp_heun: final_euler must be True or False, got final_euler='yes'.")
    for kind in ("v", "score", "velocity"):
        assert refusal(mod.pfgmpp_heun, denoiser, PP, x, ts, prediction=kind) == (
            f"pfgmpp_heun: prediction {kind!r} is not defined for PFGM++ (its kernel is not "
            f"Gaussian); valid choices: ['x0', 'eps'].")
    assert refusal(mod.pfgmpp_heun, denoiser, PP, x, ts, prediction="noise") == (
        "unknown prediction kind 'noise'; valid choices: ['eps', 'x0', 'v', 'score', "
        "'velocity'].")
    grid = TS[::-1].copy()
    assert refusal(mod.pfgmpp_heun, denoiser, PP, x, jnp.asarray(grid)) == (
        not_decreasing_message("pfgmpp_heun", grid))


def test_nfe():
    """2N Heun evaluations; 2N - 1 with a final Euler step; none for N = 0."""
    assert mod.PREDICTIONS == ("x0", "eps")
    assert [mod.pfgmpp_nfe(n) for n in (0, 1, 6)] == [0, 2, 12]
    assert [mod.pfgmpp_nfe(n, True) for n in (0, 1, 2, 6)] == [0, 1, 3, 11]
    assert [mod.pfgmpp_nfe(n, False) for n in (0, 1, 6)] == [0, 2, 12]


def test_karras_grid(runs):
    """EDM's eq. 5 with rho = 7 over [t_min, t_max] = [0.002, 80] by default, the ends
    exact; float64 power of a float64 ramp: rtol 1e-13 (measured 1.6e-15)."""
    g = runs["grid_default"]
    np.testing.assert_allclose(g, karras_by_hand(5), rtol=1e-13)
    assert g[0] == 80.0 and g[-1] == 0.002
    g = runs["grid_both"]
    np.testing.assert_allclose(g, karras_by_hand(3, 5.0, 0.1), rtol=1e-13)
    assert g[0] == 5.0 and g[-1] == 0.1
    np.testing.assert_array_equal(runs["grid_one"], [5.0, 0.002])
    np.testing.assert_allclose(runs["grid_rho3"],
                               [80.0, (0.5 * (80 ** (1 / 3) + 0.5 ** (1 / 3))) ** 3, 0.5],
                               rtol=1e-13)


# ---- whole runs against the transcription (float64) ---------------------------------------

@pytest.fixture(scope="module")
def runs():
    with float64():
        ts = jnp.asarray(TS)
        out = jax.jit(lambda x: {  # one compiled program
            "default": mod.pfgmpp_heun(denoiser, PP, x, ts),
            "eps": mod.pfgmpp_heun(field, PP, x, ts, prediction="eps",
                                   cond=dict(shift=SHIFT), return_trajectory=True),
            "euler": mod.pfgmpp_heun(denoiser, PP, x, ts, final_euler=True,
                                     return_trajectory=True),
            "euler1": mod.pfgmpp_heun(denoiser, PP, x, ts[2:4], final_euler=True,
                                      return_trajectory=True),
            "f32": mod.pfgmpp_heun(
                lambda x, t: denoiser(x.astype(jnp.float64), t.astype(jnp.float64)), PP,
                x.astype(jnp.float32), ts, final_euler=True, return_trajectory=True),
            "grid_default": mod.pfgmpp_karras(PP, 5),
            "grid_both": mod.pfgmpp_karras(PP, 3, t_start=5.0, t_end=0.1),
            "grid_one": mod.pfgmpp_karras(PP, 1, t_start=5.0),
            "grid_rho3": mod.pfgmpp_karras(PP, 2, t_end=0.5, rho=3.0),
        })(jnp.asarray(X))
        return jax.tree_util.tree_map(np.asarray, out)


def _close(got, want, rtol=RTOL):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL)


def test_heun_runs(runs):
    r = runs["default"]
    assert r.trajectory is None and r.nfe == 2 * N
    _close(r.x, heun_by_hand(X, TS, d_x0)[-1])
    r = runs["eps"]
    assert r.nfe == 2 * N
    _close(r.trajectory, heun_by_hand(X, TS, field_np))
    _close(r.x, r.trajectory[-1])


def test_final_euler(runs):
    r = runs["euler"]
    assert r.nfe == 2 * N - 1
    _close(r.trajectory, heun_by_hand(X, TS, d_x0, final_euler=True))
    _close(r.x, r.trajectory[-1])
    r = runs["euler1"]
    assert r.nfe == 1
    _close(r.trajectory, heun_by_hand(X, TS[2:4], d_x0, final_euler=True))


def test_float32_state_stays_float32(runs):
    """The grid cast to the state's float32, a float64 model output cast back at every
    step, the final Euler step included: rtol 1e-5 (float32 rounding, measured 9.6e-8)."""
    r = runs["f32"]
    assert r.x.dtype == r.trajectory.dtype == np.float32
    want = heun_by_hand(X.astype(np.float32), TS.astype(np.float32), d_x0, final_euler=True)
    np.testing.assert_allclose(r.trajectory, want, rtol=1e-5, atol=1e-5)
