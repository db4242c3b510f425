"""UniPC: measured convergence orders on the GMM oracle (UniC raises UniP's order by
one), exact answers for every process and prediction kind, the order conditions of the
weights, agreement with a step-by-step transcription of the paper's algorithm, the
default lower_order_final (more accurate at low NFE on a time-uniform grid), exact NFE
and option validation (jit/vmap/grad and dtypes: test_conformance.py; the phi functions:
test_dpm_solver.py; warm-up orders: test_multistep.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import (
    convergence,
    convergence_problem,
    fit_order,
    full_range_problem,
    rms,
    smooth_sin_model,
)

from diffax import predictions
from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.processes import PROCESSES, VPLinear, get_process
from diffax.samplers import registry, schedules
from diffax.samplers.unipc import unipc, unipc_coefficients

# ---- convergence orders ------------------------------------------------------------------

# name: steps N, in the asymptotic range. UniP-p alone has order p, UniPC-p (with UniC)
# order p + 1. Measured fits: about 2.1, 2.95, 3.9, 3.9, 3.0 for the first five below;
# 3.04, 3.92, 1.95, 2.00, 2.93, 0.97, 1.96 for the rest (on shorter grids for the
# first-order ones; the grids here are long enough for the final-error bounds).
# These need lower_order_final=False: the default (the reference's) ends with a first-
# order step, whose O(h^2) local error caps the asymptotic order at 2.
CONVERGENCE = {
    "unipc_bh1_1": [16, 32, 64],
    "unipc_bh2_2": [24, 48, 96],
    "unipc_bh2_3": [48, 96, 192],
    "unipc_bh2_3_noise": [48, 96, 192],
    "unip_bh2_3": [16, 32, 64],
    "unipc_bh1_2": [24, 48, 96],
    "unipc_bh1_3": [48, 96, 192],
    "unipc_bh2_1": [32, 64, 128],
    "unipc_bh2_1_noise": [32, 64, 128],
    "unipc_bh2_2_noise": [24, 48, 96],
    "unip_bh2_1": [64, 128, 256],
    "unip_bh2_2": [16, 32, 64],
}


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_convergence_order_and_nfe(x64, name):
    ns = CONVERGENCE[name]
    info = registry.sampler_info(name)
    errs, outs, calls = convergence(name, ns, lower_order_final=False)
    order = fit_order(ns, errs)
    assert abs(order - info.order) < 0.3, (name, order, errs)
    # Exact NFE: runtime model calls, the reported nfe and the registry agree (N each:
    # the corrector reuses the next step's evaluation; the last corrector is skipped).
    assert [o.nfe for o in outs] == list(ns) == [info.nfe(n) for n in ns]
    assert calls == sum(ns)
    assert errs[-1] < {1: 1e-2, 2: 1e-3, 3: 1e-4, 4: 1e-5}[info.order], errs


def test_nfe_on_short_grids(x64):
    """N = 1, 2 steps (fewer than the order) with a third-order method: exactly N model
    calls each."""
    exact, p, _, _, x, _ = convergence_problem()
    model = exact(p, "x0")
    ns = (1, 2)
    run = jax.jit(lambda x: [unipc(model, p, x, schedules.uniform_time(p, n), prediction="x0",
                                   order=3) for n in ns])
    exact.calls = 0
    outs = run(x[:4])
    jax.block_until_ready(outs)
    jax.effects_barrier()
    assert [o.nfe for o in outs] == list(ns) and exact.calls == sum(ns)
    assert all(bool(jnp.all(jnp.isfinite(o.x))) for o in outs)


# ---- every process and prediction kind, against the closed-form Gaussian PF-ODE -----------

_VARIANTS = ["unipc_bh2_2", "unipc_bh1_3", "unipc_bh2_3_noise", "unipc_bh1_1", "unip_bh2_3",
             "unipc_bh2_3", "unipc_bh2_2_noise"]
_CASES = [(p, predictions.KINDS[i % 5], _VARIANTS[i % len(_VARIANTS)])
          for i, p in enumerate(PROCESSES.names("gaussian"))]
# NFE 48 on the whole [t_min, t_max]. Observed max errors (eps model) are at most a third
# of these bounds: 1e-2 (order 2), 3e-3 (order 3), 6e-4 (order 4), largest for
# sub-VP and rectified flow; a wrong coefficient or conversion gives O(0.1 - 1).
_BOUND = {2: 3e-2, 3: 1e-2, 4: 2e-3}


@pytest.mark.parametrize("process_name,kind,name", _CASES)
def test_every_process_and_kind_matches_closed_form(x64, process_name, kind, name):
    process = get_process(process_name)
    mean = jnp.array([1.0, -0.5])
    cov = jnp.array([[0.5, 0.2], [0.2, 0.3]])
    model = GaussianMixture.gaussian(mean, cov).model_fn(kind, process)
    info = registry.sampler_info(name)
    x = process.prior_sample(jax.random.PRNGKey(1), (16, 2), jnp.float64)

    @jax.jit
    def run(x):
        out = info(model, process, x, schedules.uniform_log_snr(process, 48), prediction=kind)
        exact = gaussian_pf_ode_solution(mean, cov, process, x, process.t_max, process.t_min)
        return out, jnp.max(jnp.abs(out.x - exact))

    out, err = run(x)
    assert float(err) < _BOUND[info.order], (process_name, kind, name, float(err))
    assert out.nfe == 48


# ---- the default lower_order_final ---------------------------------------------------------

def _time_uniform_error(name: str, nfe: int, **options) -> float:
    """RMS endpoint error of ``name`` with NFE = N on the full [t_min, t_max] oracle
    problem, time-uniform grid (the reference implementation's default grid, issue 15)."""
    exact, p, x, ref = full_range_problem()
    ts = schedules.uniform_time(p, nfe)
    out = jax.jit(lambda x: registry.get_sampler(name, **options)(exact(p), p, x, ts))(x)
    assert out.nfe == nfe
    return rms(out.x, ref)


# Measured RMS errors (64 samples), default (lower_order_final=True) / full order on the
# last steps: unipc_bh1_2 0.220 / 2.25 (10x) at NFE 5, 0.056 / 1.35 (24x) at NFE 10;
# unipc_bh2_3 0.235 / 1.55 (6.6x), 0.067 / 0.437 (6.5x). Margins: about half of these.
@pytest.mark.parametrize("name,nfe,margin", [
    ("unipc_bh1_2", 5, 5.0), ("unipc_bh1_2", 10, 5.0),
    ("unipc_bh2_3", 5, 3.0), ("unipc_bh2_3", 10, 3.0)])
def test_default_lower_order_final_beats_full_order_on_a_time_uniform_grid(
        x64, name, nfe, margin):
    default = _time_uniform_error(name, nfe)
    full = _time_uniform_error(name, nfe, lower_order_final=False)
    assert default * margin < full, (name, nfe, default, full)


# ---- the weights ---------------------------------------------------------------------------

def _exact_step(process, ts, i, m, data):
    """x_{i+1} - A x_i for a model output m(lambda) along the exact solution:
    data: sigma_{i+1} int e^{lambda} m dlambda; noise: -alpha_{i+1} int e^{-lambda} m."""
    lam = 0.5 * np.asarray(process.log_snr(ts))
    u, w = np.polynomial.legendre.leggauss(40)
    lo, hi = lam[i], lam[i + 1]
    nodes = 0.5 * (hi - lo) * u + 0.5 * (hi + lo)
    if data:
        f = np.exp(nodes) * m(nodes)
        pref = float(process.sigma(ts[i + 1]))
    else:
        f = np.exp(-nodes) * m(nodes)
        pref = -float(process.alpha(ts[i + 1]))
    return pref * 0.5 * (hi - lo) * np.sum(w * f)


@pytest.mark.parametrize("algorithm_type", ["data_prediction", "noise_prediction"])
def test_weights_satisfy_the_order_conditions(x64, algorithm_type):
    """On a non-uniform grid, every solved UniP-p weight set integrates model outputs
    that are polynomials of degree p - 1 in lambda exactly, and UniC-p of degree p
    (the order conditions of the paper's Theorem 3.1), in both parameterizations.

    With solved weights B(h) cancels (a = R^{-1} g / B(h), then multiplied by B(h)), so
    bh1 and bh2 give the same third-order steps; they differ only in the UniP-2
    predictor and the UniC-1 corrector, whose single weight is fixed to 1/2 (as in the
    reference implementation; exact only up to O(h))."""
    p = VPLinear()
    ts = jnp.array([0.95, 0.8, 0.7, 0.5, 0.42, 0.2, 0.05])
    lam = 0.5 * np.asarray(p.log_snr(ts))
    data = algorithm_type == "data_prediction"
    tables = jax.jit(lambda ts: {v: unipc_coefficients(
        p, ts, order=3, variant=v, algorithm_type=algorithm_type, lower_order_final=False)
        for v in ("bh1", "bh2")})(ts)
    for variant in ("bh1", "bh2"):
        _, P, C, Ct = (np.asarray(a) for a in tables[variant])
        for i in range(2, 6):  # third-order steps
            for deg in range(4):
                poly = np.polynomial.Polynomial(np.linspace(0.7, -0.4, deg + 1))
                exact = _exact_step(p, ts, i, poly, data)
                hist = np.array([poly(lam[i - j]) for j in range(3)])
                pred = P[i] @ hist
                corr = C[i] @ hist + Ct[i] * poly(lam[i + 1])
                if deg <= 2:
                    np.testing.assert_allclose(pred, exact, rtol=1e-10, atol=1e-13)
                np.testing.assert_allclose(corr, exact, rtol=1e-10, atol=1e-13)
    (_, P1, C1, Ct1), (_, P2, C2, Ct2) = ([np.asarray(a) for a in tables[v]]
                                          for v in ("bh1", "bh2"))
    np.testing.assert_allclose(P1[2:], P2[2:], rtol=1e-12)  # UniP-3
    np.testing.assert_allclose(C1[1:], C2[1:], rtol=1e-12)  # UniC-2, UniC-3
    np.testing.assert_allclose(Ct1[1:], Ct2[1:], rtol=1e-12)
    assert not np.allclose(C1[0], C2[0]) and not np.allclose(P1[1], P2[1])


def _unipc_by_the_paper(model, process, x, ts, order, variant, algorithm_type, corrector,
                        lower_order_final):
    """A direct, step-by-step transcription of the paper's Algorithm (multistep UniPC with
    B(h), as in the reference implementation), in float64 numpy-style Python."""
    data = algorithm_type == "data_prediction"
    target = "x0" if data else "eps"
    ts = np.asarray(ts)
    lam = 0.5 * np.asarray(process.log_snr(ts))
    la, ls = np.asarray(process.log_alpha(ts)), np.asarray(process.log_sigma(ts))

    def m_of(x, t):
        tb = jnp.full((x.shape[0],), t)
        return predictions.convert(model(x, tb), "eps", target, x, tb, process)

    n = len(ts) - 1
    ms = [m_of(x, ts[0])]
    for i in range(n):
        o = min(order, i + 1, n - i) if lower_order_final else min(order, i + 1)
        h = lam[i + 1] - lam[i]
        hh = -h if data else h
        rks = [(lam[i - k] - lam[i]) / h for k in range(1, o)] + [1.0]
        d1 = [(ms[-1 - k] - ms[-1]) / rks[k - 1] for k in range(1, o)]
        phi = [np.expm1(hh) / hh]
        for k in range(1, o + 1):
            phi.append((phi[-1] - 1.0 / math.factorial(k)) / hh)
        bh = hh if variant == "bh1" else np.expm1(hh)
        b = np.array([math.factorial(m) * phi[m] * hh / bh for m in range(1, o + 1)])
        R = np.array([[r**m for r in rks] for m in range(o)])
        if data:
            x_hat = np.exp(ls[i + 1] - ls[i]) * x - np.exp(la[i + 1]) * np.expm1(hh) * ms[-1]
            c = np.exp(la[i + 1])
        else:
            x_hat = np.exp(la[i + 1] - la[i]) * x - np.exp(ls[i + 1]) * np.expm1(hh) * ms[-1]
            c = np.exp(ls[i + 1])
        a_p = [] if o == 1 else [0.5] if o == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
        x_pred = x_hat - c * bh * sum((a * d for a, d in zip(a_p, d1)), jnp.zeros_like(x))
        if i == n - 1:
            return x_pred
        m_new = m_of(x_pred, ts[i + 1])
        if corrector:
            a_c = [0.5] if o == 1 else np.linalg.solve(R, b)
            res = sum((a * d for a, d in zip(a_c[:-1], d1)), jnp.zeros_like(x))
            x = x_hat - c * bh * (res + a_c[-1] * (m_new - ms[-1]))
        else:
            x = x_pred
        ms.append(m_new)


@pytest.mark.parametrize("order,variant,algorithm_type,corrector,lower_order_final", [
    (3, "bh2", "data_prediction", True, True),  # orders 1, 2, 3, 3, 2, 1
    (3, "bh1", "noise_prediction", True, False),
    (2, "bh2", "data_prediction", False, False),  # UniP only
])
def test_matches_step_by_step_transcription(x64, order, variant, algorithm_type, corrector,
                                            lower_order_final):
    p = VPLinear()
    ts = schedules.quadratic_time(p, 6)
    x = jnp.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])
    opts = dict(order=order, variant=variant, algorithm_type=algorithm_type,
                corrector=corrector, lower_order_final=lower_order_final)
    ref = _unipc_by_the_paper(smooth_sin_model, p, x, ts, **opts)
    out = jax.jit(lambda x: unipc(smooth_sin_model, p, x, ts, **opts).x)(x)
    np.testing.assert_allclose(out, ref, rtol=1e-11, atol=1e-12)


