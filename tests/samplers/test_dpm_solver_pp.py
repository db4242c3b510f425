"""DPM-Solver++ (data prediction) and SDE-DPM-Solver++(2M): measured convergence orders
on the GMM oracle, every process and prediction kind against the closed-form Gaussian
PF-ODE, dynamic thresholding, lower_order_final, DPM-Solver++-fast (equal to chained
fixed-order steps, more accurate than fixed orders at low NFE), the SDE sampler's
distribution (with a negative control), exact NFE and option validation (jit/vmap/grad
and dtypes: test_conformance.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import (
    HostModel,
    convergence,
    convergence_problem,
    fit_order,
    full_range_problem,
    mixture,
    rms,
    smooth_sin_model,
)

from diffax import predictions
from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.metrics.sliced_wasserstein import sliced_wasserstein
from diffax.processes import PROCESSES, VPLinear, get_process
from diffax.samplers import dpm_solver_engine as engine
from diffax.samplers import exponential_integrators as ei
from diffax.samplers import registry, schedules
from diffax.samplers.dpm_solver_pp import dpm_solver_pp, dynamic_threshold, sde_dpm_solver_pp

# name: (steps N, evaluations per step). DPM-Solver++-fast ("_2s", "_3s") spends N
# evaluations on N steps; order-3 budgets N = 2 (mod 3) end with a second-order step, so
# no first-order step caps the asymptotic order.
CONVERGENCE = {
    "dpm_solver++_2s": ([16, 32, 64], 1),
    "dpm_solver++_3s": ([23, 47, 95], 1),
    "dpm_solver++_2s_fixed": ([8, 16, 32], 2),
    "dpm_solver++_3s_fixed": ([8, 16, 32], 3),
    "dpm_solver++_2m": ([16, 32, 64], 1),
    "dpm_solver++_3m": ([16, 32, 64], 1),
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
    assert nfes == [k * n for n in ns] == [info.nfe(n) for n in ns]
    assert calls == sum(nfes)  # model calls counted at runtime
    assert errs[-1] < {2: 5e-3, 3: 1e-4}[info.order], errs


def test_first_order_is_ddim_and_equals_dpm_solver_1(x64):
    """DPM-Solver++(1) and DPM-Solver-1 are both DDIM: the same map up to rounding."""
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(0), (8, 2), jnp.float64)
    ts = schedules.uniform_log_snr(p, 7)
    a, b = jax.jit(lambda x: [registry.get_sampler(n)(smooth_sin_model, p, x, ts).x
                              for n in ("dpm_solver++_1", "dpm_solver_1")])(x)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---- every process and prediction kind ----------------------------------------------------

_VARIANTS = ["dpm_solver++_1", "dpm_solver++_2s", "dpm_solver++_3s", "dpm_solver++_2m",
             "dpm_solver++_3m", "dpm_solver++_2s_fixed", "dpm_solver++_3s_fixed"]
_CASES = [(p, predictions.KINDS[(i + 1) % 5], _VARIANTS[(i + 4) % 7])
          for i, p in enumerate(PROCESSES.names("gaussian"))]
_NFE = {1: 480, 2: 96, 3: 48}
_BOUND = {1: 3e-2, 2: 1e-2, 3: 2e-3}  # observed errors are below a third of these


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
        out = info(model, process, x, schedules.uniform_log_snr(process, n), prediction=kind)
        exact = gaussian_pf_ode_solution(mean, cov, process, x, process.t_max, process.t_min)
        return out, jnp.max(jnp.abs(out.x - exact))

    out, err = run(x)
    assert float(err) < _BOUND[info.order], (process_name, kind, name, float(err))
    assert out.nfe == _NFE[info.order]


# ---- dynamic thresholding -----------------------------------------------------------------

def test_dynamic_threshold_values(x64):
    x0 = jnp.stack([jnp.linspace(-3.0, 3.0, 201), jnp.linspace(-0.5, 0.5, 201)])
    out = np.asarray(jax.jit(dynamic_threshold)(x0))
    # Example 0: s = 99.5% quantile of |x0| (linear interpolation) > 1: clip to [-s, s], / s.
    s = np.quantile(np.abs(np.asarray(x0[0])), 0.995)
    np.testing.assert_allclose(out[0], np.clip(np.asarray(x0[0]), -s, s) / s, rtol=1e-14)
    assert np.abs(out[0]).max() == pytest.approx(1.0)
    # Example 1 already inside [-1, 1]: s = max_val = 1 leaves it unchanged.
    np.testing.assert_array_equal(out[1], x0[1])
    # max_val sets the data range: values inside [-max_val, max_val] pass unchanged.
    out3 = jax.jit(lambda x: dynamic_threshold(x, 0.995, 3.5))(x0)
    np.testing.assert_allclose(out3, x0, rtol=1e-15)


def test_thresholding_in_the_sampler(x64):
    """Thresholding acts on every data prediction: with a bound far above the data it
    changes nothing; with max_val = 1 the samples of the 3-mode GMM (spread over
    [-2, 2]) land in [-1, 1] up to the extrapolation of the last multistep step."""
    exact, p, t0, t1, x, ref = convergence_problem()
    model = exact(p)
    ts = schedules.uniform_log_snr(p, 12, t0, t1)
    plain, wide, tight = jax.jit(lambda x: [
        dpm_solver_pp(model, p, x, ts, order=2).x,
        dpm_solver_pp(model, p, x, ts, order=2, thresholding=True, threshold_max=50.0).x,
        dpm_solver_pp(model, p, x, ts, order=2, thresholding=True, threshold_max=1.0).x])(x)
    np.testing.assert_allclose(wide, plain, rtol=1e-13, atol=1e-13)
    assert float(jnp.max(jnp.abs(plain))) > 1.5
    # Slightly above 1: the 2M extrapolation (1 + 1/(2r)) x0_i - x0_{i-1}/(2r) of two
    # thresholded predictions, plus the remaining noise (sigma(t_end) = 0.011).
    assert float(jnp.max(jnp.abs(tight))) < 1.05


def test_thresholding_is_per_example_under_vmap(x64):
    """Dynamic thresholding takes its quantile per example: vmapping over groups of
    examples gives the batched result."""
    p = VPLinear()
    sampler = registry.get_sampler("dpm_solver++_3m", thresholding=True, threshold_max=2.0)
    x = 3.0 * p.prior_sample(jax.random.PRNGKey(0), (8, 2), jnp.float64)
    ts = schedules.uniform_time(p, 6)
    out, vm = jax.jit(lambda x: (sampler(smooth_sin_model, p, x, ts).x, jax.vmap(
        lambda xi: sampler(smooth_sin_model, p, xi, ts).x)(x.reshape(2, 4, 2))))(x)
    np.testing.assert_allclose(vm.reshape(8, 2), out, rtol=1e-12, atol=1e-12)


# ---- lower_order_final ---------------------------------------------------------------------

def test_lower_order_final_ends_with_a_ddim_step(x64):
    """With N < 10 steps the last multistep step is first order (DPM-Solver++(1)) and
    the one before second order; with N >= 10 the option changes nothing."""
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(0), (6, 2), jnp.float64)
    ts6, ts12 = schedules.uniform_log_snr(p, 6), schedules.uniform_log_snr(p, 12)

    @jax.jit
    def run(x):
        lof = dpm_solver_pp(smooth_sin_model, p, x, ts6, order=3, return_trajectory=True)
        no = dpm_solver_pp(smooth_sin_model, p, x, ts6, order=3, lower_order_final=False)
        ddim = dpm_solver_pp(smooth_sin_model, p, lof.trajectory[-2], ts6[-2:], order=1)
        big = [dpm_solver_pp(smooth_sin_model, p, x, ts12, order=3, lower_order_final=f).x
               for f in (True, False)]
        return lof, no.x, ddim.x, big

    lof, no, ddim, (big_true, big_false) = run(x)
    np.testing.assert_allclose(lof.x, ddim, rtol=1e-13)
    assert float(jnp.max(jnp.abs(lof.x - no))) > 1e-6
    np.testing.assert_array_equal(big_true, big_false)


# ---- DPM-Solver++-fast ---------------------------------------------------------------------

@pytest.mark.parametrize("order,nfe", [(3, 6), (3, 10), (2, 7)])
def test_fast_equals_chained_fixed_order_steps(x64, order, nfe):
    """method="singlestep" on an N-step grid = singlestep_fast_orders(N) fixed-order
    steps between the grid points at the cumulative orders, each with its stages at the
    grid points in between (r_j from the grid's lambdas); the trajectory holds their end
    points and, at the first stage time, the DPM-Solver++(1) stage; N model evaluations."""
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(2), (5, 2), jnp.float64)
    ts = schedules.uniform_time(p, nfe)
    lam = np.asarray(ei.half_log_snr(p, ts))
    calls = []

    def model(x, t):
        calls.append(1)  # counted at trace time: once per call site
        return smooth_sin_model(x, t)

    fast = dpm_solver_pp(model, p, x, ts, order=order, method="singlestep",
                         return_trajectory=True)
    assert fast.nfe == nfe and fast.trajectory.shape == (nfe + 1, 5, 2)
    orders = engine.singlestep_fast_orders(nfe, order)
    y, c = x, 0
    for k in orders:
        r = {f"r{j}": (lam[c + j] - lam[c]) / (lam[c + k] - lam[c]) for j in range(1, k)}
        if k > 1:
            u1 = dpm_solver_pp(smooth_sin_model, p, y, ts[np.array([c, c + 1])], order=1).x
            np.testing.assert_allclose(fast.trajectory[c + 1], u1, rtol=1e-11, atol=1e-12)
        y = dpm_solver_pp(smooth_sin_model, p, y, ts[np.array([c, c + k])], order=k,
                          method="singlestep_fixed", **r).x
        c += k
        # r_j recomputed through t(lambda) in the fixed-order path: equal up to rounding
        np.testing.assert_allclose(fast.trajectory[c], y, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(fast.trajectory[-1], fast.x)
    # one scan per run of equal orders, each tracing its k model calls once
    assert len(calls) == sum(k for k, _ in itertools.groupby(orders))


# Measured RMS errors (64 samples, time-uniform grid), new default / old fixed-order
# default (3 and 4 of 5 evaluations spent; 9 and 10 of 10): NFE 5: 3s 0.119 / 0.270
# (2.3x), 2s 0.257 / 0.433 (1.7x); NFE 10: 3s 0.0676 / 0.0686 (1.015x: the tenth
# evaluation is one final DDIM step), 2s 0.0718 / 0.169 (2.35x: the same five steps,
# stages at the grid's time midpoints instead of the lambda midpoints).
@pytest.mark.parametrize("name,budget,margin", [
    ("dpm_solver++_3s", 5, 1.5), ("dpm_solver++_2s", 5, 1.3),
    ("dpm_solver++_3s", 10, 1.0), ("dpm_solver++_2s", 10, 1.5)])
def test_fast_default_beats_fixed_order_at_low_nfe(x64, name, budget, margin):
    exact, p, x, ref = full_range_problem()
    errs = []
    for variant in (name, name + "_fixed"):
        info = registry.sampler_info(variant)
        ts = schedules.uniform_time(p, info.steps_for_nfe(budget))
        out = jax.jit(lambda x: info(exact(p), p, x, ts))(x)
        errs.append((rms(out.x, ref), out.nfe))
    (new, new_nfe), (old, old_nfe) = errs
    assert new_nfe == budget >= old_nfe
    assert new * margin < old, (name, budget, new, old)


# ---- SDE-DPM-Solver++(2M) -----------------------------------------------------------------

def test_sde_samples_match_the_data_distribution_and_negative_control_fails(x64):
    """From exact samples of p_{t_max}, 100 steps of SDE-DPM-Solver++(2M) must produce
    the exact marginal at t_min (sliced W2 against exact samples, n = 1000; the value
    for two independent exact sets is ~0.05). A model off by a factor 1.3 must fail."""
    gmm = mixture()
    exact = HostModel(gmm)
    p = VPLinear()
    n_samples, n = 1000, 100
    kx, kd, ks, kw = jax.random.split(jax.random.PRNGKey(0), 4)
    x = gmm.sample_marginal(kx, n_samples, p.t_max, p)
    target = gmm.sample_marginal(kd, n_samples, p.t_min, p)
    ts = schedules.uniform_log_snr(p, n)
    tol = 0.09

    run = jax.jit(lambda x, k: [sde_dpm_solver_pp(exact(p, scale=s), p, x, ts, key=k)
                                for s in (1.0, 1.3)])
    exact.calls = 0
    good, bad = run(x, ks)
    jax.effects_barrier()
    assert good.nfe == n == registry.sampler_info("sde_dpm_solver++_2m").nfe(n)
    assert exact.calls == 2 * n
    sw_good = float(sliced_wasserstein(kw, good.x, target))
    sw_bad = float(sliced_wasserstein(kw, bad.x, target))
    assert sw_good < tol < sw_bad, (sw_good, sw_bad)
    assert sw_bad > 1.5 * tol


def test_sde_eta_zero_is_dpm_solver_pp_2m_and_noise_depends_on_key(x64):
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(0), (8, 2), jnp.float64)
    ts = schedules.uniform_log_snr(p, 8)

    @jax.jit
    def run(x):
        k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
        return (sde_dpm_solver_pp(smooth_sin_model, p, x, ts, key=k1, eta=0.0).x,
                dpm_solver_pp(smooth_sin_model, p, x, ts, order=2).x,
                sde_dpm_solver_pp(smooth_sin_model, p, x, ts, key=k1).x,
                sde_dpm_solver_pp(smooth_sin_model, p, x, ts, key=k2).x)

    ode, pp2m, s1, s2 = run(x)
    np.testing.assert_allclose(ode, pp2m, rtol=1e-12, atol=1e-12)
    assert float(jnp.max(jnp.abs(s1 - s2))) > 1e-3


# ---- options and registry ------------------------------------------------------------------

def test_bad_options_raise():
    p = VPLinear()
    x = jnp.ones((2, 2))
    ts = schedules.uniform_time(p, 4)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match=r"unknown order 0; valid choices: \[1, 2, 3\]"):
        dpm_solver_pp(smooth_sin_model, p, x, ts, order=0)
    with pytest.raises(ValueError, match="unknown method 'single'.*singlestep_fixed"):
        dpm_solver_pp(smooth_sin_model, p, x, ts, method="single")
    with pytest.raises(ValueError, match=r"threshold_ratio must be finite and in \(0, 1\]"):
        dpm_solver_pp(smooth_sin_model, p, x, ts, thresholding=True, threshold_ratio=1.5)
    with pytest.raises(ValueError, match="threshold_max must be finite and > 0"):
        dpm_solver_pp(smooth_sin_model, p, x, ts, thresholding=True, threshold_max=0.0)
    with pytest.raises(ValueError, match=r"unknown order 3; valid choices: \[1, 2\]"):
        sde_dpm_solver_pp(smooth_sin_model, p, x, ts, key=key, order=3)
    with pytest.raises(ValueError, match="eta must be finite and >= 0"):
        sde_dpm_solver_pp(smooth_sin_model, p, x, ts, key=key, eta=-1.0)


def test_registry():
    expected = {"dpm_solver++_1": (1, 1, "singlestep"), "dpm_solver++_2s": (2, 1, "singlestep"),
                "dpm_solver++_3s": (3, 1, "singlestep"),
                "dpm_solver++_2s_fixed": (2, 2, "singlestep_fixed"),
                "dpm_solver++_3s_fixed": (3, 3, "singlestep_fixed"),
                "dpm_solver++_2m": (2, 1, "multistep"), "dpm_solver++_3m": (3, 1, "multistep")}
    for name, (order, k, method) in expected.items():
        info = registry.sampler_info(name)
        assert info.fn is dpm_solver_pp and not info.stochastic
        assert info.order == order and info.options == {"order": order, "method": method}
        assert info.nfe(10) == 10 * k
    info = registry.sampler_info("sde_dpm_solver++_2m")
    assert info.fn is sde_dpm_solver_pp and info.stochastic and info.order is None
    assert info.options == {"order": 2} and info.nfe(10) == 10
