"""``diffax/samplers/dpm_solver_pp.py`` against NumPy transcriptions, written for its
mutation run (docs/testing.md):

* dynamic thresholding (Saharia et al., 2022, "Imagen"; Lu et al., 2022b, "DPM-Solver++",
  Sec. 4): s = max(quantile_p(|x0|), max_val) per example, x0 <- clip(x0, -s, s) max_val/s,
  on a (batch, 2, 3) input, at the defaults p = 0.995, max_val = 1 and others;
* SDE-DPM-Solver++(2M) (the module docstring; diffusers PR #3344):
      x_{i+1} = (sigma_{i+1}/sigma_i) e^{-eta h} x_i + alpha_{i+1} (1 - e^{-(1+eta) h})
                [(1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}] + sigma_{i+1} sqrt(1 - e^{-2 eta h}) z_i
  with r = h_{i-1}/h_i, the first step (and, for N < 10 with ``lower_order_final``, the
  last) of first order, z_i = N(0, I) drawn from the i-th of N split keys (as
  ``multistep.run`` draws it), every state, at the defaults (eta = 1, order 2) and others;
* what ``dpm_solver_pp`` hands to ``checked_solve`` (a recording stand-in: the registry's
  variants pass ``order`` and ``method`` themselves, so the function's own defaults are
  invisible to the earlier tests), its data predictor with and without thresholding;
* every refusal with its whole message.

Float64; rtol 1e-10 against the transcriptions (rounding only: measured at most 2.3e-15).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dpm_solver_by_hand as H
from diffax.samplers import dpm_solver_pp as mod

P = H.P
RTOL = 1e-10
X0 = np.array([[0.7, -1.2, 0.3], [-0.4, 0.9, 1.5]])


def threshold_by_hand(x0, ratio=0.995, max_val=1.0):
    flat = np.abs(x0).reshape(x0.shape[0], -1)
    s = np.maximum(np.quantile(flat, ratio, axis=1), max_val)
    s = s.reshape((-1,) + (1,) * (x0.ndim - 1))
    return np.clip(x0, -s, s) * (max_val / s)


def eps_model(x, t):
    return H.x_dependent_model(x, t, jnp)


def x0_by_hand(x, t):
    """The data prediction of ``eps_model``: x0 = (x - sigma_t eps)/alpha_t."""
    eps = H.x_dependent_model(x, np.full(x.shape[0], t), np)
    return (x - H.as_float(P.sigma, t) * eps) / H.as_float(P.alpha, t)


def sde_by_hand(x, ts, key, *, order=2, eta=1.0, lower_order_final=True, thr=None):
    n = len(ts) - 1
    alpha = [H.as_float(P.alpha, t) for t in ts]
    sigma = [H.as_float(P.sigma, t) for t in ts]
    lam = [np.log(a / s) for a, s in zip(alpha, sigma)]
    h = [lam[i + 1] - lam[i] for i in range(n)]
    keys = jax.random.split(key, n)
    traj, prev = [x], None
    for i in range(n):
        k = min(order, i + 1)
        if lower_order_final and n < 10:
            k = min(k, n - i)
        x0 = x0_by_hand(x, ts[i])
        if thr is not None:
            x0 = threshold_by_hand(x0, *thr)
        c = alpha[i + 1] * (1.0 - np.exp(-(1.0 + eta) * h[i]))
        d = x0
        if k == 2:
            r = h[i - 1] / h[i]
            d = (1.0 + 0.5 / r) * x0 - 0.5 / r * prev
        z = np.asarray(jax.random.normal(keys[i], x.shape, jnp.float64))
        x = (sigma[i + 1] / sigma[i] * np.exp(-eta * h[i]) * x + c * d
             + sigma[i + 1] * np.sqrt(1.0 - np.exp(-2.0 * eta * h[i])) * z)
        prev = x0
        traj.append(x)
    return np.stack(traj)


# ---- the cheap ones first: the mutation runner stops at the first failure --------------

def _refusal(fn, **kw):
    kw.setdefault("key", jax.random.key(0))
    with pytest.raises(ValueError) as e:
        fn(eps_model, P, jnp.asarray(X0), jnp.array([0.9, 0.5, 0.2]), **kw)
    return str(e.value)


@pytest.mark.parametrize("fn,name", [(mod.dpm_solver_pp, "dpm_solver_pp"),
                                     (mod.sde_dpm_solver_pp, "sde_dpm_solver_pp")])
def test_threshold_refusals_in_full(fn, name):
    for ratio in (0.0, 1.5, -0.2):
        assert _refusal(fn, threshold_ratio=ratio) == (
            f"{name}: threshold_ratio must be finite and in (0, 1], got "
            f"threshold_ratio={ratio}.")
    for v in (0.0, -1.0):
        assert _refusal(fn, threshold_max=v) == (
            f"{name}: threshold_max must be finite and > 0, got threshold_max={v}.")


def test_sde_refusals_in_full():
    fn = mod.sde_dpm_solver_pp
    assert _refusal(fn, order=3) == "sde_dpm_solver_pp: unknown order 3; valid choices: [1, 2]."
    assert _refusal(fn, eta=-0.1) == (
        "sde_dpm_solver_pp: eta must be finite and >= 0.0, got eta=-0.1.")
    assert _refusal(fn, key=None) == (
        "sde_dpm_solver_pp is stochastic: pass key=jax.random.key(seed).")
    with pytest.raises(ValueError) as e:
        fn(eps_model, P, jnp.asarray(X0), jnp.array([0.2, 0.9]), key=jax.random.key(0))
    assert str(e.value).startswith("sde_dpm_solver_pp: timesteps must decrease strictly")


def test_threshold_edges_are_accepted(x64):
    ts = jnp.array([0.9, 0.5])
    for fn in (mod.dpm_solver_pp, mod.sde_dpm_solver_pp):
        out = fn(eps_model, P, jnp.asarray(X0), ts, key=jax.random.key(0),
                 threshold_ratio=1.0, threshold_max=1e-3, thresholding=True)
        assert np.isfinite(np.asarray(out.x)).all()


@pytest.fixture
def recorded(monkeypatch):
    seen = []
    monkeypatch.setattr(mod, "checked_solve",
                        lambda *a, **kw: seen.append((a, kw)) or "out")
    return seen


def test_dpm_solver_pp_defaults_reach_checked_solve(recorded, x64):
    x = jnp.asarray(X0)
    ts = jnp.array([0.9, 0.5, 0.2])
    assert mod.dpm_solver_pp(eps_model, P, x, ts) == "out"
    (name, make_f, process, param, x_in, ts_in), kw = recorded[0]
    assert name == "dpm_solver_pp" and process is P and param == "x0"
    assert x_in is x and ts_in is ts
    assert kw == dict(order=2, method="multistep", lower_order_final=True, r1=None,
                      r2=None, return_trajectory=False, second_difference="taylor")
    # default: an eps model turned into x0, not thresholded
    big = 3.0 * X0
    np.testing.assert_allclose(make_f()(jnp.asarray(big), jnp.asarray(0.6)),
                               x0_by_hand(big, 0.6), rtol=RTOL)
    # thresholding alone: the default quantile 0.995 and bound 1
    mod.dpm_solver_pp(eps_model, P, x, ts, thresholding=True)
    np.testing.assert_allclose(recorded[1][0][1]()(jnp.asarray(big), jnp.asarray(0.6)),
                               threshold_by_hand(x0_by_hand(big, 0.6)), rtol=RTOL)


def test_dpm_solver_pp_options_and_thresholded_predictor(recorded, x64):
    seen = []

    def x0_model(x, t, *, label):
        seen.append(label)
        return 2.0 * x + t[:, None]

    mod.dpm_solver_pp(x0_model, P, jnp.asarray(X0), jnp.array([0.9, 0.5]),
                      prediction="x0", cond={"label": 3}, order=3,
                      method="singlestep_fixed", lower_order_final=False, r1=0.2, r2=0.6,
                      return_trajectory=True, second_difference="reference",
                      thresholding=True, threshold_ratio=0.7, threshold_max=0.8)
    (_, make_f, *_), kw = recorded[0]
    assert kw == dict(order=3, method="singlestep_fixed", lower_order_final=False, r1=0.2,
                      r2=0.6, return_trajectory=True, second_difference="reference")
    got = make_f()(jnp.asarray(X0), jnp.asarray(0.4))
    np.testing.assert_allclose(got, threshold_by_hand(2.0 * X0 + 0.4, 0.7, 0.8), rtol=RTOL)
    assert seen == [3]


def test_dynamic_threshold_values(x64):
    x0 = np.array([[[0.2, -3.0, 1.4], [0.9, -0.1, 2.2]],
                   [[0.3, -0.5, 0.1], [0.6, -0.2, 0.05]]])  # example 2 below max_val
    np.testing.assert_allclose(mod.dynamic_threshold(jnp.asarray(x0)),
                               threshold_by_hand(x0), rtol=RTOL)
    for ratio, max_val in [(0.5, 1.0), (0.8, 0.4), (0.995, 2.5)]:
        np.testing.assert_allclose(mod.dynamic_threshold(jnp.asarray(x0), ratio, max_val),
                                   threshold_by_hand(x0, ratio, max_val), rtol=RTOL)


def test_data_predictor(x64):
    x = jnp.asarray(3.0 * X0)
    t = jnp.asarray(0.3)
    plain = mod.data_predictor(eps_model, "eps", P, None, False, 0.5, 0.5)
    np.testing.assert_allclose(plain(x, t), x0_by_hand(3.0 * X0, 0.3), rtol=RTOL)
    thr = mod.data_predictor(eps_model, "eps", P, None, True, 0.6, 0.7)
    np.testing.assert_allclose(thr(x, t), threshold_by_hand(x0_by_hand(3.0 * X0, 0.3),
                                                            0.6, 0.7), rtol=RTOL)
    labels = []

    def v_model(x, t, *, label):
        labels.append(label)
        return 0.0 * x

    got = mod.data_predictor(v_model, "v", P, {"label": 5}, False, 0.9, 1.0)(x, t)
    # a zero v-prediction: x0 = alpha_t x - sigma_t v = alpha_t x
    np.testing.assert_allclose(got, H.as_float(P.alpha, 0.3) * 3.0 * X0, rtol=RTOL)
    assert labels == [5]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(eta=0.4, lower_order_final=False),
    dict(order=1, eta=2.0),
    dict(thresholding=True, threshold_ratio=0.6, threshold_max=0.9),
])
def test_sde_every_state_by_hand(x64, kw):
    ts = np.linspace(0.9, 0.15, 5) ** 1.2  # non-uniform in lambda: r != 1
    key = jax.random.key(11)
    out = mod.sde_dpm_solver_pp(eps_model, P, jnp.asarray(X0), jnp.asarray(ts), key=key,
                                return_trajectory=True, **kw)
    thr = (kw["threshold_ratio"], kw["threshold_max"]) if kw.get("thresholding") else None
    want = sde_by_hand(X0, ts, key, order=kw.get("order", 2), eta=kw.get("eta", 1.0),
                       lower_order_final=kw.get("lower_order_final", True), thr=thr)
    assert int(out.nfe) == 4
    np.testing.assert_allclose(out.trajectory, want, rtol=RTOL)
    np.testing.assert_allclose(out.x, want[-1], rtol=RTOL)


def test_sde_default_threshold_and_no_trajectory(x64):
    ts = np.linspace(0.9, 0.15, 4)
    key = jax.random.key(2)
    x = 4.0 * X0  # large states: the default thresholding (0.995, 1) clips
    out = mod.sde_dpm_solver_pp(eps_model, P, jnp.asarray(x), jnp.asarray(ts), key=key,
                                thresholding=True)
    assert out.trajectory is None
    np.testing.assert_allclose(out.x, sde_by_hand(x, ts, key, thr=(0.995, 1.0))[-1],
                               rtol=RTOL)


def test_sde_passes_cond_to_the_model(x64):
    ts = np.linspace(0.9, 0.15, 3)
    key = jax.random.key(5)
    labels = []

    def model(x, t, *, scale):
        labels.append(scale)
        return scale * eps_model(x, t)

    out = mod.sde_dpm_solver_pp(model, P, jnp.asarray(X0), jnp.asarray(ts), key=key,
                                cond={"scale": 1.0})
    np.testing.assert_allclose(out.x, sde_by_hand(X0, ts, key)[-1], rtol=RTOL)
    assert labels and set(labels) == {1.0}
