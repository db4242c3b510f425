"""DPM-Solver (noise prediction): measured convergence orders on the GMM oracle, exact
answers for every process and prediction kind, the exponential-integrator algebra,
DPM-Solver-fast (the paper's order schedule, a transcription of the algorithm, its
accuracy at low NFE), exact NFE and option validation (jit/vmap/grad and dtypes:
test_conformance.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import (
    convergence,
    fit_order,
    full_range_problem,
    rms,
    smooth_sin_model,
)

from diffax import predictions
from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.processes import PROCESSES, VPLinear, get_process
from diffax.samplers import dpm_solver_engine as engine
from diffax.samplers import exponential_integrators as ei
from diffax.samplers import registry, schedules
from diffax.samplers.dpm_solver import dpm_solver

# ---- convergence orders ------------------------------------------------------------------

# name: (steps N, k evaluations per step). DPM-Solver-fast ("_2s", "_3s") takes N model
# evaluations on an N-step grid; its order-3 budgets are N = 2 (mod 3) (orders 3, ..., 3,
# 2), the budgets where no first-order step caps the asymptotic order at 2.
CONVERGENCE = {
    "dpm_solver_1": ([16, 32, 64], 1),
    "dpm_solver_2s": ([16, 32, 64], 1),
    "dpm_solver_3s": ([23, 47, 95], 1),
    "dpm_solver_2s_fixed": ([8, 16, 32], 2),
    "dpm_solver_3s_fixed": ([8, 16, 32], 3),
    "dpm_solver_2m": ([16, 32, 64], 1),
    "dpm_solver_3m": ([16, 32, 64], 1),
}


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_convergence_order_and_nfe(x64, name):
    ns, k = CONVERGENCE[name]
    info = registry.sampler_info(name)
    opts = {"lower_order_final": False} if info.options["method"] == "multistep" else {}
    errs, outs, calls = convergence(name, ns, **opts)
    nfes = [o.nfe for o in outs]
    order = fit_order(nfes, errs)
    assert abs(order - info.order) < 0.3, (name, order, errs)
    # Exact NFE: the model calls counted at runtime, the output and the registry agree.
    assert nfes == [k * n for n in ns] == [info.nfe(n) for n in ns]
    assert calls == sum(nfes)
    assert errs[-1] < {1: 5e-2, 2: 5e-3, 3: 1e-4}[info.order], errs


# ---- every process and prediction kind, against the closed-form Gaussian PF-ODE -----------

_VARIANTS = ["dpm_solver_1", "dpm_solver_2s", "dpm_solver_3s", "dpm_solver_2m",
             "dpm_solver_3m", "dpm_solver_2s_fixed", "dpm_solver_3s_fixed"]
_CASES = [(p, predictions.KINDS[i % 5], _VARIANTS[(i + 2) % 7])
          for i, p in enumerate(PROCESSES.names("gaussian"))]
# On the whole [t_min, t_max] (log-SNR ranges up to [-10, 18]); NFE and error bound per
# order. Observed errors are below a third of the bounds; a wrong coefficient or
# conversion gives O(0.1 - 1) errors.
_NFE = {1: 480, 2: 96, 3: 48}
_BOUND = {1: 3e-2, 2: 1e-2, 3: 2e-3}


@pytest.mark.parametrize("process_name,kind,name", _CASES)
def test_every_process_and_kind_matches_closed_form(x64, process_name, kind, name):
    process = get_process(process_name)
    mean = jnp.array([1.0, -0.5])
    cov = jnp.array([[0.5, 0.2], [0.2, 0.3]])
    model = GaussianMixture.gaussian(mean, cov).model_fn(kind, process)
    info = registry.sampler_info(name)
    n = _NFE[info.order] // info.nfe(1)
    x = process.prior_sample(jax.random.PRNGKey(1), (16, 2), jnp.float64)

    @jax.jit
    def run(x):
        ts = schedules.uniform_log_snr(process, n)
        out = info(model, process, x, ts, prediction=kind)
        exact = gaussian_pf_ode_solution(mean, cov, process, x, process.t_max, process.t_min)
        return out, jnp.max(jnp.abs(out.x - exact))

    out, err = run(x)
    assert float(err) < _BOUND[info.order], (process_name, kind, name, float(err))
    assert out.nfe == info.nfe(n) == _NFE[info.order]


# ---- exponential-integrator algebra -------------------------------------------------------

def _phi_reference(z: float, k: int) -> float:
    """phi_k(z) = sum_n z^n / (n + k)! in 60-digit decimal arithmetic."""
    from decimal import Decimal, localcontext
    with localcontext() as ctx:
        ctx.prec = 60
        zd = Decimal(z)
        return float(sum(zd**n / math.factorial(n + k) for n in range(1, 250))
                     + Decimal(1) / math.factorial(k))


def test_phi_functions_are_accurate_for_small_and_large_arguments(x64):
    """phi_1..phi_4 (UniPC-3 uses phi_4) against a 60-digit series. Measured worst
    relative error 2.3e-14 (phi_4 at z = -0.5, where the recursion starts)."""
    z = [-30.0, -3.0, -1.0, -0.7, -0.5, -0.4999, -0.3, -1e-3, -1e-9, 0.0, 1e-9, 1e-3, 0.3,
         0.4999, 0.5, 0.7, 0.999, 1.0, 2.5, 3.0]
    got = np.stack(jax.jit(lambda z: ei.phis(z, 4))(jnp.asarray(z)), -1)
    ref = [[_phi_reference(zi, k) for k in (1, 2, 3, 4)] for zi in z]
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    # float32: no cancellation at tiny steps (the recursion alone would give noise).
    q = jax.jit(lambda z: ei.phis(z, 4))(jnp.asarray(1e-4, jnp.float32))
    assert all(v.dtype == jnp.float32 for v in q)
    np.testing.assert_allclose([float(v) for v in q],
                               [1.00005, 0.50001667, 0.16667083, 0.04166750], rtol=1e-6)
    g = jax.jit(jax.grad(lambda z: ei.phi(3, z)))(0.0)
    np.testing.assert_allclose(g, 1 / 24, rtol=1e-12)
    g4 = jax.jit(jax.grad(lambda z: ei.phi(4, z)))(0.0)
    np.testing.assert_allclose(g4, 1 / 120, rtol=1e-12)


def test_first_order_step_is_ddim(x64):
    """DPM-Solver-1: x_t = alpha_t (x_s - sigma_s eps)/alpha_s + sigma_t eps (DDIM)."""
    p = VPLinear()
    x = jnp.array([[0.3, -1.2], [2.0, 0.1]])
    ts = jnp.array([0.7, 0.4])
    # The multistep methods start with the same step.
    out, out2, out3 = jax.jit(lambda x: [
        dpm_solver(smooth_sin_model, p, x, ts, order=1, method="singlestep").x,
        dpm_solver(smooth_sin_model, p, x, ts, order=2).x,
        dpm_solver(smooth_sin_model, p, x, ts, order=3).x])(x)
    eps = smooth_sin_model(x, jnp.full((2,), 0.7))
    a_s, s_s, a_t, s_t = p.alpha(0.7), p.sigma(0.7), p.alpha(0.4), p.sigma(0.4)
    np.testing.assert_allclose(out, a_t * (x - s_s * eps) / a_s + s_t * eps, rtol=1e-13)
    np.testing.assert_allclose(out2, out, rtol=1e-13)
    np.testing.assert_allclose(out3, out, rtol=1e-13)


def test_third_order_multistep_weights_are_exact_for_quadratics(x64):
    """On a non-uniform lambda grid, the 3M weights integrate a model output that is
    quadratic in lambda exactly (the definition of third-order consistency), for both
    parameterizations. (Weighting the second difference by c3/2, as the reference
    implementation does, fails this and gives a second-order method.)"""
    p = VPLinear()
    ts = jnp.array([0.9, 0.7, 0.55, 0.3, 0.1])
    lam = np.asarray(ei.half_log_snr(p, ts))
    quad = lambda l: 0.7 - 0.4 * l + 0.3 * l**2  # noqa: E731
    def weights(ts, param, c3_scale):
        c = ei.step_coefficients(p, param, ts[:-1], ts[1:])
        return ei.multistep_weights(c._replace(c3=c3_scale * c.c3), np.array([1, 2, 3, 3]))

    weights = jax.jit(weights, static_argnums=(1, 2))
    for param in ("eps", "x0"):
        w = np.asarray(weights(ts, param, 1.0))
        w_ref = np.asarray(weights(ts, param, 0.5))
        for i in (2, 3):
            approx = sum(w[i, j] * quad(lam[i - j]) for j in range(3))
            approx_ref = sum(w_ref[i, j] * quad(lam[i - j]) for j in range(3))
            # exact: P int_0^h e^{z tau / h ...} m(lambda_i + tau) d tau by quadrature
            tau = np.linspace(0.0, lam[i + 1] - lam[i], 20001)
            h = tau[-1]
            if param == "eps":
                pref, kern = -float(p.sigma(ts[i + 1])), np.exp(h - tau)
            else:
                pref, kern = float(p.alpha(ts[i + 1])), np.exp(-(h - tau))
            vals = kern * quad(lam[i] + tau)
            exact = pref * np.sum((vals[1:] + vals[:-1]) / 2 * np.diff(tau))
            np.testing.assert_allclose(approx, exact, rtol=1e-7)
            assert abs(approx_ref - exact) > 1e-3 * abs(exact)


def test_multistep_orders_warm_up_and_lower_order_final():
    np.testing.assert_array_equal(ei.multistep_orders(6, 3, True), [1, 2, 3, 3, 2, 1])
    np.testing.assert_array_equal(ei.multistep_orders(6, 3, False), [1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(ei.multistep_orders(12, 3, True), [1, 2] + [3] * 10)
    np.testing.assert_array_equal(ei.multistep_orders(2, 2, True), [1, 1])


# ---- options and registry ------------------------------------------------------------------

def test_bad_options_raise():
    p = VPLinear()
    x = jnp.ones((2, 2))
    ts = schedules.uniform_time(p, 4)
    with pytest.raises(ValueError, match=r"unknown order 4; valid choices: \[1, 2, 3\]"):
        dpm_solver(smooth_sin_model, p, x, ts, order=4)
    with pytest.raises(ValueError, match="unknown method 'adaptive'.*singlestep_fixed"):
        dpm_solver(smooth_sin_model, p, x, ts, method="adaptive")
    with pytest.raises(ValueError, match="r1/r2 only apply to method='singlestep_fixed'"):
        dpm_solver(smooth_sin_model, p, x, ts, order=2, method="multistep", r1=0.5)
    with pytest.raises(ValueError, match="method='singlestep' places the stages at the grid"):
        dpm_solver(smooth_sin_model, p, x, ts, order=3, method="singlestep", r1=0.3)
    with pytest.raises(ValueError, match="r2 only applies to order 3"):
        dpm_solver(smooth_sin_model, p, x, ts, order=2, method="singlestep_fixed", r2=0.5)
    with pytest.raises(ValueError, match="need 0 < r1 < 1"):
        dpm_solver(smooth_sin_model, p, x, ts, order=3, method="singlestep_fixed", r1=0.7,
                   r2=0.6)


def test_custom_stage_fractions_keep_the_order(x64):
    """r1 is a free parameter of DPM-Solver-2 (the paper's Theorem 3.2 holds for any
    r1 in (0, 1)); r1 = 1 / 3 gives a different but still second-order method."""
    errs, _, _ = convergence("dpm_solver_2s_fixed", [8, 16, 32], r1=1.0 / 3.0)
    assert abs(fit_order([8, 16, 32], errs) - 2.0) < 0.3, errs
    tab = engine.singlestep_tables(VPLinear(), "eps", jnp.array([0.9, 0.5]), (1.0 / 3.0,))
    np.testing.assert_allclose(tab.ratio, 1.0 / 3.0, rtol=1e-12)


def test_registry():
    expected = {"dpm_solver_1": (1, 1, "singlestep"), "dpm_solver_2s": (2, 1, "singlestep"),
                "dpm_solver_3s": (3, 1, "singlestep"),
                "dpm_solver_2s_fixed": (2, 2, "singlestep_fixed"),
                "dpm_solver_3s_fixed": (3, 3, "singlestep_fixed"),
                "dpm_solver_2m": (2, 1, "multistep"), "dpm_solver_3m": (3, 1, "multistep")}
    for name, (order, k, method) in expected.items():
        info = registry.sampler_info(name)
        assert info.fn is dpm_solver and not info.stochastic
        assert info.order == order and info.options == {"order": order, "method": method}
        assert info.nfe(10) == 10 * k and info.steps_for_nfe(31) == 31 // k


# ---- DPM-Solver-fast ---------------------------------------------------------------------

def _paper_fast_orders(nfe: int, order: int) -> list[int]:
    """Lu et al. (2022a), Sec. 3.4, as written there for order 3: K = floor(NFE/3) + 1
    steps; NFE mod 3 = 0: K - 2 DPM-Solver-3 steps, then one DPM-Solver-2 and one
    DPM-Solver-1; mod 3 = 1: K - 1 DPM-Solver-3, one DPM-Solver-1; mod 3 = 2: K - 1
    DPM-Solver-3, one DPM-Solver-2. Order 2 (the same idea, as in the authors' code):
    NFE/2 DPM-Solver-2 steps, plus one DPM-Solver-1 step when NFE is odd."""
    if order == 3:
        k = nfe // 3 + 1
        if nfe % 3 == 0:
            return [3] * (k - 2) + [2, 1]
        if nfe % 3 == 1:
            return [3] * (k - 1) + [1]
        return [3] * (k - 1) + [2]
    if order == 2:
        return [2] * (nfe // 2) + [1] * (nfe % 2)
    return [1] * nfe


@pytest.mark.parametrize("order", [1, 2, 3])
def test_fast_orders_follow_the_paper(order):
    for nfe in range(1, 31):
        got = engine.singlestep_fast_orders(nfe, order)
        assert isinstance(got, tuple) and list(got) == _paper_fast_orders(nfe, order), nfe
        assert sum(got) == nfe and max(got) <= order
    assert engine.singlestep_fast_orders(np.int64(5), 3) == (3, 2)


def test_fast_orders_bad_input_raises():
    with pytest.raises(ValueError, match=r"unknown order 4; valid choices: \[1, 2, 3\]"):
        engine.singlestep_fast_orders(10, 4)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="nfe must be an integer >= 1"):
            engine.singlestep_fast_orders(bad, 3)


def _fast_by_the_paper(model, p, x, ts):
    """DPM-Solver-fast of order 3 on the evaluation grid ``ts``, transcribed from the
    paper's Algorithms 1 (DPM-Solver-2) and 2 (DPM-Solver-3) with general r1 < r2, in
    float64 numpy: step j spans the grid points c_j..c_j + k_j (c = cumulative orders)
    and takes its stages at the grid points in between. Returns every state (the outer
    states and the stages u_1, u_2), in time order."""
    ts = np.asarray(ts)
    lam = np.asarray(ei.half_log_snr(p, ts))
    al, sg = np.asarray(p.alpha(ts)), np.asarray(p.sigma(ts))

    def eps(x, i):
        return np.asarray(model(jnp.asarray(x), jnp.full((x.shape[0],), ts[i])))

    states, c = [np.asarray(x)], 0
    for k in _paper_fast_orders(len(ts) - 1, 3):
        s, t, xs = c, c + k, states[-1]
        h = lam[t] - lam[s]
        e_s = eps(xs, s)
        ddim = al[t] / al[s] * xs - sg[t] * np.expm1(h) * e_s
        if k == 1:
            states.append(ddim)
        else:
            r1 = (lam[s + 1] - lam[s]) / h
            u1 = al[s + 1] / al[s] * xs - sg[s + 1] * np.expm1(r1 * h) * e_s
            d1 = eps(u1, s + 1) - e_s
            if k == 2:
                states += [u1, ddim - sg[t] / (2 * r1) * np.expm1(h) * d1]
            else:
                r2 = (lam[s + 2] - lam[s]) / h
                u2 = (al[s + 2] / al[s] * xs - sg[s + 2] * np.expm1(r2 * h) * e_s
                      - sg[s + 2] * r2 / r1 * (np.expm1(r2 * h) / (r2 * h) - 1.0) * d1)
                d2 = eps(u2, s + 2) - e_s
                states += [u1, u2, ddim - sg[t] / r2 * (np.expm1(h) / h - 1.0) * d2]
        c = t
    return np.stack(states)


@pytest.mark.parametrize("nfe", [1, 2, 3, 4, 5, 6, 10])
def test_fast_matches_a_transcription_of_the_paper(x64, nfe):
    """On a time-uniform grid (the reference implementation's default), including the
    stage states in the trajectory; NFE = the grid's N."""
    p = VPLinear()
    x = jnp.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])
    ts = schedules.uniform_time(p, nfe)
    out = jax.jit(lambda x: registry.get_sampler("dpm_solver_3s")(
        smooth_sin_model, p, x, ts, return_trajectory=True))(x)
    ref = _fast_by_the_paper(smooth_sin_model, p, x, ts)
    assert out.nfe == nfe and out.trajectory.shape == ref.shape
    np.testing.assert_allclose(out.trajectory, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out.trajectory[-1], out.x)


