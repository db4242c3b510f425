"""Steered diffusion (Nair et al., 2023, "Steered Diffusion: A Generalized Framework for
Plug-and-Play Conditional Image Synthesis").

The sampler is steered by an energy of the denoised estimate x0_hat(x_t) built from a
pretrained **inverse model** of the task (a super-resolution, colorization or inpainting
network, a face-identity network, ...), here a user-supplied ``energy_fn(x0_hat, y) ->
(B,)`` (default: measurement consistency ||A(x0_hat) - y||^2). Each DDIM step from t to s
is followed by a gradient step on the energy through the denoiser,

    x_s <- x_s - rho_t grad_{x_t} energy(x0_hat(x_t), y),   rho_t = step_size * sigma_t^2,

and, like the paper's inner loop, the step t -> s can be repeated ``n_inner`` times,
re-noising x_s back to t in between (NFE = N * n_inner).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from diffax import predictions
from diffax.inverse.common import (check_measurement, ddim_step,
                                   forward_jump)
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps

Array = jax.Array


def steered(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any, *,
            operator=None, y: Array, key: Array, prediction: str = "eps",
            energy_fn: Callable[[Array, Array], Array] | None = None, step_size: Any = 1.0,
            eta: Any = 1.0, n_inner: int = 1, noise_std: Any = None,
            cond: dict | None = None) -> SampleOutput:
    """Steered sampling; pass ``energy_fn`` (an inverse model's loss) or ``operator``."""
    where = "steered"
    ts = check_timesteps(timesteps, process, name=where)
    predictions.check_kind(prediction)
    if energy_fn is None:
        if operator is None:
            raise ValueError(f"{where}: pass energy_fn(x0_hat, y) (an inverse model's loss) "
                             "or operator (for ||A(x0_hat) - y||^2).")

        def energy_fn(x0, yy):
            r = operator(x0) - yy
            return jnp.sum(r.reshape(r.shape[0], -1) ** 2, -1)
    if not isinstance(n_inner, (int, np.integer)) or n_inner < 1:
        raise ValueError(f"{where}: n_inner must be a positive int, got {n_inner!r}.")
    x_init = jnp.asarray(x_init)
    if operator is not None:
        check_measurement(operator, x_init, y, where)
    y = jnp.asarray(y, x_init.dtype)
    cond = cond or {}

    def once(x, t, s, k):
        tb = jnp.full((x.shape[0],), t, x.dtype)

        def energy(z):
            x0, eps = predictions.to_x0_eps(prediction, model_fn(z, tb, **cond), z, tb, process)
            return jnp.sum(energy_fn(x0, y)), (x0, eps)

        grad, (x0, eps) = jax.grad(energy, has_aux=True)(x)
        x_s = ddim_step(process, x0, eps, t, s, eta, jax.random.normal(k, x.shape, x.dtype))
        return x_s - step_size * process.sigma(t) ** 2 * grad

    def step(x, args):
        t, s, k = args

        def inner(x, args):
            r, kr = args
            k1, k2 = jax.random.split(kr)
            x_s = once(x, t, s, k1)
            back = forward_jump(process, x_s, s, t, jax.random.normal(k2, x.shape, x.dtype))
            return jnp.where(r < n_inner - 1, back, x_s), None

        x, _ = jax.lax.scan(inner, x, (jnp.arange(n_inner), jax.random.split(k, n_inner)))
        return x, None

    tj = jnp.asarray(ts, x_init.dtype)
    x, _ = jax.lax.scan(step, x_init, (tj[:-1], tj[1:], jax.random.split(key, ts.shape[0] - 1)))
    return SampleOutput(x=x, nfe=int((ts.shape[0] - 1) * n_inner))


__all__ = ["steered"]
