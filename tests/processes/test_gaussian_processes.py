"""Value tests of the Gaussian forward processes (diffax/processes).

Every process is checked against formulas written independently here in NumPy
(alpha, sigma, f, g^2, DDPM alphas_cumprod, the Nichol & Dhariwal cosine schedule),
against its own SDE (the variance ODE of a Gaussian data distribution), against
Monte-Carlo samples, and through jit / vmap / grad.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diffax.processes import (
    EDM,
    PROCESSES,
    VE,
    DiscreteDDPM,
    GaussianProcess,
    RectifiedFlow,
    SubVP,
    VPCosine,
    VPLinear,
    VPProcess,
    broadcast_to_x,
    get_process,
    karras_sigmas,
)

# Registry processes (built by name) plus non-default variants. Variants keep the static
# fields (t_min, t_max) of their registry twin where possible, so they share its jit cache.
EXTRA = {
    "vp_linear_constant_beta": lambda: VPLinear(beta_min=2.0, beta_max=2.0),
    "vp_cosine_s0.02": lambda: VPCosine(s=0.02),
    "ddpm_scaled_linear": lambda: DiscreteDDPM.scaled_linear(),
    "ddpm_short": lambda: DiscreteDDPM.linear(20, 1e-3, 0.2),
    "ve_edm_range": lambda: VE(sigma_min=0.002, sigma_max=80.0),
    "sub_vp_beta_5": lambda: SubVP(beta_min=0.5, beta_max=5.0),
    "rectified_flow_wide": lambda: RectifiedFlow(t_min=1e-4, t_max=1 - 1e-4),
}
ALL = sorted(PROCESSES) + sorted(EXTRA)
NT = 64  # every time grid has this length, so the jitted evaluators compile once per process


def make(name: str) -> GaussianProcess:
    return get_process(name) if name in PROCESSES else EXTRA[name]()


def time_grid(p: GaussianProcess, n: int = NT) -> np.ndarray:
    """n times spanning [t_min, t_max] (geometric for EDM, whose t is sigma)."""
    if isinstance(p, EDM):
        return np.geomspace(p.t_min, p.t_max, n)
    return np.linspace(p.t_min, p.t_max, n)


def interior_grid(p: GaussianProcess, n: int = NT) -> np.ndarray:
    """n interior times; for DiscreteDDPM the midpoints of grid cells (off the kinks)."""
    t = time_grid(p, n + 2)[1:-1]
    if isinstance(p, DiscreteDDPM):
        N = p.n_steps
        t = np.clip(np.floor(t * N), 1, N - 1) / N + 0.5 / N
    return t


@jax.jit
def evaluate(p: GaussianProcess, t):
    """All time-dependent quantities of ``p`` at ``t`` (one compilation per process)."""
    ones = jnp.ones_like(t)
    (a2, s2), (da2, ds2) = jax.jvp(lambda u: (p.alpha(u) ** 2, p.sigma(u) ** 2), (t,), (ones,))
    lam = p.log_snr(t)
    G = GaussianProcess
    return dict(
        alpha=p.alpha(t), sigma=p.sigma(t), log_alpha=p.log_alpha(t),
        log_sigma=p.log_sigma(t), log_snr=lam, t_inv=p.t_from_log_snr(lam),
        marginal=p.marginal_params(t), f=p.drift_coef(t), g2=p.diffusion_sq(t),
        g=p.diffusion(t), d_alpha=p.d_alpha_dt(t), d_sigma=p.d_sigma_dt(t),
        d_log_alpha=p.d_log_alpha_dt(t), d_sigma2=p.d_sigma2_dt(t),
        d_log_snr=p.d_log_snr_dt(t), a2=a2, s2=s2, da2=da2, ds2=ds2,
        f_base=G.drift_coef(p, t), g2_base=G.diffusion_sq(p, t),
        log_snr_base=G.log_snr(p, t), alpha_base=G.alpha(p, t), sigma_base=G.sigma(p, t),
    )


@jax.jit
def invert(p: GaussianProcess, lam):
    t = p.t_from_log_snr(lam)
    return t, p.log_snr(t)


def ev(p: GaussianProcess, t) -> dict:
    t = np.asarray(t, np.float64)
    assert t.shape == (NT,)
    return jax.tree.map(np.asarray, evaluate(p, jnp.asarray(t)))


# ---- independent NumPy references (default hyper-parameters unless given) -------------

def np_ddpm_log_alpha(betas, t):
    betas = np.asarray(betas, np.float64)
    N = betas.shape[0]
    tn = np.arange(1, N + 1) / N
    la = 0.5 * np.log(np.cumprod(1.0 - betas))
    # interior: np.interp; beyond the ends: linear extrapolation of the end segments
    t = np.asarray(t, np.float64)
    out = np.interp(t, tn, la)
    lo, hi = t < tn[0], t > tn[-1]
    out[lo] = la[0] + (t[lo] - tn[0]) * (la[1] - la[0]) * N
    out[hi] = la[-1] + (t[hi] - tn[-1]) * (la[-1] - la[-2]) * N
    return out


def np_cosine_alpha_bar(t, s=0.008):
    """Nichol & Dhariwal (2021) eq. (17): alpha_bar(t) = f(t) / f(0)."""
    f = lambda u: np.cos((u + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    return f(t) / f(0.0)


def np_vp_linear_alpha(t, b0=0.1, b1=20.0):
    # alpha = exp(-1/2 int_0^t beta(u) du), beta(u) = b0 + u (b1 - b0)
    return np.exp(-0.5 * (b0 * t + 0.5 * (b1 - b0) * t**2))


def reference_alpha_sigma(name: str, p: GaussianProcess, t: np.ndarray):
    """(alpha, sigma) from the papers' formulas, written without diffax."""
    t = np.asarray(t, np.float64)
    if name in ("vp_linear", "vp_linear_constant_beta"):
        a = np_vp_linear_alpha(t, float(p.beta_min), float(p.beta_max))
        return a, np.sqrt(1 - a**2)
    if name in ("sub_vp", "sub_vp_beta_5"):
        a = np_vp_linear_alpha(t, float(p.beta_min), float(p.beta_max))
        return a, 1 - a**2
    if name.startswith("vp_cosine"):
        ab = np_cosine_alpha_bar(t, float(p.s))
        return np.sqrt(ab), np.sqrt(1 - ab)
    if name.startswith("ddpm"):
        a = np.exp(np_ddpm_log_alpha(np.asarray(p.betas), t))
        return a, np.sqrt(1 - a**2)
    if name.startswith("ve"):
        smin, smax = float(p.sigma_min), float(p.sigma_max)
        return np.ones_like(t), smin * (smax / smin) ** t
    if name == "edm":
        return np.ones_like(t), t
    if name.startswith("rectified_flow"):
        return 1 - t, t
    raise KeyError(name)


