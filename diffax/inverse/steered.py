"""Steered diffusion (Nair et al., 2023, "Steered Diffusion: A Generalized Framework for
Plug-and-Play Conditional Image Synthesis").

The sampler is steered by an energy of the denoised estimate x0_hat(x_t) built from a
pretrained **inverse model** of the task (a super-resolution, colorization or inpainting
network, a face-identity network, ...), here a user-supplied ``energy_fn(x0_hat, y) ->
(B,)`` (default: measurement consistency ||A(x0_hat) - y||^2).

* :func:`steered_guidance`: ``model_fn`` wrapper for any sampler, score -
  scale(t) grad_{x_t} energy(x0_hat(x_t), y) (:func:`~diffax.inverse.guidance.loss_guidance`);
* :func:`steered`: each DDIM step from t to s is followed by a gradient step on the
  energy through the denoiser,

      x_s <- x_s - rho_t grad_{x_t} energy(x0_hat(x_t), y),   rho_t = step_size * sigma_t^2,

  and, like the paper's inner loop, the step t -> s can be repeated ``n_inner`` times,
  re-noising x_s back to t in between (:mod:`~diffax.inverse.time_travel`;
  NFE = N * n_inner).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks, predictions
from diffax.inverse.common import check_measurement
from diffax.inverse.guidance import (LossFn, as_schedule, loss_guidance, squared_residual,
                                     x0_loss_gradient)
from diffax.inverse.registry import register
from diffax.inverse.steps import renoise_prediction
from diffax.inverse.time_travel import repeat_block
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps, run_scan

Array = jax.Array
EnergyFn = Callable[[Array, Array], Array]


def _energy(energy_fn: EnergyFn | None, operator, y: Array, where: str) -> LossFn:
    """The per-example energy of x0_hat: ``energy_fn(x0, y)``, or ||y - A(x0)||^2."""
    if energy_fn is not None:
        return lambda x0: energy_fn(x0, y)
    if operator is None:
        raise ValueError(f"{where}: pass energy_fn(x0_hat, y) (an inverse model's loss) "
                         "or operator (for ||A(x0_hat) - y||^2).")
    return squared_residual(operator, y)


def steered_guidance(model_fn: ModelFn, process: GaussianProcess, y: Array, *,
                     operator=None, energy_fn: EnergyFn | None = None,
                     prediction: str = "eps", scale: Any = 1.0) -> ModelFn:
    """``model_fn`` (same prediction kind) steered by ``energy_fn(x0_hat, y)`` (or
    ||y - A(x0_hat)||^2): score - scale(t) grad_{x_t} energy."""
    scale_t = as_schedule(scale)
    return loss_guidance(model_fn, process, _energy(energy_fn, operator, y,
                                                    "steered_guidance"),
                         prediction=prediction, weight=lambda losses, t: scale_t(t))


@register("steered")
def steered(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any, *,
            operator=None, y: Array, key: Array, prediction: str = "eps",
            energy_fn: EnergyFn | None = None, step_size: Any = 1.0, eta: Any = 1.0,
            n_inner: int = 1, noise_std: Any = None, cond: dict | None = None,
            return_trajectory: bool = False) -> SampleOutput:
    """Steered sampling; pass ``energy_fn`` (an inverse model's loss) or ``operator``.
    ``noise_std`` is accepted for a uniform solver signature (unused)."""
    where = "steered"
    ts = check_timesteps(timesteps, process, name=where)
    predictions.check_kind(prediction)
    n_inner = checks.positive_int(where, "n_inner", n_inner)
    x_init = jnp.asarray(x_init)
    if operator is not None:
        check_measurement(operator, x_init, y, where)
    y = jnp.asarray(y, x_init.dtype)
    gradient = x0_loss_gradient(model_fn, prediction, process,
                                _energy(energy_fn, operator, y, where), cond)

    def step(x, args):
        t, s, k = args

        def once(x, k):
            g, x0, eps, _ = gradient(x, t)
            x_s = renoise_prediction(process, x0, eps, t, s, eta,
                                     jax.random.normal(k, x.shape, x.dtype))
            return x_s - step_size * process.sigma(t) ** 2 * g

        return repeat_block(process, once, x, t, s, k, n_inner)

    tj = jnp.asarray(ts, x_init.dtype)
    xs = (tj[:-1], tj[1:], jax.random.split(key, ts.shape[0] - 1))
    x, traj = run_scan(step, x_init, xs, lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=int((ts.shape[0] - 1) * n_inner))


__all__ = ["steered", "steered_guidance"]
