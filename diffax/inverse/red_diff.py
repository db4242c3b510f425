"""RED-diff (Mardani, Song, Kautz & Vahdat, 2024, "A Variational Perspective on Solving
Inverse Problems with Diffusion Models").

A variational distribution q(x_0 | y) = N(mu, s^2 I) with s -> 0 is fitted by stochastic
optimisation of mu (Adam via optax) over a descending sweep of noise levels t_N < ... :

    loss(mu) = ||y - A(mu)||^2 / (2 sigma_y^2) + lambda w(t) sg[eps_hat(x_t, t) - eps]^T mu,
    x_t = alpha_t mu + sigma_t eps,  eps ~ N(0, I),

the second term being the (stop-gradient, SNR-weighted) score-matching regularizer whose
gradient is the denoising residual (the paper's "RED" view). w(t) = (sigma_t / alpha_t)^p
(p = 1, inverse square-root SNR, the paper's choice). The result is mu: one estimate per
initialisation, mode-seeking rather than a posterior sample (its measured distance to the
exact posterior is in docs/inverse.md). NFE = number of optimisation steps. The loop runs
on :func:`diffax.samplers.base.run_scan`; the trajectory holds mu after every step.

Registered with ``start_scale=0.1`` (an experiment starts mu at 0.1 x_T, near the data
mean 0 with a random spread) and ``noise_floor=1e-3`` (the data weight
1 / (2 sigma_y^2) stays bounded for noiseless measurements).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from diffax import predictions
from diffax.inverse.common import check_measurement, check_noise_std
from diffax.inverse.registry import register
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (ModelFn, SampleOutput, check_timesteps, predictor,
                                  run_scan)

Array = jax.Array


@register("red_diff", start_scale=0.1, noise_floor=1e-3)
def red_diff(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Any, *,
             operator, y: Array, key: Array, noise_std: Any = 0.05, prediction: str = "eps",
             lam: Any = 0.25, weight_power: float = 1.0, learning_rate: float = 0.1,
             optimizer: optax.GradientTransformation | None = None,
             cond: dict | None = None, return_trajectory: bool = False) -> SampleOutput:
    """Optimise mu from ``x_init`` over the noise levels ``timesteps`` (decreasing: one
    Adam step per level). ``noise_std`` > 0 sets the data-fit weight 1 / (2 sigma_y^2)."""
    ts = check_timesteps(timesteps, process, name="red_diff")
    check_noise_std(noise_std, "red_diff")
    predictions.check_kind(prediction)
    x_init = jnp.asarray(x_init)
    check_measurement(operator, x_init, y, "red_diff")
    y = jnp.asarray(y, x_init.dtype)
    tx = optimizer or optax.adam(learning_rate)
    sy2 = jnp.maximum(jnp.asarray(noise_std, x_init.dtype) ** 2, 1e-12)
    eps_model = predictor(model_fn, prediction, process, "eps", cond)

    def step(carry, args):
        mu, opt_state = carry
        t, k = args
        a, s = process.alpha(t), process.sigma(t)
        eps = jax.random.normal(k, mu.shape, mu.dtype)
        reg = jax.lax.stop_gradient(eps_model(process.perturb(mu, t, eps), t) - eps)
        w = lam * (s / a) ** weight_power

        def loss(m):
            fit = jnp.sum((y - operator(m)) ** 2) / (2.0 * sy2)
            return fit + jnp.sum(w * reg * m)

        g = jax.grad(loss)(mu)
        upd, opt_state = tx.update(g, opt_state, mu)
        return optax.apply_updates(mu, upd), opt_state

    tj = jnp.asarray(ts, x_init.dtype)[:-1]
    keys = jax.random.split(key, tj.shape[0])
    (mu, _), traj = run_scan(step, (x_init, tx.init(x_init)), (tj, keys), lambda c: c[0],
                             x_init, return_trajectory)
    return SampleOutput(x=mu, trajectory=traj, nfe=int(tj.shape[0]))


__all__ = ["red_diff"]
