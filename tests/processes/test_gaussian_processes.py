"""Value tests of the Gaussian forward processes (diffax/processes), part 1: formulas.

alpha, sigma, f and g^2 against formulas written independently in NumPy, the
log-SNR inverse, Monte-Carlo moments, and the SDE's mean/variance ODEs on Gaussian
data. Part 2 (test_process_structure.py): DiscreteDDPM/cosine specifics, pytrees,
bad arguments, densities.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import (
    EDM,
    PROCESSES,
    VE,
    RectifiedFlow,
    SubVP,
    VPCosine,
    VPLinear,
    VPProcess,
)


from process_cases import (
    ALL, N_MC, NT, ev, interior_grid, invert, make, np_vp_linear_alpha, reference_alpha_sigma,
    time_grid,
)


def test_registry_covers_all_references():
    for name in PROCESSES.names("gaussian"):  # a new entry needs a reference formula here
        p = make(name)
        reference_alpha_sigma(name, p, np.array([0.5 * (p.t_min + p.t_max)]))


# ---- 0. alpha, sigma against the papers ----------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_alpha_sigma_match_reference_formulas(name, x64):
    p = make(name)
    t = time_grid(p)
    a_ref, s_ref = reference_alpha_sigma(name, p, t)
    e = ev(p, t)
    assert e["alpha"].dtype == np.float64 and e["sigma"].dtype == np.float64
    for key, want in [("alpha", a_ref), ("sigma", s_ref), ("alpha_base", a_ref),
                      ("sigma_base", s_ref), ("marginal", (a_ref, s_ref)),
                      ("log_alpha", np.log(a_ref)), ("log_sigma", np.log(s_ref)),
                      ("log_snr", 2 * np.log(a_ref / s_ref))]:
        np.testing.assert_allclose(e[key], want, rtol=1e-11, atol=1e-12, err_msg=key)
    if isinstance(p, VPProcess):
        np.testing.assert_allclose(e["alpha"] ** 2 + e["sigma"] ** 2, 1.0, rtol=1e-13)


# ---- 1. log-SNR inverse and monotonicity ---------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_t_from_log_snr_inverts_log_snr(name, x64):
    p = make(name)
    t = time_grid(p)
    e = ev(p, t)
    lam = e["log_snr"]
    assert np.all(np.isfinite(lam))
    np.testing.assert_allclose(e["t_inv"], t, rtol=1e-10, atol=1e-13)
    # strictly decreasing, also infinitesimally
    assert np.all(np.diff(lam) < 0)
    assert np.all(e["d_log_snr"] < 0)
    # the other direction: log_snr(t(lambda)) = lambda on a lambda grid inside the range
    lam_grid = np.linspace(lam[0], lam[-1], NT)
    t_back, lam_back = invert(p, jnp.asarray(lam_grid))
    np.testing.assert_allclose(lam_back, lam_grid, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(np.asarray(t_back)) > 0)
    assert np.all((np.asarray(t_back) >= p.t_min * (1 - 1e-9)) &
                  (np.asarray(t_back) <= p.t_max * (1 + 1e-9)))


def test_sub_vp_t_from_log_snr_both_branches(x64):
    """SubVP's inverse is written in two branches (lambda <= 0 and lambda > 0)."""
    p = SubVP()
    lam_grid = np.concatenate([np.linspace(-12, -1e-9, 31), [0.0], np.linspace(1e-9, 15, 32)])
    t, lam_back = invert(p, jnp.asarray(lam_grid))
    np.testing.assert_allclose(lam_back, lam_grid, rtol=1e-9, atol=1e-9)
    # lambda = 0 <=> alpha^2 = sigma = 1 - alpha^2 <=> alpha^2 = (3 - sqrt 5)/2
    a2 = float(p.alpha(t[31])) ** 2
    assert a2 == pytest.approx((3 - math.sqrt(5)) / 2, rel=1e-12)


def test_t_from_log_snr_closed_forms(x64):
    lam = np.linspace(-8.0, 8.0, NT)
    t, _ = invert(RectifiedFlow(), jnp.asarray(lam))
    np.testing.assert_allclose(t, 1 / (1 + np.exp(lam / 2)), rtol=1e-13)
    t, _ = invert(EDM(), jnp.asarray(lam))
    np.testing.assert_allclose(t, np.exp(-lam / 2), rtol=1e-13)
    t, _ = invert(VE(0.01, 50.0), jnp.asarray(lam))
    np.testing.assert_allclose(t, (-lam / 2 - np.log(0.01)) / np.log(5000.0), rtol=1e-12)
    # VPLinear: alpha^2 = sigmoid(lambda), solve the quadratic in numpy
    t, _ = invert(VPLinear(0.1, 20.0), jnp.asarray(lam))
    la = 0.5 * np.log(1 / (1 + np.exp(-lam)))
    want = (-0.05 + np.sqrt(0.05**2 - 4 * (19.9 / 4) * la)) / (2 * 19.9 / 4)
    np.testing.assert_allclose(t, want, rtol=1e-10)


