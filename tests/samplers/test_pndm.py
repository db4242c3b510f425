"""PNDM family (S-PNDM, F-PNDM, PLMS, iPNDM): measured convergence orders on the GMM
oracle, every process and prediction kind against the closed-form Gaussian PF-ODE, exact
NFE and option validation (jit/vmap/grad and dtypes: test_conformance.py)."""

import jax
import jax.numpy as jnp
import pytest
from oracle import fit_order, mixture, prior_samples, reference_endpoint, smooth_sin_model

import diffax.samplers.pndm as pndm_mod
from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.predictions import KINDS
from diffax.processes import EDM, PROCESSES, VPLinear, get_process
from diffax.samplers import registry, schedules
from diffax.samplers.pndm import pndm, pndm_nfe

VARIANTS = ["s_pndm", "f_pndm", "plms", "ipndm"]
_REFS = {}


def _reference(name, gmm, process, x):
    """Tight diffrax solve, computed once per module (the callers run under x64)."""
    if name not in _REFS:
        _REFS[name] = reference_endpoint(gmm, process, x, process.t_max, process.t_min)
    return _REFS[name]


def _rms(a, b):
    return float(jnp.sqrt(jnp.mean((a - b) ** 2)))


def _errors(variant, process, schedule, ns, name):
    """RMS endpoint errors for each N in ``ns`` (one compilation for all of them)."""
    gmm = mixture()
    x = prior_samples(process, 64)
    ref = _reference(name, gmm, process, x)
    model = gmm.model_fn("eps", process)
    run = jax.jit(lambda x: [pndm(model, process, x, schedule(process, n), variant=variant).x
                             for n in ns])
    return [_rms(y, ref) for y in run(x)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_second_order_on_log_snr_grid(x64, variant):
    """On a grid that is not uniform in the noise level s = sigma/alpha (here uniform
    log-SNR on VP-linear, s geometric) the fixed Adams-Bashforth weights are off by
    O(h) and every variant is globally second order (module docstring of pndm)."""
    ns = [32, 64, 128]
    errs = _errors(variant, VPLinear(), schedules.uniform_log_snr, ns, "vp_log_snr")
    # Order is fitted against the step count N (h ~ 1/N); NFE = N + const for the
    # warm-up, which would bias a fit against NFE at these N.
    order = fit_order(ns, errs)
    assert abs(order - 2.0) < 0.3, (variant, order, errs)
    assert registry.sampler_info(variant).order == 2
    assert errs[-1] < 1e-3


@pytest.mark.parametrize("variant,expected", [("f_pndm", 4.0), ("ipndm", 2.0)])
def test_warm_up_decides_the_order_on_uniform_noise_level_grid(x64, variant, expected):
    """For the EDM process s = t, so a uniform-t grid is uniform in s and the
    t-midpoint is the s-midpoint. F-PNDM's pseudo RK4 warm-up + AB4 are then the
    classical 4th-order methods applied to dy/ds = eps (measured 3.91), while iPNDM's
    plain DDIM first step (local error O(h^2)) caps it at 2 (measured 2.07)."""
    ns = [128, 256, 512]
    errs = _errors(variant, EDM(t_min=0.5, t_max=3.0), schedules.uniform_time, ns,
                   "edm_uniform")
    order = fit_order(ns, errs)
    assert abs(order - expected) < 0.3, (variant, order, errs)


# Each process gets one prediction kind and one variant (rotating), so every process,
# every kind and every variant is exercised against an exact answer.
_CASES = [(p, KINDS[i % len(KINDS)], VARIANTS[i % len(VARIANTS)])
          for i, p in enumerate(PROCESSES.names("gaussian"))]


@pytest.mark.parametrize("process_name,kind,variant", _CASES)
def test_every_process_and_kind_matches_closed_form(x64, process_name, kind, variant):
    process = get_process(process_name)
    mean = jnp.array([1.0, -0.5])
    cov = jnp.array([[0.5, 0.2], [0.2, 0.3]])
    model = GaussianMixture.gaussian(mean, cov).model_fn(kind, process)
    x = prior_samples(process, 16)

    @jax.jit
    def run(x):
        ts = schedules.uniform_log_snr(process, 40)
        out = pndm(model, process, x, ts, prediction=kind, variant=variant)
        exact = gaussian_pf_ode_solution(mean, cov, process, x, process.t_max, process.t_min)
        return out, jnp.max(jnp.abs(out.x - exact))

    out, err = run(x)
    # Second order at N = 40 on the whole [t_min, t_max]: errors are 3e-3 .. 8e-3 for
    # data of unit scale (a wrong coefficient gives O(1) errors).
    assert float(err) < 1.5e-2, (process_name, kind, variant, float(err))
    assert out.nfe == pndm_nfe(variant, 40)


def _counting_model():
    """A cheap eps-model whose runtime calls are counted with jax.debug.callback."""
    calls = []

    def model(x, t):
        jax.debug.callback(lambda: calls.append(1))
        return smooth_sin_model(x, t)

    return model, calls


@pytest.mark.parametrize("variant,n", [(v, 6) for v in VARIANTS] + [("f_pndm", 4)])
def test_nfe_is_exact(x64, variant, n):
    model, calls = _counting_model()
    p = VPLinear()
    out = jax.jit(lambda x: pndm(model, p, x, schedules.uniform_time(p, n),
                                 variant=variant))(jnp.ones((3, 2)))
    jax.block_until_ready(out.x)
    jax.effects_barrier()
    expected = {"s_pndm": n + 1, "plms": n + 1, "ipndm": n,
                "f_pndm": 4 * min(n, 3) + max(n - 3, 0)}[variant]
    assert len(calls) == out.nfe == expected == registry.sampler_info(variant).nfe(n)


@pytest.mark.parametrize("n", [1, 3])
def test_f_pndm_rejects_fewer_than_four_steps(n):
    p = VPLinear()
    with pytest.raises(ValueError, match="at least 4 steps"):
        pndm(smooth_sin_model, p, jnp.ones((3, 2)), schedules.uniform_time(p, n),
             variant="f_pndm")


def test_bad_options_raise():
    p = VPLinear()
    model = lambda x, t: x  # noqa: E731
    x = jnp.ones((2, 2))
    with pytest.raises(ValueError, match="unknown variant 'pndm4'.*valid choices"):
        pndm(model, p, x, schedules.uniform_time(p, 4), variant="pndm4")
    with pytest.raises(ValueError, match="unknown variant"):
        pndm_nfe("f-pndm", 4)


def test_registry():
    for name in VARIANTS:
        info = registry.sampler_info(name)
        assert info.fn is pndm and info.options == {"variant": name}
        assert info.order == 2 and not info.stochastic
    assert registry.sampler_info("f_pndm").nfe(10) == 19
    assert registry.sampler_info("f_pndm").steps_for_nfe(19) == 10
    assert registry.sampler_info("plms").nfe(10) == 11
    assert registry.sampler_info("ipndm").nfe(10) == 10
    assert pndm_mod.AB_WEIGHTS[4] == (55 / 24, -59 / 24, 37 / 24, -9 / 24)
    for w in pndm_mod.AB_WEIGHTS.values():
        assert abs(sum(w) - 1.0) < 1e-15
