"""Superposition of diffusion models (SuperDiff): OR (mixture) and AND (equal density).

Skreta et al., 2025, "The Superposition of Diffusion Models Using the Itô Density
Estimator". Models i = 1..M with scores s_i share one forward process; the reverse SDE is
driven by a per-sample convex combination of their scores,

    dx = [f x - g^2 sum_i kappa_i s_i(x, t)] dt + g dW_bar,

and the log-densities log q^i_t(x_t) of the current samples under every model are tracked
for free by the Itô density estimator (:mod:`diffax.likelihood.ito`).

* **OR** samples the mixture sum_i w_i q^i. Its marginals are the mixtures of the
  marginals, so its score is exactly sum_i kappa_i s_i with
  kappa = softmax_i(log w_i + log q^i_t(x)); ``temperature`` T sharpens (T > 1) or
  flattens it: kappa = softmax(T log q + log w). With exact scores and densities this
  is the exact mixture sampler.
* **AND** (two models) keeps the samples where both models give the same density: at
  each step kappa solves the linear equation that makes the Itô increments restore
  log q^1 = log q^2 after the step. With dx(kappa) = dx_0 + kappa h g^2 (s_1 - s_2)
  (h = the step, dx_0 the step at kappa = 0 with the same noise) and
  c_i = d f + f <x, s_i> - g^2/2 ||s_i||^2,

      kappa = [log q^2 - log q^1 - <s_1 - s_2, dx_0> - h (c_1 - c_2)] / (h g^2 ||s_1 - s_2||^2).

  Samples then concentrate where both densities are high together, i.e. where the
  normalized product q^1 q^2 puts its mass (tested on two mixtures with one shared
  mode). AND uses the raw kappa, not clipped to [0, 1], as in the paper.

Each step evaluates every model once: NFE = M x steps.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.likelihood.ito import euler_maruyama_step, ito_log_density_increment
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn, check_timesteps, predictor

Array = jax.Array
MODES = ("or", "and")


class SuperpositionOutput(struct.PyTreeNode):
    """Samples ``x``, each model's estimated log-density of them ``log_densities``
    (M, B), the weights used at every step ``kappa`` (N, M, B) and the exact NFE."""

    x: Array
    log_densities: Array
    kappa: Array
    nfe: int = struct.field(pytree_node=False, default=0)


def _dot(a: Array, b: Array) -> Array:
    return jnp.sum((a * b).reshape(a.shape[0], -1), axis=-1)


def superposition(model_fns: Sequence[ModelFn], process: GaussianProcess, x_init: Array,
                  timesteps: Any, *, key: Array, mode: str = "or", prediction: str = "eps",
                  conds: Sequence[dict | None] | None = None,
                  log_weights: Sequence[float] | None = None, temperature: float = 1.0,
                  log_prob_init: Sequence[Callable[[Array], Array] | Array] | None = None,
                  ) -> SuperpositionOutput:
    """SuperDiff sampling of ``mode`` = ``"or"`` (any number of models) or ``"and"`` (two).

    Args:
      model_fns: the models, each ``model_fn(x, t, **cond)`` predicting ``prediction``.
      x_init: states at ``timesteps[0]`` (B, ...), usually prior samples.
      timesteps: decreasing grid t_0 > ... > t_N (Euler-Maruyama steps).
      key: PRNG key for the SDE noise.
      conds: one ``cond`` dict per model (e.g. two prompts/labels of one network).
      log_weights: OR's mixture log-weights log w_i (default uniform).
      temperature: OR's T in softmax(T log q + log w).
      log_prob_init: per model, log q^i_{t_0}(x_init) as an array (B,) or a function
        (default: the process prior for all, so only the differences matter).
    """
    checks.choice("superposition", "mode", mode, MODES)
    m = len(model_fns)
    if m < 2:
        raise ValueError(f"superposition: needs at least two models, got {m}.")
    if mode == "and" and m != 2:
        raise ValueError(f"superposition: mode='and' combines exactly two models, got {m}.")
    ts = check_timesteps(timesteps, process, name="superposition")
    conds = [None] * m if conds is None else list(conds)
    if len(conds) != m:
        raise ValueError(f"superposition: got {len(conds)} conds for {m} models.")
    lw = jnp.zeros(m) if log_weights is None else jnp.asarray(log_weights)
    checks.shape("superposition", "log_weights", lw, (m,))  # static: may be traced
    x_init = jnp.asarray(x_init)
    inits = [None] * m if log_prob_init is None else list(log_prob_init)
    if len(inits) != m:
        raise ValueError(f"superposition: got {len(inits)} log_prob_init for {m} models.")
    lp0 = []
    for init in inits:
        init = process.prior_log_prob if init is None else init
        v = init(x_init) if callable(init) else jnp.asarray(init)
        if v.shape != (x_init.shape[0],):
            raise ValueError(f"superposition: log_prob_init must give one value per example, "
                             f"shape ({x_init.shape[0]},), got {v.shape}.")
        lp0.append(v.astype(x_init.dtype))
    scores = [predictor(f, prediction, process, "score", c) for f, c in zip(model_fns, conds)]
    tj = jnp.asarray(ts, x_init.dtype)
    lw = jnp.asarray(lw, x_init.dtype)

    def step(carry, args):
        x, lps = carry  # lps: (M, B)
        t, t_next, k = args
        s = jnp.stack([f(x, t) for f in scores])  # (M, B, ...)
        z = jax.random.normal(k, x.shape, x.dtype)
        if mode == "or":
            kappa = jax.nn.softmax(temperature * lps + lw[:, None], axis=0)
        else:
            h = t - t_next
            f, g2 = process.drift_coef(t), process.diffusion_sq(t)
            d = x[0].size
            x0 = euler_maruyama_step(process, s[1], x, t, t_next, z)
            ds = s[0] - s[1]
            c = jnp.stack([d * f + f * _dot(x, si) - 0.5 * g2 * _dot(si, si) for si in s])
            num = lps[1] - lps[0] - _dot(ds, x0 - x) - h * (c[0] - c[1])
            k1 = num / (h * g2 * _dot(ds, ds) + jnp.finfo(x.dtype).tiny)
            kappa = jnp.stack([k1, 1.0 - k1])
        mixed = jnp.sum(kappa.reshape(kappa.shape + (1,) * (x.ndim - 1)) * s, axis=0)
        x_next = euler_maruyama_step(process, mixed, x, t, t_next, z)
        lps = lps + jnp.stack([ito_log_density_increment(process, si, x, x_next, t, t_next)
                               for si in s])
        return (x_next, lps), kappa

    keys = jax.random.split(key, ts.shape[0] - 1)
    (x, lps), kappas = jax.lax.scan(step, (x_init, jnp.stack(lp0)), (tj[:-1], tj[1:], keys))
    return SuperpositionOutput(x=x, log_densities=lps, kappa=kappas,
                               nfe=int(m * (ts.shape[0] - 1)))


__all__ = ["MODES", "SuperpositionOutput", "superposition"]