def budget_error(name: str, budget: int, **options) -> tuple[float, int]:
    """RMS endpoint error and NFE of registered ``name`` for an NFE budget on the full
    [t_min, t_max] oracle problem with a time-uniform grid of steps_for_nfe(budget)
    steps (the setting of issue 15: the reference implementations' default grid)."""
    exact, p, x, ref = full_range_problem()
    info = registry.sampler_info(name)
    ts = schedules.uniform_time(p, info.steps_for_nfe(budget))
    out = jax.jit(lambda x: info(exact(p), p, x, ts, **options))(x)
    return rms(out.x, ref), out.nfe


# Measured RMS errors (64 samples), new default / old fixed-order default (which spent 3
# (3s) and 4 (2s) of 5 evaluations, 9 of 10): NFE 5: 3s 1.31 / 13.8 (10.5x), 2s
# 0.120 / 2.62 (22x); NFE 10: 3s 0.070 / 0.100 (1.43x). Not asserted: 2s at NFE 10, where
# the fast rule takes the same five steps as before and the reference's stage placement
# (the grid's time midpoint rather than the lambda midpoint) gives 0.46 / 0.30.
@pytest.mark.parametrize("name,budget,margin", [
    ("dpm_solver_3s", 5, 5.0), ("dpm_solver_2s", 5, 10.0), ("dpm_solver_3s", 10, 1.2)])
def test_fast_default_beats_fixed_order_at_low_nfe(x64, name, budget, margin):
    new, new_nfe = budget_error(name, budget)
    old, old_nfe = budget_error(name + "_fixed", budget)
    assert new_nfe == budget >= old_nfe
    assert new * margin < old, (name, budget, new, old)