# ---- options and registry ------------------------------------------------------------------

def test_bad_options_raise():
    p = VPLinear()
    x = jnp.ones((2, 2))
    ts = schedules.uniform_time(p, 4)
    with pytest.raises(ValueError, match=r"unknown order 4; valid choices: \[1, 2, 3\]"):
        unipc(smooth_sin_model, p, x, ts, order=4)
    with pytest.raises(ValueError, match=r"unknown variant 'bh3'.*\['bh1', 'bh2'\]"):
        unipc(smooth_sin_model, p, x, ts, variant="bh3")
    with pytest.raises(ValueError, match="unknown algorithm_type 'x0'.*data_prediction"):
        unipc(smooth_sin_model, p, x, ts, algorithm_type="x0")
    with pytest.raises(ValueError, match="corrector must be True or False"):
        unipc(smooth_sin_model, p, x, ts, corrector="yes")
    with pytest.raises(ValueError, match="lower_order_final must be True or False"):
        unipc(smooth_sin_model, p, x, ts, lower_order_final=None)


def test_registry():
    for v in ("bh1", "bh2"):
        for k in (1, 2, 3):
            info = registry.sampler_info(f"unipc_{v}_{k}")
            assert info.fn is unipc and not info.stochastic and info.order == k + 1
            assert info.options == dict(order=k, variant=v, algorithm_type="data_prediction",
                                        corrector=True)
            assert info.nfe(10) == 10 and info.steps_for_nfe(25) == 25
    for k in (1, 2, 3):
        assert registry.sampler_info(f"unipc_bh2_{k}_noise").order == k + 1
        assert registry.sampler_info(f"unipc_bh2_{k}_noise").options["algorithm_type"] \
            == "noise_prediction"
        info = registry.sampler_info(f"unip_bh2_{k}")
        assert info.order == k and info.options["corrector"] is False
