"""Shared pieces of the inverse-problem solvers: argument checks, the DDIM/ancestral step
written with (x0_hat, eps_hat), and noised measurements. Time grids are checked by the
samplers' own ``diffax.samplers.base.check_timesteps``.

One step from t to s < t (DDIM eq. 12 for any Gaussian process, h = lambda_s - lambda_t):

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,  c = eta sigma_s sqrt(1 - e^{-h});

eta = 1 is DDPM's ancestral step (the posterior q(x_s | x_t, x0_hat)), eta = 0 the
deterministic DDIM step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diffax import predictions
from diffax.processes.base import GaussianProcess

Array = jax.Array


def check_noise_std(noise_std: Any, where: str) -> None:
    try:
        v = float(noise_std)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return  # traced: checked by the caller's own tests
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{where}: noise_std must be a finite number >= 0, got {noise_std!r}.")


def check_measurement(operator, x: Array, y: Array, where: str) -> None:
    expected = jax.eval_shape(operator, jax.ShapeDtypeStruct(x.shape, x.dtype)).shape
    if tuple(jnp.shape(y)) != tuple(expected):
        raise ValueError(f"{where}: y has shape {tuple(jnp.shape(y))} but the operator maps x "
                         f"of shape {x.shape} to {tuple(expected)}.")


def x0_eps(model_fn, prediction: str, process: GaussianProcess, x: Array, t: Array,
           cond: dict | None) -> tuple[Array, Array]:
    """(x0_hat, eps_hat) from one model evaluation at scalar time t."""
    tb = jnp.full((x.shape[0],), t, x.dtype)
    return predictions.to_x0_eps(prediction, model_fn(x, tb, **(cond or {})), x, tb, process)


def ddim_step(process: GaussianProcess, x0: Array, eps: Array, t: Array, s: Array,
              eta: Any, z: Array) -> Array:
    a_s, s_s = process.alpha(s), process.sigma(s)
    h = process.log_snr(s) - process.log_snr(t)
    c = eta * s_s * jnp.sqrt(-jnp.expm1(-h))
    return a_s * x0 + jnp.sqrt(jnp.maximum(s_s**2 - c**2, 0.0)) * eps + c * z


def forward_jump(process: GaussianProcess, x_s: Array, s: Array, t: Array, z: Array) -> Array:
    """Re-noise x_s to the later time t: x_t = alpha_{t|s} x_s + sigma_{t|s} z."""
    a = process.alpha(t) / process.alpha(s)
    var = process.sigma(t) ** 2 - a**2 * process.sigma(s) ** 2
    return a * x_s + jnp.sqrt(jnp.maximum(var, 0.0)) * z


def per_example_norm(r: Array) -> Array:
    return jnp.sqrt(jnp.sum(r.reshape(r.shape[0], -1) ** 2, axis=-1))


def bcast(v: Array, x: Array) -> Array:
    return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))
