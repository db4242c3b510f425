"""Replacement (score_sde's "controllable generation") and RePaint resampling.

**Replacement** (Song et al., 2021, "Score-Based Generative Modeling through SDEs",
App. I.2; for general A with a pseudo-inverse as in DDRM/DDNM-style projections): after
each unconditional step to time s, the measured component is replaced by a forward-noised
measurement y_s = alpha_s y + sigma_s A(z):

    x_s <- x_s + A^+ (y_s - A x_s)          (inpainting: x_s <- (1 - m) x_s + m y_s).

**RePaint** (Lugmayr et al., 2022, "RePaint: Inpainting using Denoising Diffusion
Probabilistic Models"): the reverse steps are grouped in blocks of ``jump_length``; each
block is run ``n_resample`` times, jumping back to the block's start by the forward
transition x_t = alpha_{t|s} x_s + sigma_{t|s} z between repetitions
(:mod:`~diffax.inverse.time_travel`), which lets the unmeasured part harmonize with the
measured one. ``n_resample = 1`` is plain replacement.

Both use the DDIM/ancestral step (``eta`` = 1: DDPM, the papers' choice). They condition
on the measurement only through the projection: with noisy measurements they treat y as
exact (a known bias, reported in docs/inverse.md). The blocks run on
:func:`diffax.samplers.base.run_scan`; the trajectory holds the state at the block
boundaries timesteps[::jump_length] (every timestep for replacement).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax import checks, predictions
from diffax.inverse.common import check_measurement, check_pinv_operator
from diffax.inverse.registry import register
from diffax.inverse.steps import renoise_prediction
from diffax.inverse.time_travel import repeat_block
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (ModelFn, SampleOutput, check_timesteps, run_scan,
                                  x0_eps_predictor)

Array = jax.Array


@register("repaint")
def repaint(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any, *,
            operator, y: Array, key: Array, prediction: str = "eps", jump_length: int = 1,
            n_resample: int = 1, eta: Any = 1.0, noise_std: Any = None,
            cond: dict | None = None, return_trajectory: bool = False) -> SampleOutput:
    """RePaint; NFE = N * n_resample. ``len(timesteps) - 1`` must be a multiple of
    ``jump_length``. ``noise_std`` is accepted for a uniform solver signature (unused)."""
    where = "repaint"
    ts = check_timesteps(timesteps, process, name=where)
    predictions.check_kind(prediction)
    check_pinv_operator(operator, where)
    n = ts.shape[0] - 1
    jump_length = checks.positive_int(where, "jump_length", jump_length)
    n_resample = checks.positive_int(where, "n_resample", n_resample)
    if n % jump_length:
        raise ValueError(f"{where}: the {n} steps must be a multiple of jump_length="
                         f"{jump_length}; pick a grid with a multiple of that many steps.")
    x_init = jnp.asarray(x_init)
    check_measurement(operator, x_init, y, where)
    y = jnp.asarray(y, x_init.dtype)
    event = x_init.shape[1:]
    denoise = x0_eps_predictor(model_fn, prediction, process, cond)
    tj = jnp.asarray(ts, x_init.dtype).reshape(-1)
    blocks = n // jump_length
    t_from = tj[:-1].reshape(blocks, jump_length)
    t_to = tj[1:].reshape(blocks, jump_length)

    def reverse(x, args):
        """One step t -> s, then the measured part replaced by the noised measurement."""
        t, s, k = args
        k_step, k_meas = jax.random.split(k)
        x0, eps = denoise(x, t)
        x_s = renoise_prediction(process, x0, eps, t, s, eta,
                                 jax.random.normal(k_step, x.shape, x.dtype))
        y_s = process.alpha(s) * y + process.sigma(s) * operator(
            jax.random.normal(k_meas, x.shape, x.dtype))
        return (x_s + operator.pinv(y_s - operator(x_s), event)).astype(x.dtype), None

    def block(x, args):
        tf, tt, k = args

        def steps(x, k):
            return jax.lax.scan(reverse, x, (tf, tt, jax.random.split(k, jump_length)))[0]

        return repeat_block(process, steps, x, tf[0], tt[-1], k, n_resample)

    x, traj = run_scan(block, x_init, (t_from, t_to, jax.random.split(key, blocks)),
                       lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=int(n * n_resample))


@register("replacement")
def replacement(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any,
                *, operator, y: Array, key: Array, prediction: str = "eps", eta: Any = 1.0,
                noise_std: Any = None, cond: dict | None = None,
                return_trajectory: bool = False) -> SampleOutput:
    """score_sde replacement sampling (RePaint without resampling); NFE = N."""
    return repaint(model_fn, process, x_init, timesteps, operator=operator, y=y, key=key,
                   prediction=prediction, eta=eta, cond=cond,
                   return_trajectory=return_trajectory)


__all__ = ["repaint", "replacement"]
