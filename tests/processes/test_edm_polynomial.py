"""EDM's polynomial noise schedule (diffax.processes.polynomial) against Hoogeboom et al.
(2022), App. B: the discrete recipe written out here, the closed form at several t, the
boundary values, the log-SNR inverse on both branches, bad arguments, and a sampler on
the analytic Gaussian oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.analytic.gaussian_pf_ode import gaussian_pf_ode_solution
from diffax.processes import PROCESSES, EDMPolynomial, get_process
from diffax.processes.polynomial import edm_polynomial_table
from diffax.samplers import registry, schedules

S, T, CLIP = 1e-5, 1000, 1e-3


def edm_recipe(timesteps=T, power=2.0, s=S, clip=CLIP):
    """EDM's alpha_n^2, n = 0..T: f(t_n) = (1 - t_n^p)^2, per-step ratios clipped to
    [clip, 1] (with f(t_{-1}) = 1), multiplied up, then (1 - 2s) a + s. A plain loop."""
    a, prev, out = 1.0, 1.0, []
    for n in range(timesteps + 1):
        f = (1.0 - (n / timesteps) ** power) ** 2
        a *= min(max(f / prev, clip), 1.0)
        prev = f
        out.append((1 - 2 * s) * a + s)
    return np.array(out)


def test_grid_values_are_edms_discrete_schedule(x64):
    p = get_process("vp_polynomial")
    assert (p.power, p.timesteps, p.clip, float(p.precision)) == (2.0, T, CLIP, S)
    want = edm_recipe()
    t = np.arange(T + 1) / T
    np.testing.assert_allclose(np.asarray(p.alpha2(jnp.asarray(t))), want, rtol=1e-13)
    np.testing.assert_allclose(edm_polynomial_table(), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(p.sigma2(jnp.asarray(t))), 1 - want, rtol=1e-10)
    # other powers and step counts (the clip still acts on the last step only)
    for power, steps in [(3.0, 50), (1.0, 20)]:
        q = EDMPolynomial(power=power, timesteps=steps)
        tq = np.arange(steps + 1) / steps
        np.testing.assert_allclose(np.asarray(q.alpha2(jnp.asarray(tq))),
                                   edm_recipe(steps, power), rtol=1e-13)


@pytest.mark.parametrize("t", [1e-3, 0.1, 0.25, 0.5, 0.77, 0.9, 0.999, 0.99996])
def test_closed_form_between_and_on_the_grid(t, x64):
    """Below the clip time t_c (about 1 - 3.3e-5) alpha^2 = (1 - 2s)(1 - t^2)^2 + s."""
    p = get_process("vp_polynomial")
    a2 = (1 - 2 * S) * (1 - t**2) ** 2 + S
    np.testing.assert_allclose(float(p.alpha(t)) ** 2, a2, rtol=1e-13)
    np.testing.assert_allclose(float(p.sigma(t)) ** 2, 1 - a2, rtol=1e-10)
    np.testing.assert_allclose(float(p.log_snr(t)), np.log(a2 / (1 - a2)), rtol=1e-10)
    # the VP drift f = d log alpha / dt = (1 - 2s) a'(t) / (2 alpha^2), g^2 = -2 f
    f = (1 - 2 * S) * (-4 * t * (1 - t**2)) / (2 * a2)
    np.testing.assert_allclose(float(p.drift_coef(t)), f, rtol=1e-9)
    np.testing.assert_allclose(float(p.diffusion_sq(t)), -2 * f, rtol=1e-9)


def test_boundary_values(x64):
    p = get_process("vp_polynomial")
    assert p.t_min == pytest.approx(1 / T) and p.t_max == 1.0
    # t = 0 (EDM's decoder step): alpha^2 = 1 - s, the log-SNR is flat
    assert float(p.alpha2(0.0)) == pytest.approx(1 - S, rel=1e-15)
    assert float(p.sigma2(0.0)) == pytest.approx(S, rel=1e-12)
    assert float(p.d_log_snr_dt(0.0)) == 0.0
    # t = 1: the clipped last step, alpha^2 = (1 - 2s) c f(1 - 1/T) + s
    a2_end = (1 - 2 * S) * CLIP * (1 - (1 - 1 / T) ** 2) ** 2 + S
    assert float(p.alpha2(1.0)) == pytest.approx(a2_end, rel=1e-13)
    assert float(p.prior_std) == pytest.approx(np.sqrt(1 - a2_end), rel=1e-14)
    # without the clip f(1) = 0 and alpha^2(1) = s: the clip adds 4e-9
    assert a2_end - S == pytest.approx(4e-9, rel=1e-2)
    # log-SNR range about +-11.5 = log((1 - s) / s)
    assert float(p.log_snr(0.0)) == pytest.approx(np.log((1 - S) / S), rel=1e-12)
    assert float(p.log_snr(1.0)) == pytest.approx(np.log(a2_end / (1 - a2_end)), rel=1e-12)
    # continuous at the branch switch t_c, inside the last cell, and reported as a kink
    tc = p.t_clip
    assert 1 - 1 / T < tc < 1 and p.kink_times().tolist() == [tc]
    lo, hi = float(p.alpha2(np.nextafter(tc, 0))), float(p.alpha2(np.nextafter(tc, 2)))
    assert hi == pytest.approx(lo, rel=1e-9)


def test_log_snr_inverse_on_both_branches(x64):
    p = get_process("vp_polynomial")
    tc = p.t_clip
    t = np.concatenate([np.linspace(p.t_min, 0.999, 50), tc + np.array([-1e-7, 1e-7]),
                        np.linspace(tc + 1e-6, 1.0, 7)])
    lam = p.log_snr(jnp.asarray(t))
    np.testing.assert_allclose(np.asarray(p.t_from_log_snr(lam)), t, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(np.asarray(p.t_from_log_alpha(p.log_alpha(jnp.asarray(t)))),
                               t, rtol=1e-8, atol=1e-12)
    assert np.all(np.diff(np.asarray(lam)) < 0)


def test_float32_matches_float64_recipe():
    p = get_process("vp_polynomial")
    t = jnp.asarray(np.arange(1, T + 1) / T, jnp.float32)
    lam32 = np.asarray(p.log_snr(t))
    want = edm_recipe()[1:]
    assert lam32.dtype == np.float32
    np.testing.assert_allclose(lam32, np.log(want / (1 - want)), rtol=2e-6, atol=2e-5)


@pytest.mark.parametrize("kwargs,fragments", [
    (dict(precision=0.5), ["precision=0.5"]),
    (dict(power=0.5), ["power=0.5"]),
    (dict(timesteps=1), ["timesteps=1"]),
    (dict(clip=0.0), ["clip=0.0"]),
    (dict(clip=0.5), ["clip=0.5", "smallest unclipped step ratio"]),
    (dict(t_min=0.0), ["t_min=0.0", "flat"]),
])
def test_bad_arguments_raise_naming_the_value(kwargs, fragments):
    with pytest.raises(ValueError) as err:
        get_process("vp_polynomial", **kwargs)
    for frag in fragments:
        assert frag in str(err.value)
    assert "vp_polynomial" in PROCESSES.names("gaussian")


def test_sampler_on_the_gaussian_oracle_converges(x64):
    """DDIM (eta = 0) with the exact eps of N(m, C) data against the closed-form PF-ODE
    map from t_max to t_min: the error halves when the steps double (first order).
    Measured RMS errors 0.116, 0.061, 0.031 at 16, 32, 64 steps (order 0.95); a wrong
    schedule derivative or inverse breaks the first order or gives O(1) errors."""
    p = get_process("vp_polynomial")
    mean = np.array([0.5, -1.0])
    cov = np.array([[0.6, 0.2], [0.2, 0.3]])
    gmm = GaussianMixture.create(np.ones(1), mean[None], cov[None])
    model = gmm.model_fn("eps", p)
    x = p.prior_sample(jax.random.PRNGKey(1), (64, 2), jnp.float64)
    exact = gaussian_pf_ode_solution(mean, cov, p, x, p.t_max, p.t_min)
    ddim = registry.get_sampler("ddim")
    errors = []
    for n in (16, 32, 64):
        out = ddim(model, p, x, schedules.uniform_log_snr(p, n), prediction="eps").x
        errors.append(float(jnp.sqrt(jnp.mean((out - exact) ** 2))))
    order = -np.polyfit(np.log([16, 32, 64]), np.log(errors), 1)[0]
    print("errors", errors, "order", order)
    assert errors[-1] < 0.045 and 0.85 < order < 1.2, (errors, order)