# ---- 2. Monte-Carlo moments ----------------------------------------------------------



@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_sample_marginal_moments(name):
    p = make(name)
    m, v = 1.5, 0.49
    n = N_MC
    rng = np.random.default_rng(sum(map(ord, name)))
    key = jax.random.PRNGKey(sum(map(ord, name)))
    ts = interior_grid(p, 3)
    alphas, sigmas = reference_alpha_sigma(name, p, ts)
    for i, (t, a, s) in enumerate(zip(ts, alphas, sigmas)):
        k1, k2 = jax.random.split(jax.random.fold_in(key, i))
        # fixed x0: x_t ~ N(alpha x0, sigma^2)
        x0 = jnp.full((n,), m, jnp.float32)
        xt, eps = p.sample_marginal(k1, x0, float(t))
        assert xt.shape == eps.shape == (n,) and xt.dtype == jnp.float32
        # sample_marginal returns the eps it used
        np.testing.assert_allclose(xt, a * m + s * np.asarray(eps, np.float64),
                                   rtol=2e-5, atol=1e-5 * s)
        xt = np.asarray(xt, np.float64)
        assert abs(xt.mean() - a * m) < 5 * s / math.sqrt(n), (t, xt.mean(), a * m)
        assert abs(xt.std() - s) < 5 * s / math.sqrt(2 * n), (t, xt.std(), s)
        # Gaussian data x0 ~ N(m, v): x_t ~ N(alpha m, alpha^2 v + sigma^2)
        data = (m + math.sqrt(v) * rng.normal(size=n)).astype(np.float32)
        xt = np.asarray(p.sample_marginal(k2, data, float(t))[0], np.float64)
        sd = math.sqrt(a**2 * v + s**2)
        assert abs(xt.mean() - a * m) < 5 * sd / math.sqrt(n), (t, xt.mean(), a * m)
        assert abs(xt.std() - sd) < 5 * sd / math.sqrt(2 * n), (t, xt.std(), sd)


def test_perturb_per_example_time_matches_scalar_time():
    p = VPCosine()
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    eps = rng.normal(size=x0.shape).astype(np.float32)
    t = np.array([0.01, 0.3, 0.6, 0.9])
    xt = p.perturb(x0, jnp.asarray(t, jnp.float32), eps)
    a, s = reference_alpha_sigma("vp_cosine", p, t)
    for b in range(4):
        np.testing.assert_allclose(xt[b], a[b] * x0[b] + s[b] * eps[b], rtol=1e-5, atol=1e-5)


# ---- 3. the SDE generates the marginals: mean and variance ODEs of Gaussian data -------

@pytest.mark.parametrize("name", ALL)
def test_mean_and_variance_odes(name, x64):
    """For x0 ~ N(m, diag v): d/dt E = f E and d/dt Var = 2 f Var + g^2, with d/dt taken
    both by forward-mode autodiff and by central differences of alpha, sigma."""
    p = make(name)
    t = interior_grid(p)
    h = 1e-5 * t if isinstance(p, EDM) else np.full_like(t, 1e-6)
    e, e_plus, e_minus = ev(p, t), ev(p, t + h), ev(p, t - h)
    for m, v in [(0.7, 0.3), (np.array([-1.0, 0.5, 2.0]), np.array([0.05, 1.0, 4.0]))]:
        m, v = np.atleast_1d(m), np.atleast_1d(v)

        def var(ee):
            return ee["alpha"][:, None] ** 2 * v + ee["sigma"][:, None] ** 2

        def mean(ee):
            return ee["alpha"][:, None] * m

        f, g2 = e["f"][:, None], e["g2"][:, None]
        rhs_var = 2 * f * var(e) + g2
        dvar_ad = e["da2"][:, None] * v + e["ds2"][:, None]
        dvar_fd = (var(e_plus) - var(e_minus)) / (2 * h[:, None])
        np.testing.assert_allclose(dvar_ad, rhs_var, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dvar_fd, rhs_var, rtol=2e-6, atol=1e-8)
        dmean_ad = e["d_alpha"][:, None] * m
        dmean_fd = (mean(e_plus) - mean(e_minus)) / (2 * h[:, None])
        np.testing.assert_allclose(dmean_ad, f * mean(e), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dmean_fd, f * mean(e), rtol=2e-6, atol=1e-8)
    assert np.all(e["g2"] > 0)
    np.testing.assert_allclose(e["g"], np.sqrt(e["g2"]), rtol=1e-14)


