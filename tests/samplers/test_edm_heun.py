"""EDM Heun samplers (Karras et al., 2022, Algorithms 1 and 2): second order, exact
agreement with hand transcriptions of the algorithms for the EDM process, churn-free
equals deterministic, distribution of the stochastic sampler with a negative control,
every process/prediction kind, exact NFE, option validation (jit/vmap/grad and dtypes:
test_conformance.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import fit_order, mixture, prior_samples, reference_endpoint, smooth_sin_model

from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.metrics import sliced_wasserstein
from diffax.predictions import KINDS
from diffax.processes import EDM, PROCESSES, VPLinear, get_process, karras_sigmas
from diffax.samplers import registry, schedules
from diffax.samplers.edm_heun import edm_heun, edm_heun_stochastic, heun_nfe


_REF = []


def _rms(a, b):
    return float(jnp.sqrt(jnp.mean((a - b) ** 2)))


@pytest.mark.parametrize("final_euler", [False, True])
def test_second_order(x64, final_euler):
    """Heun in EDM's scaled coordinates, VP-linear, uniform log-SNR grid.
    A final Euler step adds one O(h^2) local error: still second order."""
    gmm = mixture()
    p = VPLinear()
    x = prior_samples(p, 64)
    if not _REF:  # tight diffrax solve, once per module
        _REF.append(reference_endpoint(gmm, p, x, p.t_max, p.t_min))
    ref = _REF[0]
    model = gmm.model_fn("eps", p)
    ns = [16, 32, 64]
    run = jax.jit(lambda x: [edm_heun(model, p, x, schedules.uniform_log_snr(p, n),
                                      final_euler=final_euler).x for n in ns])
    errs = [_rms(y, ref) for y in run(x)]
    order = fit_order(ns, errs)
    assert abs(order - 2.0) < 0.3, (order, errs)
    assert errs[-1] < 5e-3


def _algorithm_1(denoiser, x, sigmas, final_euler=False):
    """Karras et al. (2022), Algorithm 1 with sigma(t) = t, s(t) = 1, as printed."""
    n = len(sigmas) - 1
    for i in range(n):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        d = (x - denoiser(x, t_cur)) / t_cur
        x_next = x + (t_next - t_cur) * d
        if not (final_euler and i == n - 1):
            d_prime = (x_next - denoiser(x_next, t_next)) / t_next
            x_next = x + (t_next - t_cur) * (0.5 * d + 0.5 * d_prime)
        x = x_next
    return x


def _algorithm_2(denoiser, x, sigmas, keys, s_churn, s_min, s_max, s_noise):
    """Karras et al. (2022), Algorithm 2, as printed (noise eps_i = S_noise * xi_i
    with xi_i drawn from the sampler's per-step keys)."""
    n = len(sigmas) - 1
    for i in range(n):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_min <= t_cur <= s_max else 0.0
        t_hat = t_cur + gamma * t_cur
        eps = s_noise * jax.random.normal(keys[i], x.shape, x.dtype)
        x_hat = x + math.sqrt(t_hat**2 - t_cur**2) * eps
        d = (x_hat - denoiser(x_hat, t_hat)) / t_hat
        x_next = x_hat + (t_next - t_hat) * d
        d_prime = (x_next - denoiser(x_next, t_next)) / t_next
        x = x_hat + (t_next - t_hat) * (0.5 * d + 0.5 * d_prime)
    return x


def test_matches_algorithms_1_and_2_on_edm(x64):
    gmm = mixture()
    p = EDM()
    model = gmm.model_fn("x0", p)
    d_jit = jax.jit(lambda x, t: model(x, jnp.full((x.shape[0],), t)))
    sig = karras_sigmas(19, p.t_min, p.t_max)  # 18 steps, Karras et al. eq. (5)
    sigmas = [float(s) for s in sig]
    x = prior_samples(p, 32)
    key = jax.random.PRNGKey(7)
    churn = dict(s_churn=30.0, s_min=0.05, s_max=50.0, s_noise=1.007)

    @jax.jit
    def run(x):
        return (edm_heun(model, p, x, sig, prediction="x0").x,
                edm_heun(model, p, x, sig, prediction="x0", final_euler=True).x,
                edm_heun_stochastic(model, p, x, sig, prediction="x0", key=key, **churn).x)

    det, det_euler, sto = run(x)
    np.testing.assert_allclose(det, _algorithm_1(d_jit, x, sigmas), rtol=0, atol=1e-12)
    np.testing.assert_allclose(det_euler, _algorithm_1(d_jit, x, sigmas, final_euler=True),
                               rtol=0, atol=1e-12)
    keys = jax.random.split(key, 18)
    expect = _algorithm_2(d_jit, x, sigmas, keys, **churn)
    # t_hat goes through t_from_log_snr(-2 log sigma_hat) = exp(log sigma_hat): ulp-level.
    np.testing.assert_allclose(sto, expect, rtol=0, atol=1e-10)
    assert float(jnp.max(jnp.abs(sto - det))) > 1e-2  # the churn did something


def test_zero_churn_equals_deterministic_exactly(x64):
    gmm = mixture()
    p = VPLinear()
    model = gmm.model_fn("v", p)
    x = prior_samples(p, 16)

    @jax.jit
    def run(x, key):
        ts = schedules.karras(p, 12)
        return (edm_heun(model, p, x, ts, prediction="v").x,
                edm_heun_stochastic(model, p, x, ts, prediction="v", key=key, s_churn=0.0).x,
                # churn only outside the noise range of the grid: no step is churned
                edm_heun_stochastic(model, p, x, ts, prediction="v", key=key, s_churn=50.0,
                                    s_min=1e3, s_max=1e4).x)

    det, sto0, sto_off = run(x, jax.random.PRNGKey(0))
    # bitwise: s_churn=0 returns the very same computation as edm_heun, in one program
    np.testing.assert_array_equal(sto0, det)
    # Zero churn on every step through the churn code path: the same arithmetic in a
    # differently fused XLA program, equal to rounding.
    np.testing.assert_allclose(sto_off, det, rtol=0, atol=1e-13)


def test_stochastic_matches_data_distribution_and_negative_controls(x64):
    """With churn on every step (gamma = sqrt(2) - 1) and 64 steps the samples follow
    p_{t_min} (sliced W2 at the two-sample noise floor); noise inflated by S_noise = 1.5,
    or a model scaled by 1.3, fails the same tolerance."""
    gmm = mixture()
    p = VPLinear()
    n = 2048
    x = prior_samples(p, n, seed=1)
    ts = schedules.karras(p, 64)
    base = gmm.model_fn("eps", p)

    @jax.jit
    def run(x, key, s_noise, scale):
        def model(x, t):
            return scale * base(x, t)

        return edm_heun_stochastic(model, p, x, ts, key=key, s_churn=40.0,
                                   s_noise=s_noise).x

    key = jax.random.PRNGKey(2)
    exact = gmm.sample_marginal(jax.random.PRNGKey(3), n, p.t_min, p)
    exact2 = gmm.sample_marginal(jax.random.PRNGKey(4), n, p.t_min, p)
    k_sw = jax.random.PRNGKey(5)

    def sw(y):
        return float(sliced_wasserstein(k_sw, y, exact))

    floor = sw(exact2)
    good = sw(run(x, key, 1.0, 1.0))
    noisy = sw(run(x, key, 1.5, 1.0))
    scaled = sw(run(x, key, 1.0, 1.3))
    # Measured: floor 0.032, good 0.035, S_noise 1.5: 0.33, model x 1.3: 0.11.
    tol = 0.07
    assert floor < 0.05, floor
    assert good < tol, (good, floor)
    assert noisy > tol, (noisy, good, floor)
    assert scaled > tol, (scaled, good, floor)


_CASES = [(p, KINDS[i % len(KINDS)], bool(i % 2))
          for i, p in enumerate(PROCESSES.names("gaussian"))]


@pytest.mark.parametrize("process_name,kind,final_euler", _CASES)
def test_every_process_and_kind_matches_closed_form(x64, process_name, kind, final_euler):
    process = get_process(process_name)
    mean = jnp.array([1.0, -0.5])
    cov = jnp.array([[0.5, 0.2], [0.2, 0.3]])
    model = GaussianMixture.gaussian(mean, cov).model_fn(kind, process)
    x = prior_samples(process, 16)

    @jax.jit
    def run(x):
        ts = schedules.karras(process, 64)
        out = edm_heun(model, process, x, ts, prediction=kind, final_euler=final_euler)
        exact = gaussian_pf_ode_solution(mean, cov, process, x, process.t_max, process.t_min)
        return out, jnp.max(jnp.abs(out.x - exact))

    out, err = run(x)
    # Second order at N = 64 on the whole [t_min, t_max] (Karras grid): 1e-3 .. 1.3e-2
    # for data of unit scale; a wrong coefficient gives O(1) errors.
    assert float(err) < 2e-2, (process_name, kind, float(err))
    assert out.nfe == heun_nfe(64, final_euler)


@pytest.mark.parametrize("stochastic", [False, True])
def test_final_euler_nfe_is_exact(x64, stochastic):
    """final_euler (not the registered default): 2N - 1 model calls, counted at runtime,
    and the trajectory ends with the returned state."""
    p = VPLinear()
    calls = []

    def model(x, t):
        jax.debug.callback(lambda: calls.append(1))
        return smooth_sin_model(x, t)

    sampler = edm_heun_stochastic if stochastic else edm_heun
    kw = {"key": jax.random.PRNGKey(0)} if stochastic else {}
    out = jax.jit(lambda x: sampler(model, p, x, schedules.uniform_time(p, 5), final_euler=True,
                                    return_trajectory=True, **kw))(prior_samples(p, 8))
    jax.block_until_ready(out.x)
    jax.effects_barrier()
    assert len(calls) == out.nfe == heun_nfe(5, final_euler=True) == 9
    assert out.trajectory.shape == (6, 8, 2)
    np.testing.assert_array_equal(out.trajectory[-1], out.x)


def test_bad_options_raise():
    p = EDM()
    model = lambda x, t: x  # noqa: E731
    x = jnp.ones((2, 2))
    ts = schedules.karras(p, 4)
    with pytest.raises(ValueError, match="final_euler must be True or False"):
        edm_heun(model, p, x, ts, final_euler="yes")
    with pytest.raises(ValueError, match="s_churn must be >= 0, got s_churn=-1.0"):
        edm_heun_stochastic(model, p, x, ts, key=jax.random.PRNGKey(0), s_churn=-1.0)
    with pytest.raises(ValueError, match="s_noise must be >= 0, got s_noise=-0.5"):
        edm_heun_stochastic(model, p, x, ts, key=jax.random.PRNGKey(0), s_noise=-0.5)
    with pytest.raises(ValueError, match="need s_min <= s_max"):
        edm_heun_stochastic(model, p, x, ts, key=jax.random.PRNGKey(0), s_min=2.0, s_max=1.0)


def test_registry():
    info = registry.sampler_info("edm_heun")
    assert info.fn is edm_heun and info.order == 2 and not info.stochastic
    assert info.nfe(10) == 20 and info.steps_for_nfe(20) == 10
    info = registry.sampler_info("edm_heun_stochastic")
    assert info.fn is edm_heun_stochastic and info.order is None and info.stochastic
    assert info.nfe(10) == 20
    assert heun_nfe(10, final_euler=True) == 19
    # final_euler changes the NFE per step count: the names fix it
    for name in ("edm_heun", "edm_heun_stochastic"):
        assert registry.sampler_info(name).options == {"final_euler": False}
        with pytest.raises(ValueError, match="fixes final_euler=False"):
            registry.get_sampler(name, final_euler=True)
