"""Multistep consistency sampling (Song et al., 2023, "Consistency Models", Algorithm 1).

A consistency model f(x, t) maps any point of a probability-flow ODE trajectory to the
trajectory's end. The sampler alternates one evaluation of f with a fresh forward
perturbation: on the grid t_0 > t_1 > ... > t_N,

    y_i     = f(x_i, t_i)                                     (a sample at t_N),
    x_{i+1} = alpha_{i+1} / alpha_N y_i
              + sqrt(sigma_{i+1}^2 - (alpha_{i+1} sigma_N / alpha_N)^2) z_i,   z_i ~ N(0, I),

the exact transition p(x_{t_{i+1}} | x_{t_N}) of the forward process. With alpha = 1
(EDM / VE) and t_N = eps this is the paper's x <- x + sqrt(tau_n^2 - eps^2) z. At the
last step i = N - 1 the noise scale is 0, so the output is alpha_N / alpha_N f(x_{N-1},
t_{N-1}) = y_{N-1}: the last evaluation of f. NFE = N (one step is one-step generation).

``model_fn`` is the consistency function, read through ``prediction`` as an ``"x0"``
prediction (a consistency model predicts the sample itself, hence the default
``prediction="x0"``); any other kind is converted by :mod:`diffax.predictions` (with a
diffusion model's denoiser this is the "denoise, then re-noise" sampler). If f is exact
and x_0 is drawn from the marginal at t_0, every x_i is drawn from the marginal at t_i
and the output from the marginal at t_N, for any grid (tested on the mixture oracle in
tests/samplers/test_consistency_sampler.py). Stochastic: ``key`` is required.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    predictor,
    require_key,
    run_scan,
)
from diffax.samplers.registry import register


def renoise_coefficients(process: GaussianProcess, ts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(a_i, b_i)`` for i = 1..N with x_{t_i} = a_i x_{t_N} + b_i z the forward
    transition from t_N to t_i: a_i = alpha_i / alpha_N, b_i = sqrt(sigma_i^2 - (a_i
    sigma_N)^2); b_N = 0 exactly."""
    alpha, sigma = process.alpha(ts), process.sigma(ts)
    a = alpha[1:] / alpha[-1]
    var = sigma[1:] ** 2 - (a * sigma[-1]) ** 2
    last = jnp.arange(var.shape[0]) == var.shape[0] - 1
    # the last entry is the kernel from t_N to itself; where() keeps sqrt's derivative at
    # 0 out of differentiation with respect to the grid
    safe = jnp.where(last, 1.0, jnp.maximum(var, 0.0))
    return a, jnp.where(last, 0.0, jnp.sqrt(safe))


@register("consistency", order=None, stochastic=True)
def consistency(model_fn: ModelFn, process: GaussianProcess, x_init: jax.Array,
                timesteps: jax.Array, *, prediction: str = "x0",
                key: jax.Array | None = None, return_trajectory: bool = False,
                cond: dict | None = None) -> SampleOutput:
    """Multistep consistency sampling from ``timesteps[0]`` to ``timesteps[-1]`` (module
    docstring); the trajectory holds the re-noised states x_1..x_{N-1} and the output."""
    ts = check_timesteps(timesteps, process, name="consistency")
    key = require_key(key, "consistency")
    f = predictor(model_fn, prediction, process, "x0", cond)
    a, b = renoise_coefficients(process, ts)
    keys = jax.random.split(key, ts.shape[0] - 1)

    def step(x, inp):
        t, a_next, b_next, k = inp
        y = f(x, t)
        z = jax.random.normal(k, x.shape, x.dtype)
        return a_next.astype(x.dtype) * y + b_next.astype(x.dtype) * z

    x, traj = run_scan(step, x_init, (ts[:-1], a, b, keys), lambda x: x, x_init,
                       return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=ts.shape[0] - 1)
