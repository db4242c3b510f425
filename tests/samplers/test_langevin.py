"""Predictor-corrector (Langevin corrector) and annealed Langevin dynamics: the sample
distribution on the GMM oracle with negative controls, every process and prediction
kind against exact Gaussian marginals, the step-size rules, exact NFE, option validation
(jit/vmap/grad and dtypes: test_conformance.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import COV, MEAN, gaussian_host, host_mixture, smooth_tanh_model

from diffax import predictions
from diffax.metrics import sliced_wasserstein
from diffax.processes import PROCESSES, VPLinear, get_process
from diffax.samplers import registry, schedules
from diffax.samplers.langevin import annealed_langevin, pc_sampler



def ald_grid(process, n_levels, noise_level):
    """Levels from t_max down to the time where sigma/alpha = noise_level."""
    t_end = float(process.t_from_log_snr(-2.0 * np.log(noise_level)))
    return schedules.uniform_log_snr(process, n_levels, t_end=t_end)


# ---- the mixture's distribution, with negative controls ----------------------------------------

_DIST_CASES = {  # name: (process, grid, sampler options)
    "pc_vp": ("vp_linear", "uniform_time_100", {}),
    "pc_ve_ancestral_2": ("ve", "uniform_time_100",
                          {"predictor": "ancestral", "n_corrector_steps": 2}),
    "ald_ve": ("ve", "ald", {}),
}


@pytest.mark.parametrize("case", sorted(_DIST_CASES))
def test_matches_mixture_distribution_with_negative_control(x64, case):
    """Sliced W2 between 2048 samples and 2048 exact samples of the final marginal (two
    exact sample sets differ by 0.03-0.05). PC (registered ``pc_langevin``: reverse
    diffusion + one Langevin step, snr 0.16) on VP-linear, PC with the ancestral
    predictor and two corrector steps on VE, and NCSN annealed Langevin on VE down to
    noise level 0.5 (10 levels x 30 steps, step_size = 0.2 sigma_L^2). Observed: 0.034,
    0.039, 0.042; the model scaled by 1.3 or 0.7 (a wrong drift) gives >= 0.095 and
    must fail the same tolerance."""
    gmm, host = host_mixture()
    process_name, grid, options = _DIST_CASES[case]
    p = get_process(process_name)
    n = 2048
    if grid == "ald":
        ts = ald_grid(p, 10, 0.5)
        sampler = functools.partial(annealed_langevin, step_size=0.2 * 0.25, steps_per_level=30)
    else:
        ts = schedules.uniform_time(p, 100)
        sampler = functools.partial(pc_sampler, **{**registry.sampler_info("pc_langevin").options,
                                                   **options})
    exact = gmm.sample_marginal(jax.random.PRNGKey(7), n, ts[-1], p)
    x = p.prior_sample(jax.random.PRNGKey(1), (n, 2), jnp.float64)
    run = jax.jit(lambda scale: sampler(host(p, scale=scale), p, x, ts,
                                        key=jax.random.PRNGKey(3)).x)
    sw = {s: float(sliced_wasserstein(jax.random.PRNGKey(5), run(s), exact))
          for s in (1.0, 1.3, 0.7)}
    print(case, "sw2", sw)
    tol = 0.08
    assert sw[1.0] < tol
    assert sw[1.3] > tol and sw[0.7] > tol


# ---- every process and prediction kind ---------------------------------------------------------

_PREDICTORS = ["reverse_diffusion", "euler_maruyama", "ancestral", "none"]
_CASES = [(name, predictions.KINDS[i % 5],
           _PREDICTORS[i // 2] if i % 2 == 0 else "annealed_langevin")
          for i, name in enumerate(PROCESSES.names("gaussian"))]


@pytest.mark.parametrize("process_name,kind,sampler", _CASES)
def test_every_process_and_kind(x64, process_name, kind, sampler):
    """Gaussian data, 2048 samples; the processes alternate between PC (each predictor
    once; N = 100, one corrector step, three for corrector-only) and annealed Langevin
    (20 levels x 60 steps down to noise level sigma/alpha = 1, step_size = 0.2 sigma_L^2,
    enough to mix within each level). Sample mean and covariance of
    the final marginal within 0.04 / 0.06 (sampling error ~0.02, observed biases
    <= 0.03). Unadjusted Langevin with step a has the stationary covariance
    v / (1 - a / (4 v)) on each eigenvalue v of a Gaussian target, so annealed Langevin
    is compared with that. NFE counted."""
    p = get_process(process_name)
    host = gaussian_host()
    x = p.prior_sample(jax.random.PRNGKey(1), (2048, 2), jnp.float64)
    key = jax.random.PRNGKey(3)
    if sampler == "annealed_langevin":
        ts = ald_grid(p, 20, 1.0)
        step = 0.2 * float(p.sigma(ts[-1])) ** 2
        run = jax.jit(lambda x: annealed_langevin(host(p, kind), p, x, ts, prediction=kind,
                                                  key=key, step_size=step,
                                                  steps_per_level=60))
        nfe = 1200
    else:
        m = 3 if sampler == "none" else 1
        ts = schedules.uniform_log_snr(p, 100)
        run = jax.jit(lambda x: pc_sampler(host(p, kind), p, x, ts, prediction=kind, key=key,
                                           predictor=sampler, n_corrector_steps=m))
        nfe = 100 * (m + (sampler != "none"))
    host.calls = 0
    out = run(x)
    jax.effects_barrier()
    assert out.nfe == host.calls == nfe
    a, s = p.alpha(ts[-1]), p.sigma(ts[-1])
    mean_t, cov_t = a * MEAN, a**2 * COV + s**2 * jnp.eye(2)
    if sampler == "annealed_langevin":
        v, u = jnp.linalg.eigh(cov_t)
        cov_t = (u * (v / (1.0 - step / (4.0 * v)))) @ u.T
    print(process_name, kind, sampler, np.asarray(jnp.mean(out.x, 0) - mean_t),
          np.asarray(jnp.cov(out.x.T) - cov_t))
    np.testing.assert_allclose(jnp.mean(out.x, 0), mean_t, atol=0.04)
    np.testing.assert_allclose(jnp.cov(out.x.T), cov_t, atol=0.06)


# ---- step-size rules ---------------------------------------------------------------------------

def test_langevin_step_sizes(x64):
    """One step from 2 x 100000 copies of two points. Corrector only: x + eps score +
    sqrt(2 eps) z with one eps for the batch, eps = 2 r (snr mean||z|| / mean||score||)^2,
    mean||z|| -> sqrt(pi/2) in two dimensions, r = (alpha_t0 / alpha_t1)^2 (eps fitted by
    least squares onto the score, the noise averaging out). Annealed Langevin:
    x + a/2 score + sqrt(a) z with a = step_size sigma_i^2 / sigma_N^2."""
    p = VPLinear()
    ts = jnp.array([0.6, 0.5])
    n = 200000
    xb = jnp.repeat(jnp.array([[0.3, -1.2], [2.0, 0.1]]), n // 2, axis=0)
    key = jax.random.PRNGKey(0)
    pc, ald1, ald2 = jax.jit(lambda x: (
        pc_sampler(smooth_tanh_model, p, x, ts, key=key, predictor="none", snr=0.2).x,
        annealed_langevin(smooth_tanh_model, p, x, ts, key=key, step_size=0.01,
                          steps_per_level=1).x,
        annealed_langevin(smooth_tanh_model, p, x, jnp.array([0.6, 0.5, 0.4]), key=key,
                          step_size=0.01, steps_per_level=1, return_trajectory=True)))(xb)
    score = -smooth_tanh_model(xb, jnp.full((n,), 0.5)) / p.sigma(0.5)
    r = (p.alpha(0.6) / p.alpha(0.5)) ** 2
    eps = 2 * r * (0.2 * np.sqrt(np.pi / 2) / jnp.mean(jnp.linalg.norm(score, axis=1))) ** 2
    d = pc - xb
    eps_fit = jnp.sum(d * score) / jnp.sum(score * score)
    np.testing.assert_allclose(eps_fit, eps, rtol=0.04)
    np.testing.assert_allclose(jnp.std(d - eps * score), jnp.sqrt(2 * eps), rtol=0.01)
    # Annealed Langevin, one level: a = step_size.
    resid = (ald1 - xb - 0.005 * score) / jnp.sqrt(0.01)
    np.testing.assert_allclose(jnp.mean(resid), 0.0, atol=0.01)
    np.testing.assert_allclose(jnp.std(resid), 1.0, rtol=0.01)
    # Two levels: the first uses a = step_size sigma(0.5)^2 / sigma(0.4)^2.
    a1 = 0.01 * (p.sigma(0.5) / p.sigma(0.4)) ** 2
    resid = (ald2.trajectory[1] - xb - 0.5 * a1 * score) / jnp.sqrt(a1)
    np.testing.assert_allclose(jnp.std(resid), 1.0, rtol=0.01)


# ---- NFE with other options than the registered ones -----------------------------------------

@pytest.mark.parametrize("options,nfe", [
    (dict(predictor="euler_maruyama", n_corrector_steps=2), 15),
    (dict(predictor="none", n_corrector_steps=2), 10),
    (dict(steps_per_level=3), 15),
])
def test_nfe_for_other_options(options, nfe):
    """NFE = N (n_corrector_steps + 1), N n_corrector_steps without predictor, N
    steps_per_level (traced only: the NFE is static)."""
    p = VPLinear()
    sampler = annealed_langevin if "steps_per_level" in options else pc_sampler
    out = jax.eval_shape(lambda x: sampler(smooth_tanh_model, p, x, schedules.uniform_time(p, 5),
                                           key=jax.random.PRNGKey(0), **options), jnp.ones((2, 2)))
    assert out.nfe == nfe


# ---- validation and registry -------------------------------------------------------------------

def test_bad_options_raise():
    p = VPLinear()
    x = jnp.zeros((2, 2))
    ts = schedules.uniform_time(p, 4)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="predictor 'heun'.*'none'"):
        pc_sampler(smooth_tanh_model, p, x, ts, key=key, predictor="heun")
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="n_corrector_steps"):
            pc_sampler(smooth_tanh_model, p, x, ts, key=key, n_corrector_steps=bad)
    with pytest.raises(ValueError, match="none.*n_corrector_steps"):
        pc_sampler(smooth_tanh_model, p, x, ts, key=key, predictor="none", n_corrector_steps=0)
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match="snr"):
            pc_sampler(smooth_tanh_model, p, x, ts, key=key, snr=bad)
        with pytest.raises(ValueError, match="step_size"):
            annealed_langevin(smooth_tanh_model, p, x, ts, key=key, step_size=bad)
    with pytest.raises(ValueError, match="variance"):
        pc_sampler(smooth_tanh_model, p, x, ts, key=key, predictor="ancestral", variance="big")
    with pytest.raises(ValueError, match="denoise"):
        pc_sampler(smooth_tanh_model, p, x, ts, key=key, denoise=None)
    with pytest.raises(ValueError, match="steps_per_level"):
        annealed_langevin(smooth_tanh_model, p, x, ts, key=key, steps_per_level=0)


def test_registry():
    pc, ald = registry.sampler_info("pc_langevin"), registry.sampler_info("annealed_langevin")
    assert pc.order is None and pc.stochastic and pc.nfe(10) == 20
    assert pc.options == {"predictor": "reverse_diffusion", "n_corrector_steps": 1}
    assert ald.order is None and ald.stochastic and ald.nfe(10) == 1000
    assert ald.options == {"steps_per_level": 100}
    # the options that set the NFE are fixed by the names; the step sizes are free
    with pytest.raises(ValueError, match="fixes n_corrector_steps=1"):
        registry.get_sampler("pc_langevin", n_corrector_steps=2)
    with pytest.raises(ValueError, match=r"fixes steps_per_level=100 .* call "
                                         r"diffax\.samplers\.langevin\.annealed_langevin"):
        registry.get_sampler("annealed_langevin", steps_per_level=30)
    registry.get_sampler("pc_langevin", snr=0.1)
    registry.get_sampler("annealed_langevin", step_size=1e-3)