def test_registry_covers_all_references():
    for name in PROCESSES:  # a new registry entry needs a reference formula here
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

N_MC = 20_000


@pytest.mark.parametrize("name", sorted(PROCESSES))
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


@pytest.mark.parametrize("name", sorted(PROCESSES))
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


# ---- 5. DiscreteDDPM ----------------------------------------------------------------

def test_ddpm_grid_points_are_alphas_cumprod(x64):
    N = 1000
    p = DiscreteDDPM.linear(N, 1e-4, 0.02)
    alphas_cumprod = np.cumprod(1.0 - np.linspace(1e-4, 0.02, N))
    n = np.unique(np.round(np.linspace(1, N, NT)).astype(int))
    assert n.shape == (NT,) and n[0] == 1 and n[-1] == N
    tn = n / N
    e = ev(p, tn)
    np.testing.assert_allclose(e["alpha"] ** 2, alphas_cumprod[n - 1], rtol=1e-12)
    np.testing.assert_allclose(e["sigma"] ** 2, 1 - alphas_cumprod[n - 1], rtol=1e-11)
    np.testing.assert_allclose(e["t_inv"], tn, rtol=1e-12)
    all_n = np.arange(1, N + 1)
    np.testing.assert_allclose(p.model_step(all_n / N), all_n - 1, rtol=0, atol=1e-9)
    assert p.n_steps == N
    assert p.t_min == pytest.approx(1.0 / N) and p.t_max == 1.0


