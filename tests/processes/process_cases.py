"""Shared cases for the process tests: every registered process plus non-default
variants, jitted evaluators (one compile per process), and independent NumPy
reference formulas (alpha, sigma, DDPM alphas_cumprod, the cosine schedule).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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
    get_process,
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
ALL = PROCESSES.names("gaussian") + sorted(EXTRA)
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


def np_edm_polynomial_alpha2(t, s=1e-5, power=2.0, T=1000, clip=1e-3):
    """alpha^2 = (1 - 2s) max(f(t), clip f(t - 1/T)) + s, f(t) = (1 - t^power)^2."""
    f = lambda u: (1 - np.clip(u, 0, 1) ** power) ** 2  # noqa: E731
    return (1 - 2 * s) * np.maximum(f(t), clip * f(t - 1 / T)) + s


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
    if name == "vp_polynomial":  # Hoogeboom et al. (2022), App. B, clip on the last step
        a2 = np_edm_polynomial_alpha2(t, float(p.precision), p.power, p.timesteps, p.clip)
        return np.sqrt(a2), np.sqrt(1 - a2)
    raise KeyError(name)

N_MC = 20_000  # Monte-Carlo sample size of the moment tests
