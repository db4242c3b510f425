"""Affine steps of the reverse-time SDE, shared by :mod:`.sde` and :mod:`.langevin`.

One step from t to s < t of Euler-Maruyama, score_sde's reverse-diffusion predictor and
ancestral (DDPM) sampling is affine in the state, one model prediction and a fresh
normal draw z (the formulas and references are in :mod:`.sde`):

    x_s = a x_t + b pred(x_t, t) + c z.

:func:`predictor_coefficients` returns the tables (a, b, c) over a grid and the
prediction kind they multiply. This module knows nothing of the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess

Array = jax.Array

PREDICTORS = ("euler_maruyama", "reverse_diffusion", "ancestral")
VARIANCES = ("small", "large")


def predictor_coefficients(name: str, process: GaussianProcess, t: Array, s: Array,
                           variance: str = "small") -> tuple[str, Array, Array, Array]:
    """Coefficient tables of one reverse step t -> s (arrays of shape (N,)).

    Returns ``(target_kind, a, b, c)`` with ``x_s = a x_t + b pred + c z`` and
    ``pred`` the model's prediction of ``target_kind`` at ``(x_t, t)``; the formulas
    are in the docstring of :mod:`diffax.samplers.sde`.
    """
    checks.choice("predictor_coefficients", "predictor", name, PREDICTORS)
    if name == "euler_maruyama":
        dt = t - s  # > 0
        g2 = process.diffusion_sq(t)
        return "score", 1.0 - dt * process.drift_coef(t), dt * g2, jnp.sqrt(g2 * dt)
    lam_t, lam_s = process.log_snr(t), process.log_snr(s)
    one_minus_e = -jnp.expm1(lam_t - lam_s)  # 1 - e^{-h} = sigma_{t|s}^2 / sigma_t^2
    if name == "reverse_diffusion":
        alpha_ts = jnp.exp(process.log_alpha(t) - process.log_alpha(s))
        sig_ts2 = process.sigma(t) ** 2 * one_minus_e
        return "score", 2.0 - alpha_ts, sig_ts2, jnp.sqrt(sig_ts2)
    checks.choice("ancestral", "variance", variance, VARIANCES)
    log_sig_t, log_sig_s = process.log_sigma(t), process.log_sigma(s)
    a = jnp.exp(0.5 * (lam_t - lam_s) + log_sig_s - log_sig_t)
    b = process.alpha(s) * one_minus_e
    c = jnp.exp(log_sig_s if variance == "small" else log_sig_t) * jnp.sqrt(one_minus_e)
    return "x0", a, b, c