def test_ddpm_log_alpha_is_piecewise_linear(x64):
    N = 20
    p = make("ddpm_short")  # DiscreteDDPM.linear(20, 1e-3, 0.2)
    betas = np.linspace(1e-3, 0.2, N)
    la = 0.5 * np.log(np.cumprod(1 - betas))
    seg = np.repeat([1, 4, 10, 19], 16)[:NT - 1]  # segment [t_n, t_{n+1}], t_n = n/N
    w = np.tile(np.linspace(0.03, 0.97, 16), 4)[:NT - 1]
    t = np.append((seg + w) / N, 0.4 / N)  # last: below t_1, linearly extrapolated
    e = ev(p, t)
    want = np.append((1 - w) * la[seg - 1] + w * la[seg], la[0] - 0.6 * (la[1] - la[0]))
    np.testing.assert_allclose(e["log_alpha"], want, rtol=1e-12)
    slope = np.append((la[seg] - la[seg - 1]) * N, (la[1] - la[0]) * N)
    np.testing.assert_allclose(e["d_log_alpha"], slope, rtol=1e-10)
    assert float(p.model_step(7.25 / N)) == pytest.approx(6.25, rel=1e-12)


def test_ddpm_scaled_linear_schedule(x64):
    p = DiscreteDDPM.scaled_linear(1000, 0.00085, 0.012)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    np.testing.assert_allclose(p.betas, betas, rtol=1e-14)
    n = np.arange(NT) * 15 + 55  # 55 ... 1000
    e = ev(p, n / 1000)
    np.testing.assert_allclose(e["alpha"] ** 2, np.cumprod(1 - betas)[n - 1], rtol=1e-12)


def test_vp_linear_is_continuous_limit_of_ddpm_linear(x64):
    cont, disc = VPLinear(0.1, 20.0), DiscreteDDPM.linear(1000, 1e-4, 0.02)
    t = np.linspace(1e-3, 1.0, NT)
    ec, ed = ev(cont, t), ev(disc, t)
    np.testing.assert_allclose(ed["alpha"], ec["alpha"], atol=1e-2)
    np.testing.assert_allclose(ed["sigma"], ec["sigma"], atol=1e-2)
    # the same schedule: a different one (beta_max = 10) is far away
    assert np.max(np.abs(ev(VPLinear(0.1, 10.0), t)["alpha"] - ed["alpha"])) > 0.1
    # drift to O(1/N): f_disc = N/2 log(1 - beta_n) vs -beta(t)/2
    tm = interior_grid(disc)
    np.testing.assert_allclose(ev(disc, tm)["f"], ev(cont, tm)["f"], rtol=0.02, atol=0.01)


# ---- 6. VPCosine --------------------------------------------------------------------

@pytest.mark.parametrize("s", [0.008, 0.02])
def test_vp_cosine_alpha_bar_nichol_dhariwal(s, x64):
    p = VPCosine(s=s)
    t = np.linspace(0.0, p.t_max, NT)
    np.testing.assert_allclose(ev(p, t)["alpha"] ** 2, np_cosine_alpha_bar(t, s), rtol=1e-12,
                               atol=1e-15)
    # the discrete alpha_bar of the paper at t = n/T, T = 1000
    T = 1000
    n = np.unique(np.round(np.linspace(0, 989, NT)))
    assert n.shape == (NT,)
    f = np.cos((n / T + s) / (1 + s) * np.pi / 2) ** 2
    np.testing.assert_allclose(ev(p, n / T)["alpha"] ** 2, f / f[0], rtol=1e-12, atol=1e-15)


