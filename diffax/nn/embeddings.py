"""Noise-level (time) and class-label embeddings.

* Sinusoidal embedding (Vaswani et al. 2017, "Attention is all you need"; used for the
  timestep by Ho et al. 2020, DDPM): for ``half = dim // 2`` and ``k = 0..half-1``

      w_k = max_period ** (-k / half),     emb(s) = [sin(s w_0..w_{half-1}), cos(s w_0..w_{half-1})]

  (a zero column is appended when ``dim`` is odd).
* Gaussian Fourier features (Tancik et al. 2020; Song et al. 2021, score_sde): fixed
  random frequencies ``W_k ~ N(0, scale^2)``, ``emb(s) = [sin(2 pi W s), cos(2 pi W s)]``.
  The frequencies are a :class:`Buffer` (non-trainable), not an ``nnx.Param``.
* :class:`TimeEmbedding`: ``s = time_scale * t`` -> one of the above -> Linear -> SiLU ->
  Linear (the "time MLP" of DDPM / DDPM++).
* :class:`LabelEmbedding`: a table with ``num_classes + 1`` rows; row ``num_classes`` is
  the null label of classifier-free guidance (Ho & Salimans 2022), used for ``label=None``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn import init
from diffax.nn.layers import embed, linear

EMBEDDINGS = ("sinusoidal", "fourier")


class Buffer(nnx.Variable):
    """A fixed, non-trainable array of a network (e.g. random Fourier frequencies).

    It lives in the non-``nnx.Param`` part of ``nnx.split(model, nnx.Param, ...)``, so
    optimizers never update it, yet it is saved with checkpoints.
    """


def sinusoidal_embedding(s: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """Sinusoidal embedding of shape ``s.shape + (dim,)`` (formula in the module docstring)."""
    if dim < 1:
        raise ValueError(f"embedding dim must be positive, got {dim!r}.")
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    args = jnp.asarray(s, jnp.float32)[..., None] * freqs
    emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)
    if dim % 2:
        emb = jnp.concatenate([emb, jnp.zeros_like(emb[..., :1])], axis=-1)
    return emb


class FourierFeatures(nnx.Module):
    """Gaussian Fourier features ``[sin(2 pi W s), cos(2 pi W s)]`` with fixed ``W ~ N(0, scale^2)``."""

    def __init__(self, dim: int, *, scale: float = 16.0, rngs: nnx.Rngs):
        if dim < 2 or dim % 2:
            raise ValueError(f"Fourier feature dim must be even and >= 2, got {dim!r}.")
        self.freqs = Buffer(init.normal(scale)(rngs.params(), (dim // 2,), jnp.float32))

    def __call__(self, s: jax.Array) -> jax.Array:
        args = 2.0 * math.pi * jnp.asarray(s, jnp.float32)[..., None] * self.freqs[...]
        return jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)


class TimeEmbedding(nnx.Module):
    """``t -> Linear(SiLU(Linear(features(time_scale * t))))`` of width ``emb_dim``.

    Args:
      base_dim: width of the sinusoidal / Fourier features.
      emb_dim: output width.
      embedding: "sinusoidal" or "fourier".
      time_scale: multiplies ``t`` before the features (e.g. 1000 for t in [0, 1] with
        sinusoidal features; about 1 for Fourier features of scale 16).
      fourier_scale: standard deviation of the Fourier frequencies.
      max_period: longest period of the sinusoidal features.
    """

    def __init__(self, base_dim: int, emb_dim: int, *, embedding: str = "sinusoidal",
                 time_scale: float = 1000.0, fourier_scale: float = 16.0,
                 max_period: float = 10000.0, dtype: Any = None, rngs: nnx.Rngs):
        checks.choice("TimeEmbedding", "embedding", embedding, EMBEDDINGS)
        self.embedding = embedding
        self.base_dim = base_dim
        self.time_scale = float(time_scale)
        self.max_period = float(max_period)
        self.fourier = (FourierFeatures(base_dim, scale=fourier_scale, rngs=rngs)
                        if embedding == "fourier" else None)
        self.fc1 = linear(base_dim, emb_dim, dtype=dtype, rngs=rngs)
        self.fc2 = linear(emb_dim, emb_dim, dtype=dtype, rngs=rngs)

    def features(self, t: jax.Array) -> jax.Array:
        """The parameter-free (or fixed) features of ``time_scale * t``."""
        s = self.time_scale * jnp.asarray(t, jnp.float32)
        if self.fourier is not None:
            return self.fourier(s)
        return sinusoidal_embedding(s, self.base_dim, self.max_period)

    def __call__(self, t: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.silu(self.fc1(self.features(t))))


class LabelEmbedding(nnx.Module):
    """Class embedding with ``num_classes + 1`` rows; the last row is the null label.

    ``label=None`` means "all null". Labels must lie in [0, num_classes]; this cannot be
    checked inside jit, but an id above ``num_classes`` gives a NaN embedding (so the loss
    turns non-finite rather than silently wrong).
    """

    def __init__(self, num_classes: int, dim: int, *, init_std: float = 1.0, dtype: Any = None,
                 rngs: nnx.Rngs):
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be None or a positive integer, got {num_classes!r}.")
        self.num_classes = num_classes
        self.table = embed(num_classes + 1, dim, stddev=init_std, dtype=dtype, rngs=rngs)

    def __call__(self, label: jax.Array | None, batch: int) -> jax.Array:
        if label is None:
            label = jnp.full((batch,), self.num_classes, jnp.int32)
        label = jnp.asarray(label)
        if label.shape != (batch,):
            raise ValueError(f"label must have shape ({batch},), got {label.shape}.")
        return self.table(label.astype(jnp.int32))


def check_label(label: jax.Array | None, num_classes: int | None) -> None:
    """A label given to an unconditional network is an error (it would be ignored)."""
    if label is not None and num_classes is None:
        raise ValueError("label given but the network was built with num_classes=None.")
