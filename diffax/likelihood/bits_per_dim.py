"""Bits per dimension of 8-bit data under a continuous density, with dequantization.

A continuous density p on x in [-1, 1]^D must not be evaluated at the 256 grid values
themselves: a model may put arbitrarily high density there and report negative
bits/dim. Uniform dequantization (Theis et al., 2016, "A note on the evaluation of
generative models"; Ho et al., 2019, "Flow++") gives a bound on the discrete model:
with u in {0, ..., 255}^D, U ~ Uniform[0, 1)^D and x = 2 (u + U) / 256 - 1,

    log P(u) >= E_U[log p(x)] + D log(2 / 256),

(the affine map from [0, 256) to [-1, 1) has Jacobian (2/256)^D), so

    bpd(u) <= -E_U[log p(x)] / (D ln 2) + log2(256 / 2) = -E_U[log p(x)] / (D ln 2) + 7.

Every number returned here is this upper bound, averaged over ``n_dequant`` draws of U;
it is never negative for a normalised p.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from diffax.likelihood.pf_ode import pf_ode_log_likelihood
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn

Array = jax.Array


def dequantize(key: Array, images: Array, num_levels: int = 256, dtype=None) -> Array:
    """Integer images in {0, ..., num_levels - 1} -> x = 2 (u + U) / num_levels - 1, in
    ``dtype`` (default: the default float type, float64 when x64 is enabled)."""
    images = jnp.asarray(images)
    dtype = jnp.result_type(float) if dtype is None else dtype
    if not jnp.issubdtype(images.dtype, jnp.integer):
        raise ValueError(f"dequantize: images must be integers in [0, {num_levels - 1}] "
                         f"(e.g. uint8), got dtype {images.dtype}; dequantize before any "
                         "scaling to [-1, 1].")
    u = jax.random.uniform(key, images.shape, dtype)
    return 2.0 * (images.astype(dtype) + u) / num_levels - 1.0


def bits_per_dim(log_prob: Array, num_dims: int, num_levels: int = 256,
                 data_range: float = 2.0) -> Array:
    """bpd = -log p(x) / (D ln 2) + log2(num_levels / data_range) for densities of
    dequantized data on an interval of width ``data_range`` (2 for [-1, 1])."""
    if num_dims < 1:
        raise ValueError(f"bits_per_dim: num_dims must be >= 1, got {num_dims}.")
    return -jnp.asarray(log_prob) / (num_dims * math.log(2.0)) + math.log2(num_levels / data_range)


def image_bits_per_dim(model_fn: ModelFn, process: GaussianProcess, images: Array,
                       key: Array, *, n_dequant: int = 1, num_levels: int = 256,
                       **likelihood_kwargs: Any) -> Array:
    """Dequantized bits/dim per image (B,) through :func:`pf_ode_log_likelihood`.

    ``images`` are integers (B, H, W, C); each of the ``n_dequant`` rounds draws new
    dequantization noise (and new Hutchinson probes when that divergence is used) and
    the bound is averaged. ``likelihood_kwargs`` go to ``pf_ode_log_likelihood``
    (prediction, divergence, rtol, ...).
    """
    d = math.prod(jnp.shape(images)[1:])
    total = 0.0
    for k in jax.random.split(key, n_dequant):
        k_deq, k_probe = jax.random.split(k)
        x = dequantize(k_deq, images, num_levels)
        res = pf_ode_log_likelihood(model_fn, process, x, key=k_probe, **likelihood_kwargs)
        total = total + bits_per_dim(res.log_prob, d, num_levels)
    return total / n_dequant