# ---- 7. pytrees: jit, vmap, grad ----------------------------------------------------

HYPER_VARIANTS = {  # same treedef, different leaves
    "vp_linear": lambda: VPLinear(0.5, 5.0),
    "vp_cosine": lambda: VPCosine(s=0.02),
    "ddpm_discrete": lambda: DiscreteDDPM.scaled_linear(),
    "sub_vp": lambda: SubVP(0.5, 5.0),
    "ve": lambda: VE(0.002, 80.0),
}


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_jit_over_process_argument(name):
    traces = []

    @jax.jit
    def coefs(proc, t):
        traces.append(1)
        return proc.alpha(t), proc.sigma(t), proc.prior_std

    p = make(name)
    t = interior_grid(p, 5)
    variants = [(name, p)]
    if name in HYPER_VARIANTS:
        variants.append((name, HYPER_VARIANTS[name]()))
    for ref_name, q in variants:
        a, s, prior_std = coefs(q, jnp.asarray(t, jnp.float32))
        a_ref, s_ref = reference_alpha_sigma(ref_name, q, t)
        np.testing.assert_allclose(a, a_ref, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(s, s_ref, rtol=2e-5, atol=1e-6)
        s_max = reference_alpha_sigma(ref_name, q, np.array([q.t_max]))[1][0]
        assert float(prior_std) == pytest.approx(s_max, rel=2e-5)
    assert len(traces) == 1  # hyper-parameters are leaves: no retrace for new values
    # a process survives tree round trips with its static fields
    q = jax.tree.map(lambda x: x, p)
    assert type(q) is type(p) and (q.t_min, q.t_max) == (p.t_min, p.t_max)
    # zeros_like (as optimisers and gradients do) rebuilds the process without raising
    z = jax.tree.map(jnp.zeros_like, p)
    assert type(z) is type(p) and (z.t_min, z.t_max) == (p.t_min, p.t_max)
    assert all(float(jnp.abs(leaf).max()) == 0 for leaf in jax.tree.leaves(z))


def test_pytree_leaves_and_static_fields():
    assert len(jax.tree.leaves(VPLinear())) == 2
    assert len(jax.tree.leaves(VE())) == 2
    assert len(jax.tree.leaves(SubVP())) == 2
    assert len(jax.tree.leaves(VPCosine())) == 1
    assert jax.tree.leaves(EDM()) == [] and jax.tree.leaves(RectifiedFlow()) == []
    (b,) = jax.tree.leaves(DiscreteDDPM.linear(100))
    assert b.shape == (100,)
    # t_min/t_max are static: a different truncation gives a different treedef
    assert jax.tree.structure(VPLinear(t_min=1e-3)) != jax.tree.structure(VPLinear(t_min=1e-5))
    assert jax.tree.structure(VPLinear(0.1, 20.0)) == jax.tree.structure(VPLinear(1.0, 2.0))


def test_vmap_over_hyper_parameters(x64):
    t = 0.6
    bmax = jnp.array([1.0, 5.0, 20.0])
    got = jax.vmap(lambda bm: VPLinear(beta_min=0.1, beta_max=bm).alpha(t))(bmax)
    np.testing.assert_allclose(got, np_vp_linear_alpha(t, 0.1, np.asarray(bmax)), rtol=1e-13)
    # vmap over a batched process (in_axes=0 over its leaves)
    batched = VPLinear(beta_min=jnp.full(3, 0.1), beta_max=bmax)
    got = jax.vmap(lambda p: p.diffusion_sq(t))(batched)
    np.testing.assert_allclose(got, 0.1 + t * (np.asarray(bmax) - 0.1), rtol=1e-13)
    smax = jnp.array([10.0, 50.0, 80.0])
    got = jax.vmap(lambda sm: VE(0.01, sm).sigma(t))(smax)
    np.testing.assert_allclose(got, 0.01 * (np.asarray(smax) / 0.01) ** t, rtol=1e-13)
    s = jnp.array([0.004, 0.008, 0.02])
    got = jax.vmap(lambda s_: VPCosine(s=s_).alpha(t) ** 2)(s)
    np.testing.assert_allclose(got, [np_cosine_alpha_bar(t, float(si)) for si in s], rtol=1e-12)
    got = jax.vmap(lambda bm: SubVP(0.1, bm).sigma(t))(bmax)
    np.testing.assert_allclose(got, 1 - np_vp_linear_alpha(t, 0.1, np.asarray(bmax)) ** 2,
                               rtol=1e-12)
    betas = jnp.stack([jnp.linspace(1e-3, b1, 20) for b1 in (0.05, 0.1, 0.2)])
    got = jax.jit(jax.vmap(lambda b: DiscreteDDPM(betas=b, t_min=0.05).alpha(1.0) ** 2))(betas)
    np.testing.assert_allclose(got, np.prod(1 - np.asarray(betas), axis=1), rtol=1e-12)


def test_grad_wrt_hyper_parameters(x64):
    t = 0.5
    # log alpha = -(b1 - b0) t^2/4 - b0 t/2
    a = np_vp_linear_alpha(t, 0.1, 20.0)
    g = jax.grad(lambda bm: VPLinear(0.1, bm).alpha(t))(20.0)
    assert float(g) == pytest.approx(-(t**2) / 4 * a, rel=1e-12)
    # gradient w.r.t. the whole process (a pytree of cotangents, which may be negative)
    gp = jax.grad(lambda p: p.alpha(t))(VPLinear(0.1, 20.0))
    assert isinstance(gp, VPLinear)
    assert float(gp.beta_min) == pytest.approx((t**2 / 4 - t / 2) * a, rel=1e-12)
    assert float(gp.beta_max) == pytest.approx(-(t**2) / 4 * a, rel=1e-12)
    # VE: sigma = smin^(1-t) smax^t
    gv = jax.grad(lambda p: p.sigma(t))(VE(0.01, 50.0))
    sig = 0.01 ** (1 - t) * 50.0**t
    assert float(gv.sigma_min) == pytest.approx(sig * (1 - t) / 0.01, rel=1e-12)
    assert float(gv.sigma_max) == pytest.approx(sig * t / 50.0, rel=1e-12)
    # VPCosine s, SubVP beta_max, the VPLinear diffusion against central differences
    for fn, x in [(lambda s: VPCosine(s=s).alpha(t), 0.008),
                  (lambda bm: SubVP(0.1, bm).sigma(t), 5.0),
                  (lambda bm: VPLinear(0.1, bm).diffusion_sq(t), 5.0)]:
        g = float(jax.grad(fn)(x))
        h = 1e-6 * x
        fd = (float(fn(x + h)) - float(fn(x - h))) / (2 * h)
        assert np.isfinite(g) and g == pytest.approx(fd, rel=1e-6)
    # DDPM: d log alpha(t_n) / d beta_i = -1/(2 (1 - beta_i)) for i <= n, else 0
    p = make("ddpm_short")
    gd = jax.jit(jax.grad(lambda q: q.log_alpha(7 / 20)))(p)
    want = np.where(np.arange(20) < 7, -0.5 / (1 - np.asarray(p.betas)), 0.0)
    np.testing.assert_allclose(gd.betas, want, rtol=1e-12, atol=1e-15)
    assert gd.t_min == p.t_min


# ---- 8. bad arguments ---------------------------------------------------------------

@pytest.mark.parametrize(
    "build, fragments",
    [
        (lambda: VPLinear(beta_min=-1), ["beta_min", "-1"]),
        (lambda: VPLinear(beta_min=0.0), ["beta_min", "0.0"]),
        (lambda: VPLinear(beta_min=1, beta_max=0.5), ["beta_max=0.5", "beta_min=1"]),
        (lambda: VPLinear(t_min=0.5, t_max=0.2), ["t_min=0.5", "t_max=0.2"]),
        (lambda: VPCosine(s=-0.1), ["s", "-0.1"]),
        (lambda: VPCosine(t_max=1.0), ["t_max=1.0"]),
        (lambda: VE(sigma_min=1, sigma_max=0.5), ["sigma_max=0.5", "sigma_min=1"]),
        (lambda: VE(sigma_min=-0.1), ["sigma_min", "-0.1"]),
        (lambda: EDM(t_min=1, t_max=0.5), ["t_min=1", "t_max=0.5"]),
        (lambda: EDM(t_min=0.0), ["t_min=0.0"]),
        (lambda: SubVP(beta_min=2.0, beta_max=1.0), ["beta_max=1.0", "beta_min=2.0"]),
        (lambda: SubVP(t_max=1.5), ["t_max=1.5"]),
        (lambda: DiscreteDDPM(betas=[0.5, 1.5]), ["1.5"]),
        (lambda: DiscreteDDPM(betas=[0.0, 0.5]), ["0.0"]),
        (lambda: DiscreteDDPM(betas=[0.1]), ["(1,)"]),
        (lambda: DiscreteDDPM(betas=np.full((2, 3), 0.1)), ["(2, 3)"]),
        (lambda: DiscreteDDPM(), ["betas", "DiscreteDDPM.linear"]),
        (lambda: DiscreteDDPM.linear(1), ["n_steps", "1"]),
        (lambda: DiscreteDDPM(betas=[0.1, 0.2], t_min=0.0, t_max=1.2), ["t_max=1.2"]),
        (lambda: RectifiedFlow(t_min=-0.1), ["t_min=-0.1"]),
        (lambda: RectifiedFlow(t_max=1.5), ["t_max=1.5"]),
        (lambda: get_process("nope"), ["'nope'"] + sorted(PROCESSES)),
        (lambda: get_process("vp_linear", beta_min=-2.0), ["beta_min", "-2.0"]),
        (lambda: karras_sigmas(1), ["n=1"]),
        (lambda: karras_sigmas(10, sigma_min=5.0, sigma_max=1.0), ["sigma_min=5.0"]),
        (lambda: karras_sigmas(10, rho=0.0), ["rho=0.0"]),
    ],
)
def test_bad_arguments_raise_naming_the_value(build, fragments):
    with pytest.raises(ValueError) as info:
        build()
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_validate_time(name):
    p = make(name)
    p.validate_time(p.t_min)
    p.validate_time(p.t_max)
    p.validate_time(0.5 * (p.t_min + p.t_max))
    for bad in (p.t_min - 1e-4 * (1 + p.t_min), p.t_max + 0.5):
        with pytest.raises(ValueError) as info:
            p.validate_time(bad, name="t_start")
        msg = str(info.value)
        assert f"t_start={bad}" in msg and str(p.t_min) in msg and str(p.t_max) in msg


def test_broadcast_to_x():
    x = jnp.zeros((4, 3, 2))
    assert broadcast_to_x(2.0, x).shape == ()
    c = broadcast_to_x(jnp.arange(4.0), x)
    assert c.shape == (4, 1, 1)
    np.testing.assert_array_equal((c + x)[:, 2, 1], np.arange(4.0))
    assert broadcast_to_x(jnp.ones((4, 3)), x).shape == (4, 3, 1)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4, 3, 2\)"):
        broadcast_to_x(jnp.ones(3), x)
    with pytest.raises(ValueError, match=r"\(4, 3, 2, 1\)"):
        broadcast_to_x(jnp.ones((4, 3, 2, 1)), x)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        VPLinear().perturb(x, jnp.full((5,), 0.5), x)


