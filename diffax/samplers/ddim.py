"""DDIM (Song, Meng & Ermon, 2021, "Denoising Diffusion Implicit Models") for any
Gaussian process, and DDIM inversion.

One step from t to s < t, with (x0_hat, eps_hat) from one model evaluation at
(x_t, t), h = lambda_s - lambda_t and lambda = log(alpha^2 / sigma^2) (DDIM eq. 12
written with alpha, sigma instead of sqrt(alpha_bar), sqrt(1 - alpha_bar)):

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,
    c   = eta sigma_s sigma_{t|s} / sigma_t = eta sigma_s sqrt(1 - e^{-h}),

where sigma_{t|s}^2 = sigma_t^2 - (alpha_t/alpha_s)^2 sigma_s^2 is the variance of the
forward transition x_t | x_s (for VP, DDIM's sigma_t(eta) of eq. 16).

* ``eta = 0``: deterministic, x_s = alpha_s x0_hat + sigma_s eps_hat, the exponential
  Euler step of the probability-flow ODE: first order, identical to DPM-Solver-1
  (Lu et al., 2022) and DPM-Solver++(1).
* ``eta = 1``: c^2 = sigma_s^2 (1 - e^{-h}) is the variance of the Gaussian
  posterior q(x_s | x_t, x0), i.e. DDPM ancestral sampling (:func:`.sde.ancestral`).

NFE = N. With eta > 0 the sampler needs ``key``; ``denoise=True`` omits the noise of
the last step.

**Inversion** (DDIM Sec. 5.4; Dhariwal & Nichol, 2021, Appendix F): the same
deterministic step run on increasing times, x_u = alpha_u x0_hat(x_t, t) + sigma_u
eps_hat(x_t, t) for u > t. It evaluates the model at the start of each step, so it
does not invert :func:`ddim` exactly: the round trip x -> noise -> x has a first-order
error O(max step). See :mod:`.bdia` for an exact inversion.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    require_key,
    x0_eps_predictor,
)
from diffax.samplers.noisy_steps import run_noisy_steps
from diffax.samplers.registry import register

Array = jax.Array


def _x0_eps_update(f):
    """``update(x, t_i, a_i, b_i) = a_i x0_hat(x, t_i) + b_i eps_hat(x, t_i)``: the step
    of DDIM (b = sqrt(sigma_s^2 - c^2)) and of its inversion (a, b = alpha_u, sigma_u)."""
    def update(x, t_i, a_i, b_i):
        x0, eps = f(x, t_i)
        return a_i * x0 + b_i * eps
    return update


@register("ddim", order=1, options=dict(eta=0.0))
@register("ddim_eta1", order=None, stochastic=True, options=dict(eta=1.0))
def ddim(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Array, *,
         prediction: str = "eps", key: Array | None = None, return_trajectory: bool = False,
         cond: dict | None = None, eta: float = 0.0, denoise: bool = True) -> SampleOutput:
    """DDIM with stochasticity ``eta`` in [0, 1] (see module docstring); ``key`` is
    required when eta != 0 and ignored when eta == 0."""
    ts = check_timesteps(timesteps, process, name="ddim")
    checks.boolean("ddim", "denoise", denoise)
    eta_c = None if checks.concrete(eta) is None else float(eta)
    if eta_c is not None and not 0.0 <= eta_c <= 1.0:
        raise ValueError(f"ddim: eta must lie in [0, 1] (0 = deterministic DDIM, 1 = DDPM "
                         f"ancestral variance), got eta={eta!r}.")
    stochastic = eta_c != 0.0
    if stochastic:
        key = require_key(key, "ddim with eta > 0")
    dtype = x_init.dtype
    t, s = ts[:-1], ts[1:]
    alpha_s = process.alpha(s).astype(dtype)
    sigma_s = process.sigma(s).astype(dtype)
    update = _x0_eps_update(x0_eps_predictor(model_fn, prediction, process, cond))
    if not stochastic:
        return run_noisy_steps(update, x_init, (t, alpha_s, sigma_s),
                               return_trajectory=return_trajectory)
    one_minus_e = (-jnp.expm1(process.log_snr(t) - process.log_snr(s))).astype(dtype)
    eta2 = jnp.asarray(eta, dtype) ** 2
    c_eps = sigma_s * jnp.sqrt(1.0 - eta2 * one_minus_e)
    c_noise = jnp.sqrt(eta2) * sigma_s * jnp.sqrt(one_minus_e)
    return run_noisy_steps(update, x_init, (t, alpha_s, c_eps), noise=c_noise, key=key,
                           denoise=denoise, return_trajectory=return_trajectory)


def ddim_inversion(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                   timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
                   return_trajectory: bool = False, cond: dict | None = None) -> SampleOutput:
    """Deterministic DDIM inversion on increasing ``timesteps`` (data -> noise):

        x_{t_{i+1}} = alpha_{t_{i+1}} x0_hat(x_{t_i}, t_i) + sigma_{t_{i+1}} eps_hat(x_{t_i}, t_i).

    Approximate (first order); NFE = N; ``key`` is ignored.
    """
    ts = check_timesteps(timesteps, process, increasing=True, name="ddim_inversion")
    dtype = x_init.dtype
    alpha_u = process.alpha(ts[1:]).astype(dtype)
    sigma_u = process.sigma(ts[1:]).astype(dtype)
    update = _x0_eps_update(x0_eps_predictor(model_fn, prediction, process, cond))
    return run_noisy_steps(update, x_init, (ts[:-1], alpha_u, sigma_u),
                           return_trajectory=return_trajectory)
