"""Parameterizations of a denoising network, and the one place that converts them.

For a Gaussian process x_t = alpha x0 + sigma eps (alpha, sigma at time t), a network
may predict any of

* ``"eps"``      the noise eps (Ho et al., 2020),
* ``"x0"``       the clean data, i.e. the denoiser D(x_t) = E[x0 | x_t] (Karras et al., 2022),
* ``"v"``        v = alpha eps - sigma x0 (Salimans & Ho, 2022; for a VP process this is
                 their v, for others the same linear combination),
* ``"score"``    grad log p_t(x_t) = -eps / sigma (Song et al., 2021),
* ``"velocity"`` the flow-matching velocity u = alpha' x0 + sigma' eps, the time
                 derivative of the interpolant (Lipman et al., 2023; Liu et al., 2023).

Every kind is a linear function of (x0, eps) given x_t, and (x_t, pred) determines
(x0, eps) whenever the 2x2 system is invertible:

    x_t = alpha x0 + sigma eps
    v   = -sigma x0 + alpha eps          det = alpha^2 + sigma^2
    u   = alpha' x0 + sigma' eps         det = alpha sigma' - sigma alpha'
                                             = -alpha sigma lambda'(t) / 2 > 0.

Samplers and losses never re-derive these formulas: they call :func:`convert`,
:func:`to_x0_eps` or :func:`wrap_model`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess, broadcast_to_x

Array = jax.Array
ModelFn = Callable[..., Array]

KINDS = ("eps", "x0", "v", "score", "velocity")


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a ValueError listing them."""
    return checks.choice("", "prediction kind", kind, KINDS)


def _coefs(process: GaussianProcess, t: Any, x: Array):
    a = broadcast_to_x(process.alpha(t), x)
    s = broadcast_to_x(process.sigma(t), x)
    return a, s


def to_x0_eps(kind: str, pred: Array, x: Array, t: Any,
              process: GaussianProcess) -> tuple[Array, Array]:
    """Recover ``(x0, eps)`` from a prediction of ``kind`` at ``(x, t)``."""
    check_kind(kind)
    a, s = _coefs(process, t, x)
    if kind == "eps":
        return (x - s * pred) / a, pred
    if kind == "x0":
        return pred, (x - a * pred) / s
    if kind == "score":
        eps = -s * pred
        return (x - s * eps) / a, eps
    if kind == "v":
        det = a**2 + s**2
        return (a * x - s * pred) / det, (s * x + a * pred) / det
    # velocity: solve [[a, s], [a', s']] [x0, eps] = [x, u]
    da = broadcast_to_x(process.d_alpha_dt(t), x)
    ds = broadcast_to_x(process.d_sigma_dt(t), x)
    det = a * ds - s * da
    return (ds * x - s * pred) / det, (a * pred - da * x) / det


def from_x0_eps(kind: str, x0: Array, eps: Array, x: Array, t: Any,
                process: GaussianProcess) -> Array:
    """Express ``(x0, eps)`` at ``(x, t)`` as a prediction of ``kind``."""
    check_kind(kind)
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    a, s = _coefs(process, t, x)
    if kind == "score":
        return -eps / s
    if kind == "v":
        return a * eps - s * x0
    da = broadcast_to_x(process.d_alpha_dt(t), x)
    ds = broadcast_to_x(process.d_sigma_dt(t), x)
    return da * x0 + ds * eps


def convert(pred: Array, from_kind: str, to_kind: str, x: Array, t: Any,
            process: GaussianProcess) -> Array:
    """Convert a prediction between kinds, e.g. ``convert(eps, "eps", "x0", x, t, p)``."""
    check_kind(to_kind)
    if from_kind == to_kind:
        check_kind(from_kind)
        return pred
    x0, eps = to_x0_eps(from_kind, pred, x, t, process)
    return from_x0_eps(to_kind, x0, eps, x, t, process)


def wrap_model(model_fn: ModelFn, from_kind: str, to_kind: str,
               process: GaussianProcess) -> ModelFn:
    """Turn ``model_fn(x, t, **cond)`` predicting ``from_kind`` into one predicting
    ``to_kind`` (same signature)."""
    check_kind(from_kind)
    check_kind(to_kind)
    if from_kind == to_kind:
        return model_fn

    def wrapped(x, t, **cond):
        return convert(model_fn(x, t, **cond), from_kind, to_kind, x, t, process)

    return wrapped


# ---- EDM preconditioning -------------------------------------------------------------

def edm_scalings(sigma: Any, sigma_data: float = 0.5) -> tuple[Array, Array, Array, Array]:
    """Karras et al. (2022), Table 1 ("Preconditioning"):

        c_skip = sd^2 / (s^2 + sd^2),  c_out = s sd / sqrt(s^2 + sd^2),
        c_in = 1 / sqrt(s^2 + sd^2),   c_noise = log(s) / 4.
    """
    sigma = jnp.asarray(sigma)
    sd2 = sigma_data**2
    c_skip = sd2 / (sigma**2 + sd2)
    c_out = sigma * sigma_data / jnp.sqrt(sigma**2 + sd2)
    c_in = 1.0 / jnp.sqrt(sigma**2 + sd2)
    c_noise = 0.25 * jnp.log(sigma)
    return c_skip, c_out, c_in, c_noise


def edm_precondition(raw_fn: ModelFn, process: GaussianProcess,
                     sigma_data: float = 0.5) -> ModelFn:
    """Wrap a raw network ``F(x_in, c_noise, **cond)`` into an x0-predictor (denoiser).

    For alpha = 1 this is EDM's D(x; s) = c_skip x + c_out F(c_in x; c_noise). For any
    Gaussian process the same formula is applied to the rescaled state x/alpha, which
    is x0 plus noise of std s = sigma/alpha (so VP, VE and flows share one wrapper).
    Returns ``denoiser(x, t, **cond)``; pair it with prediction kind ``"x0"``.
    """
    checks.positive("edm_precondition", "sigma_data", sigma_data, skip_traced=True)

    def denoiser(x, t, **cond):
        a = process.alpha(t)
        s = process.sigma(t) / a
        c_skip, c_out, c_in, c_noise = edm_scalings(s, sigma_data)
        x_scaled = x / broadcast_to_x(a, x)
        f = raw_fn(broadcast_to_x(c_in, x) * x_scaled, c_noise, **cond)
        return broadcast_to_x(c_skip, x) * x_scaled + broadcast_to_x(c_out, x) * f

    return denoiser