# ---- 9. prior and kernel densities --------------------------------------------------

@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_prior_log_prob_and_sample(name, x64):
    p = make(name)
    s_max = reference_alpha_sigma(name, p, np.array([p.t_max]))[1][0]
    assert float(p.prior_std) == pytest.approx(s_max, rel=1e-12)
    z = np.random.default_rng(1).normal(size=(5, 3, 2)) * 2 * s_max
    np.testing.assert_allclose(p.prior_log_prob(z),
                               stats.norm.logpdf(z, scale=s_max).sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(p.prior_log_prob(z[:, 0, 0]),
                               stats.norm.logpdf(z[:, 0, 0], scale=s_max), rtol=1e-12)
    x = np.asarray(p.prior_sample(jax.random.PRNGKey(0), (N_MC,), jnp.float64))
    assert x.dtype == np.float64 and x.shape == (N_MC,)
    assert abs(x.mean()) < 5 * s_max / math.sqrt(x.size)
    assert abs(x.std() - s_max) < 5 * s_max / math.sqrt(2 * x.size)


@jax.jit
def kernel_quantities(p, xt, x0, t):
    return (p.kernel_log_prob(xt, x0, t), p.kernel_log_prob(xt, x0, t[0]),
            p.kernel_log_prob(xt[:, 0, 0], x0[:, 0, 0], t))


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_kernel_log_prob(name, x64):
    p = make(name)
    rng = np.random.default_rng(2)
    t = interior_grid(p, 4)
    a, s = reference_alpha_sigma(name, p, t)
    a3, s3 = a[:, None, None], s[:, None, None]
    x0 = rng.normal(size=(4, 3, 2))
    xt = a3 * x0 + s3 * rng.normal(size=x0.shape) * 1.3
    per_example, scalar_t, one_d = kernel_quantities(p, xt, x0, jnp.asarray(t))
    want = stats.norm.logpdf(xt, loc=a3 * x0, scale=s3).sum(axis=(1, 2))
    np.testing.assert_allclose(per_example, want, rtol=1e-10)
    want = stats.norm.logpdf(xt, loc=a[0] * x0, scale=s[0]).sum(axis=(1, 2))
    np.testing.assert_allclose(scalar_t, want, rtol=1e-10)
    # 1-D data (B,): one value per example, like prior_log_prob
    want = stats.norm.logpdf(xt[:, 0, 0], loc=a * x0[:, 0, 0], scale=s)
    np.testing.assert_allclose(one_d, want, rtol=1e-10)


# ---- EDM helpers and the registry ----------------------------------------------------

def test_karras_sigmas(x64):
    n, smin, smax, rho = 18, 0.002, 80.0, 7.0
    got = np.asarray(karras_sigmas(n, smin, smax, rho))
    i = np.arange(n)
    want = (smax ** (1 / rho) + i / (n - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(smax, rel=1e-12) and got[-1] == pytest.approx(smin, rel=1e-12)
    assert np.all(np.diff(got) < 0)
    # rho = 1 is a uniform grid
    np.testing.assert_allclose(karras_sigmas(5, 1.0, 5.0, 1.0), [5, 4, 3, 2, 1], rtol=1e-12)
    p = EDM(t_min=0.01, t_max=10.0)
    np.testing.assert_allclose(p.karras_timesteps(9, rho=3.0),
                               karras_sigmas(9, 0.01, 10.0, 3.0), rtol=1e-14)


def test_get_process_forwards_kwargs():
    p = get_process("vp_linear", beta_max=10.0, t_min=1e-4)
    assert isinstance(p, VPLinear) and p.beta_max == 10.0 and p.t_min == 1e-4
    d = get_process("ddpm_discrete", n_steps=10)
    assert isinstance(d, DiscreteDDPM) and d.n_steps == 10 and d.t_min == pytest.approx(0.1)
    assert float(get_process("edm", t_max=10.0).prior_std) == pytest.approx(10.0)
    assert make("rectified_flow").name == "RectifiedFlow"


def test_discrete_ddpm_integer_time_is_not_truncated():
    """Integer t must be promoted to float before interpolating the t-grid."""
    p = DiscreteDDPM.linear()
    np.testing.assert_allclose(float(p.alpha(1)), float(p.alpha(1.0)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.alpha(jnp.asarray([0, 1]))),
                               np.asarray(p.alpha(jnp.asarray([0.0, 1.0]))), rtol=1e-6)