@jax.jit
def drifts(p, x, t, score):
    drift, diff = p.sde(x, t)
    return p.pf_ode_drift(x, t, score), p.reverse_sde_drift(x, t, score), drift, diff


@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_pf_ode_and_reverse_sde_drift_on_gaussian_data(name, x64):
    """With the exact score of Gaussian data N(m, v), the PF-ODE velocity is the time
    derivative of the transport map x_t = mu_t + sqrt(V_t / V_s)(x_s - mu_s)."""
    p = make(name)
    m, v = np.array([0.5, -2.0]), np.array([0.2, 1.5])
    t = interior_grid(p)  # one time per example
    e = ev(p, t)
    x = np.random.default_rng(0).normal(size=(NT, 2)) * 3
    a = e["alpha"][:, None]
    var = a**2 * v + e["sigma"][:, None] ** 2
    score = -(x - a * m) / var
    dvar = e["da2"][:, None] * v + e["ds2"][:, None]
    velocity = e["d_alpha"][:, None] * m + dvar / (2 * var) * (x - a * m)
    pf, rev, drift, diff = drifts(p, jnp.asarray(x), jnp.asarray(t), jnp.asarray(score))
    np.testing.assert_allclose(pf, velocity, rtol=1e-9, atol=1e-9)
    f, g2 = e["f"][:, None], e["g2"][:, None]
    np.testing.assert_allclose(rev, f * x - g2 * score, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(drift, f * x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(diff, np.sqrt(e["g2"]), rtol=1e-12)


def test_forward_sde_euler_maruyama_reaches_the_marginal():
    """Simulate dx = f x dt + g dW for VPLinear from x0 = 2: at t = 0.5 the samples have
    mean alpha x0 and std sigma (up to MC and O(dt) error)."""
    p = VPLinear()
    n, steps, t1 = N_MC, 200, 0.5
    dt = t1 / steps

    @jax.jit
    def simulate(key):
        def step(x, tk):
            t, k = tk
            drift, g = p.sde(x, t)
            return x + drift * dt + g * jnp.sqrt(dt) * jax.random.normal(k, x.shape), None

        keys = jax.random.split(key, steps)
        return jax.lax.scan(step, jnp.full((n,), 2.0), (jnp.arange(steps) * dt, keys))[0]

    x = np.asarray(simulate(jax.random.PRNGKey(3)), np.float64)
    a, s = reference_alpha_sigma("vp_linear", p, np.array(t1))
    assert abs(x.mean() - 2 * a) < 5 * s / math.sqrt(n) + 0.01
    assert abs(x.std() - s) < 5 * s / math.sqrt(2 * n) + 0.01


# ---- 4. closed forms of f and g^2; overrides equal the generic formulas -------------

def _closed_forms(name, p, t):
    """(f, g^2) from the papers, in NumPy."""
    if name in ("vp_linear", "vp_linear_constant_beta"):
        beta = float(p.beta_min) + t * (float(p.beta_max) - float(p.beta_min))
        return -beta / 2, beta
    if name in ("sub_vp", "sub_vp_beta_5"):
        beta = float(p.beta_min) + t * (float(p.beta_max) - float(p.beta_min))
        a = np_vp_linear_alpha(t, float(p.beta_min), float(p.beta_max))
        return -beta / 2, beta * (1 - a**4)
    if name.startswith("vp_cosine"):
        s = float(p.s)
        f = -np.pi / (2 * (1 + s)) * np.tan(np.pi / 2 * (t + s) / (1 + s))
        return f, -2 * f
    if name.startswith("ddpm"):
        betas = np.asarray(p.betas, np.float64)
        N = betas.shape[0]
        la = 0.5 * np.log(np.cumprod(1 - betas))
        n = np.floor(t * N).astype(int)  # t in (t_n, t_{n+1}), t_n = n/N -> la index n-1
        f = (la[n] - la[n - 1]) * N
        return f, -2 * f
    if name.startswith("ve"):
        smin, smax = float(p.sigma_min), float(p.sigma_max)
        sig = smin * (smax / smin) ** t
        return np.zeros_like(t), 2 * sig**2 * np.log(smax / smin)
    if name == "edm":
        return np.zeros_like(t), 2 * t
    if name.startswith("rectified_flow"):
        return -1 / (1 - t), 2 * t / (1 - t)
    if name == "vp_polynomial":  # interior times lie below the clip time (f unclipped)
        s, pw = float(p.precision), p.power
        a2 = (1 - 2 * s) * (1 - t**pw) ** 2 + s
        f = 0.5 * (1 - 2 * s) * (-2 * pw * t ** (pw - 1) * (1 - t**pw)) / a2
        return f, -2 * f
    raise KeyError(name)


@pytest.mark.parametrize("name", ALL)
def test_drift_and_diffusion_closed_forms(name, x64):
    p = make(name)
    t = interior_grid(p)
    f_ref, g2_ref = _closed_forms(name, p, t)
    e = ev(p, t)
    np.testing.assert_allclose(e["f"], f_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e["g2"], g2_ref, rtol=1e-10, atol=1e-12)
    # overrides (VP: g^2 = -2f; VE/EDM/RF/VPLinear: closed forms; VP log_snr; EDM/RF
    # alpha, sigma) equal the generic base-class formulas built on log_alpha/log_sigma
    np.testing.assert_allclose(e["f_base"], f_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e["g2_base"], g2_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e["log_snr_base"], e["log_snr"], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(e["d_log_alpha"], f_ref, rtol=1e-10, atol=1e-12)
    # g^2 = d sigma^2/dt - 2 f sigma^2 (the other generic form)
    np.testing.assert_allclose(e["d_sigma2"] - 2 * f_ref * e["sigma"] ** 2, g2_ref,
                               rtol=1e-9, atol=1e-12)


def test_named_closed_forms(x64):
    t = np.linspace(0.01, 0.99, NT)
    beta = 0.1 + t * 19.9
    e = ev(VPLinear(0.1, 20.0), t)
    np.testing.assert_allclose(VPLinear().beta(t), beta, rtol=1e-14)
    np.testing.assert_allclose(e["f"], -beta / 2, rtol=1e-13)
    np.testing.assert_allclose(e["g2"], beta, rtol=1e-13)
    np.testing.assert_allclose(e["g2_base"], beta, rtol=1e-10)
    e = ev(VE(0.01, 50.0), t)
    sig = 0.01 * 5000.0**t
    np.testing.assert_allclose(e["g2"], 2 * sig**2 * np.log(5000.0), rtol=1e-12)
    np.testing.assert_allclose(e["g2_base"], 2 * sig**2 * np.log(5000.0), rtol=1e-10)
    np.testing.assert_allclose(e["f"], 0.0, atol=0)
    edm_t = np.geomspace(0.002, 80, NT)
    e = ev(EDM(), edm_t)
    np.testing.assert_allclose(e["g2"], 2 * edm_t, rtol=1e-14)
    np.testing.assert_allclose(e["g2_base"], 2 * edm_t, rtol=1e-12)
    np.testing.assert_allclose(e["f"], 0.0, atol=0)
    e = ev(RectifiedFlow(), t)
    np.testing.assert_allclose(e["f"], -1 / (1 - t), rtol=1e-14)
    np.testing.assert_allclose(e["g2"], 2 * t / (1 - t), rtol=1e-14)
    np.testing.assert_allclose(e["g2_base"], 2 * t / (1 - t), rtol=1e-10)
    e = ev(SubVP(), t)
    a = np_vp_linear_alpha(t)
    np.testing.assert_allclose(e["g2"], beta * (1 - a**4), rtol=1e-10)
    np.testing.assert_allclose(e["f"], -beta / 2, rtol=1e-13)


def test_derivative_helpers(x64):
    t = np.linspace(0.05, 0.95, NT)
    e = ev(VPLinear(), t)
    a = np_vp_linear_alpha(t)
    beta = 0.1 + 19.9 * t
    da = -0.5 * beta * a
    np.testing.assert_allclose(e["d_alpha"], da, rtol=1e-12)
    np.testing.assert_allclose(e["d_log_alpha"], -0.5 * beta, rtol=1e-12)
    np.testing.assert_allclose(e["d_sigma"], -a * da / np.sqrt(1 - a**2), rtol=1e-10)
    np.testing.assert_allclose(e["d_sigma2"], -2 * a * da, rtol=1e-10)
    # lambda = log a^2 - log(1 - a^2): d lambda/dt = -beta / (1 - a^2)
    np.testing.assert_allclose(e["d_log_snr"], -beta / (1 - a**2), rtol=1e-10)
    # Python floats and ints are accepted as t
    p = VPLinear()
    assert float(p.d_alpha_dt(0.5)) == pytest.approx(-0.5 * (0.1 + 19.9 * 0.5) *
                                                     np_vp_linear_alpha(0.5), rel=1e-12)
    assert float(EDM().d_sigma_dt(1)) == 1.0
    assert float(RectifiedFlow().d_alpha_dt(0)) == -1.0
