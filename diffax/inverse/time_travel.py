"""Resampling ("time travel"): repeat a stretch of reverse steps, jumping back by the
forward transition in between.

RePaint (Lugmayr et al., 2022, "RePaint: Inpainting using Denoising Diffusion
Probabilistic Models", Algorithm 1) runs each block of ``jump_length`` reverse steps
from t_a to t_b ``n_repeat`` times; between repetitions x_{t_b} is re-noised to t_a by
q(x_{t_a} | x_{t_b}), which lets the parts of x that the measurement does not fix
harmonize with those it does. Steered diffusion's inner loop (Nair et al., 2023) is the
same with one-step blocks. After the last repetition the block's result is kept:

    repeat r = 1..n_repeat:  x <- block(x, k_r);  if r < n_repeat: x <- q(x_{t_a} | x).

A block of J steps costs J model evaluations, so the loop costs J * n_repeat.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from diffax.inverse.steps import renoise_forward
from diffax.processes.base import GaussianProcess

Array = jax.Array


def repeat_block(process: GaussianProcess, block: Callable[[Array, Array], Array],
                 x: Array, t_start: Array, t_end: Array, key: Array, n_repeat: int) -> Array:
    """Run ``block(x, key) -> x`` (reverse steps from ``t_start`` to ``t_end``)
    ``n_repeat`` times from ``x``, re-noising back to ``t_start`` in between; the state
    keeps the dtype of ``x``."""

    def repeat(x, args):
        r, kr = args
        k_block, k_jump = jax.random.split(kr)
        x_end = block(x, k_block).astype(x.dtype)
        back = renoise_forward(process, x_end, t_end, t_start,
                               jax.random.normal(k_jump, x.shape, x.dtype))
        return jnp.where(r < n_repeat - 1, back, x_end).astype(x.dtype), None

    x, _ = jax.lax.scan(repeat, x, (jnp.arange(n_repeat), jax.random.split(key, n_repeat)))
    return x


__all__ = ["repeat_block"]
