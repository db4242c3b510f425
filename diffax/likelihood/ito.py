"""The Itô density estimator: log q_t along reverse-SDE samples, no divergence needed.

Skreta et al., 2025, "The Superposition of Diffusion Models Using the Itô Density
Estimator" (SuperDiff). For the forward SDE dx = f(t) x dt + g(t) dW with marginals q_t,
the Fokker-Planck equation gives

    d/dt log q_t = -d f - f <x, grad log q_t> + g^2/2 (Laplacian log q_t + ||grad log q_t||^2).

Along a path y_s = x_{T-s} of the reverse SDE, dy = [-f y + g^2 grad log q] ds + g dW,
Itô's lemma adds g^2/2 Laplacian log q ds, which cancels the Laplacian above:

    d log q_{T-s}(y_s) = <grad log q, dy> + [d f + f <y, grad log q> - g^2/2 ||grad log q||^2] ds.

With a learned score in place of grad log q and the Euler-Maruyama increment
dy = x_{t-h} - x_t (the score taken at the left point x_t, as the Itô integral needs),
one step t -> t - h adds

    <s(x_t, t), x_{t-h} - x_t> + h [d f(t) + f(t) <x_t, s> - g(t)^2/2 ||s||^2].

The estimate is exact pathwise as h -> 0 (strong order 1/2); it needs the increments of
an SDE with diffusion g dW (for an ODE path the Laplacian would not cancel). The score
is evaluated once per step, the same call that drives the sampler, so the density comes
for free with the sample (SuperDiff's OR/AND use it per model).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn, check_timesteps, predictor

Array = jax.Array


def _dot(a: Array, b: Array) -> Array:
    return jnp.sum((a * b).reshape(a.shape[0], -1), axis=-1)


def ito_log_density_increment(process: GaussianProcess, score: Array, x: Array,
                              x_next: Array, t: Any, t_next: Any) -> Array:
    """Change of log q along one reverse-SDE step x_t -> x_{t_next} (t_next < t), (B,).

    ``score`` is the (learned) score at (x_t, t); ``x_next`` the state the SDE step
    produced. Drift f(t) and g(t)^2 are taken at the left point t.
    """
    t = jnp.asarray(t, x.dtype)
    h = t - jnp.asarray(t_next, x.dtype)
    d = math.prod(x.shape[1:])
    f, g2 = process.drift_coef(t), process.diffusion_sq(t)
    return _dot(score, x_next - x) + h * (d * f + f * _dot(x, score)
                                          - 0.5 * g2 * _dot(score, score))


def euler_maruyama_step(process: GaussianProcess, score: Array, x: Array, t: Any,
                        t_next: Any, noise: Array) -> Array:
    """x_{t-h} = x_t + h [g^2 s - f x_t] + g sqrt(h) z, the reverse-SDE Euler-Maruyama step."""
    t = jnp.asarray(t, x.dtype)
    h = t - jnp.asarray(t_next, x.dtype)
    f, g2 = process.drift_coef(t), process.diffusion_sq(t)
    return x + h * (g2 * score - f * x) + jnp.sqrt(g2 * h) * noise


class ItoDensityOutput(struct.PyTreeNode):
    """Final samples ``x``, their estimated ``log_density`` (B,) at the last time, the
    log-density trajectory ``(N + 1, B)`` and the exact NFE (one score call per step)."""

    x: Array
    log_density: Array
    log_density_trajectory: Array
    nfe: int = struct.field(pytree_node=False, default=0)


def ito_log_density(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                    timesteps: Any, *, key: Array, prediction: str = "eps",
                    cond: dict | None = None,
                    log_prob_init: Callable[[Array], Array] | Array | None = None,
                    ) -> ItoDensityOutput:
    """Sample the reverse SDE by Euler-Maruyama and track log q_t of the samples.

    Args:
      model_fn, prediction, cond: the model (converted to a score).
      x_init: states at ``timesteps[0]`` (B, ...).
      timesteps: decreasing grid t_0 > ... > t_N.
      key: PRNG key for the SDE noise.
      log_prob_init: log q_{t_0}(x_init), as an array (B,) or a function of x_init
        (default ``process.prior_log_prob``).
    """
    ts = check_timesteps(timesteps, process, name="ito_log_density")
    x_init = jnp.asarray(x_init)
    if log_prob_init is None:
        log_prob_init = process.prior_log_prob
    lp0 = log_prob_init(x_init) if callable(log_prob_init) else jnp.asarray(log_prob_init)
    if lp0.shape != (x_init.shape[0],):
        raise ValueError(f"ito_log_density: log_prob_init must give one value per example, "
                         f"shape ({x_init.shape[0]},), got {lp0.shape}.")
    lp0 = lp0.astype(x_init.dtype)  # the trajectory too keeps the samples' dtype
    score_fn = predictor(model_fn, prediction, process, "score", cond)
    tj = jnp.asarray(ts, x_init.dtype)
    keys = jax.random.split(key, ts.shape[0] - 1)

    def step(carry, args):
        x, lp = carry
        t, t_next, k = args
        s = score_fn(x, t)
        x_next = euler_maruyama_step(process, s, x, t, t_next,
                                     jax.random.normal(k, x.shape, x.dtype))
        lp = lp + ito_log_density_increment(process, s, x, x_next, t, t_next)
        return (x_next, lp), lp

    (x, lp), traj = jax.lax.scan(step, (x_init, lp0), (tj[:-1], tj[1:], keys))
    return ItoDensityOutput(x=x, log_density=lp,
                            log_density_trajectory=jnp.concatenate([lp0[None], traj], 0),
                            nfe=int(ts.shape[0] - 1))


__all__ = ["ItoDensityOutput", "euler_maruyama_step", "ito_log_density",
           "ito_log_density_increment"]
