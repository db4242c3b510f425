"""Pseudoinverse-guided diffusion (PiGDM; Song, Vahdat, Mardani & Kautz, 2023,
"Pseudoinverse-Guided Diffusion Models for Inverse Problems").

PiGDM approximates p(x_0 | x_t) by N(x0_hat(x_t), r_t^2 I) with
r_t^2 = c sigma_t^2 / (alpha_t^2 c + sigma_t^2) (the exact posterior variance for data
N(mu, c I); c = ``prior_variance``, 1 in the paper). For y = A x_0 + sigma_y n this gives
p(y | x_t) ~ N(A x0_hat, r_t^2 A A^T + sigma_y^2 I) and the guidance

    grad_{x_t} log p(y | x_t) = (d x0_hat / d x_t)^T A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0_hat),

one vector-Jacobian product through the denoiser. (With sigma_y = 0 and A of full row
rank, A^T (A A^T)^{-1} = A^+: the paper's noiseless form.) The guided score
score + scale * g is returned as a ``model_fn`` of the original prediction kind, so any
sampler can use it; :func:`pigdm` runs it with the registered DDIM sampler (the paper's
choice, eta configurable). For Gaussian data N(mu, c I) the guided score is the exact posterior
score, so sampling is exact as the step count grows (tested).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax import predictions, samplers
from diffax.inverse.common import (check_measurement, check_noise_std,
                                   check_normal_solve_operator)
from diffax.inverse.registry import register
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps

Array = jax.Array


def pigdm_guidance(model_fn: ModelFn, process: GaussianProcess, operator, y: Array, *,
                   noise_std: Any, prediction: str = "eps", prior_variance: Any = 1.0,
                   scale: Any = 1.0) -> ModelFn:
    """``model_fn`` guided towards y = A x + noise_std n (same prediction kind)."""
    predictions.check_kind(prediction)
    check_noise_std(noise_std, "pigdm_guidance")
    check_normal_solve_operator(operator, "pigdm_guidance")

    def guided(x, t, **cond):
        def x0_fn(z):
            out = model_fn(z, t, **cond)
            return predictions.convert(out, prediction, "x0", z, t, process), out

        x0, vjp_fn, out = jax.vjp(x0_fn, x, has_aux=True)
        a, s = process.alpha(t), process.sigma(t)
        c = jnp.asarray(prior_variance, x.dtype)
        r2 = c * s**2 / (a**2 * c + s**2)  # (B,) or scalar
        if jnp.ndim(r2):
            r2 = r2[0]  # the samplers call with one time per batch
        resid = jnp.asarray(y, x.dtype) - operator(x0)
        w = operator.normal_solve(resid, r2, jnp.asarray(noise_std, x.dtype) ** 2, x.shape[1:])
        (g,) = vjp_fn(operator.transpose(w, x.shape[1:]))
        score = predictions.convert(out, prediction, "score", x, t, process)
        return predictions.convert(score + broadcast_to_x(jnp.asarray(scale), x) * g, "score",
                                   prediction, x, t, process)

    return guided


@register("pigdm", noise_floor=1e-3)
def pigdm(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any, *,
          operator, y: Array, noise_std: Any = 0.0, prediction: str = "eps",
          key: Array | None = None, eta: float = 0.0, prior_variance: Any = 1.0,
          scale: Any = 1.0, cond: dict | None = None,
          return_trajectory: bool = False) -> SampleOutput:
    """PiGDM: :func:`pigdm_guidance` sampled by DDIM (``eta`` = 0 deterministic, 1
    ancestral; needs ``key``)."""
    check_timesteps(timesteps, process, name="pigdm")
    check_measurement(operator, jnp.asarray(x_init), y, "pigdm")
    guided = pigdm_guidance(model_fn, process, operator, y, noise_std=noise_std,
                            prediction=prediction, prior_variance=prior_variance, scale=scale)
    kw = {"key": key} if eta else {}
    # The DDIM sampler function itself: the registered names fix eta (0 or 1).
    ddim = samplers.sampler_info("ddim").fn
    return ddim(guided, process, x_init, timesteps, prediction=prediction, eta=eta,
                cond=cond, return_trajectory=return_trajectory, **kw)


__all__ = ["pigdm", "pigdm_guidance"]
