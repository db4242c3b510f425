"""The discrete-time DDPM "simple" loss (Ho et al., 2020, "Denoising Diffusion
Probabilistic Models", Algorithm 1 and eq. 14):

    n ~ U{1, ..., N},  eps ~ N(0, I),
    L_simple = E || eps - eps_theta(sqrt(alpha_bar_n) x0 + sqrt(1 - alpha_bar_n) eps, n) ||^2.

A :class:`~diffax.processes.DiscreteDDPM` places step n at continuous time t_n = n / N,
where alpha(t_n)^2 = alpha_bar_n = prod_{i<=n} (1 - beta_i) exactly, so the model is
called with t = n / N (a network trained on 0-based integer steps recovers its index
with ``process.model_step(t) = N t - 1 = n - 1``). Only steps with t_n inside the
process's [t_min, t_max] are drawn (all N for the default t_min = 1/N, t_max = 1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from diffax.losses.base import LossFn, ModelFn, compute_dtype, split_batch
from diffax.losses.denoising import dsm_objective
from diffax.processes.vp import DiscreteDDPM

Array = jax.Array


def ddpm_step_range(process: DiscreteDDPM) -> tuple[int, int]:
    """``(n_lo, n_hi)``: the 1-based steps n whose time n / N lies in [t_min, t_max]."""
    n = process.n_steps
    n_lo = max(1, math.ceil(process.t_min * n - 1e-9))
    n_hi = min(n, math.floor(process.t_max * n + 1e-9))
    return n_lo, n_hi


def ddpm_simple_loss(process: DiscreteDDPM) -> LossFn:
    """``loss_fn(model_fn, batch, key)``: eps-MSE at a uniformly drawn integer step.

    ``model_fn(x_t, t, **cond)`` predicts eps and receives t = n / N (shape (B,)).
    aux: ``loss``, ``t``, ``step`` (0-based int32 index n - 1), ``weight`` (ones),
    ``mse`` and ``loss_per_example``.

    Raises:
      ValueError: if ``process`` is not a ``DiscreteDDPM`` or no grid step lies in its
        [t_min, t_max].
    """
    where = "ddpm_simple_loss"
    if not isinstance(process, DiscreteDDPM):
        raise ValueError(
            f"{where}: process must be a DiscreteDDPM (e.g. DiscreteDDPM.linear(1000)), got "
            f"{type(process).__name__}; for continuous-time processes use "
            "denoising_loss(process, kind='eps').")
    n_steps = process.n_steps
    n_lo, n_hi = ddpm_step_range(process)
    if n_lo > n_hi:
        raise ValueError(
            f"{where}: no step t_n = n/{n_steps} lies in [t_min={process.t_min}, "
            f"t_max={process.t_max}].")

    def loss_fn(model_fn: ModelFn, batch: dict, key: Array) -> tuple[Array, dict]:
        x0, cond = split_batch(batch, where)
        dtype = compute_dtype(x0)
        x0 = x0.astype(dtype)
        k_n, k_eps = jax.random.split(key)
        n = jax.random.randint(k_n, (x0.shape[0],), n_lo, n_hi + 1)
        # Same arithmetic as the process's knot table arange(1, N + 1) / N: exact knots.
        t = n.astype(dtype) / n_steps
        eps = jax.random.normal(k_eps, x0.shape, dtype)
        return dsm_objective(model_fn, process, "eps", x0, cond, t, eps,
                             jnp.ones_like(t), where=where,
                             extra_aux={"step": (n - 1).astype(jnp.int32)})

    return loss_fn


__all__ = ["ddpm_simple_loss", "ddpm_step_range"]
