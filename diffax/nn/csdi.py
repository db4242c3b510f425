"""CSDI denoiser (Tashiro et al. 2021, "CSDI: Conditional score-based diffusion models for
probabilistic time series imputation", NeurIPS) for windows x (B, L, K) of L time steps and
K features; the conditioning conventions are those of :mod:`diffax.nn.series`.

Every (l, k) of the window is a token with 2 input channels, ``[observed, target]``
(observed = cond_values * m, target = x * (1 - m), m = cond_mask)::

    h = ReLU(W_in [observed, target])                                   (B, L, K, C)
    c = SiLU(time_embed(time_scale * t) [+ label_embed(y)])             diffusion embedding
    side = [sinusoidal(time_l) (time_embed_dim), E_k (feature_embed_dim), m_lk]
    residual block i = 1..n:
        y = h + W_c c                                  (broadcast over l, k)
        y = TemporalTransformer(y)                     (attention over l, for each k)
        y = FeatureTransformer(y)                      (attention over k, for each l)
        [g, f] = W_mid y + W_side side                 (2C channels)
        [r, s] = W_out (sigmoid(g) * tanh(f))          (2C channels)
        h = (h + r) / sqrt(2),     skip_i = s
    out = W_zero ReLU(W_1 (sum_i skip_i / sqrt(n)))                     (B, L, K)

All W are per-token linear maps (the paper's 1x1 convolutions). The time-position
embedding of a step is the sinusoidal embedding of its timestamp, ``[sin(time_l w_j),
cos(time_l w_j)]``, ``w_j = 10000^(-2j / time_embed_dim)``, so irregular sampling is given
by ``time``. E is a learned (K, feature_embed_dim) table. The two transformers are single
pre-norm encoder layers (:class:`~diffax.nn.attention.TransformerLayer`, feed-forward width
C); the temporal one masks padded steps as keys, so (with the input zeroing of
:func:`~diffax.nn.series.series_inputs`) padded steps never influence real ones. ``W_zero``
is zero-initialised: the output is exactly 0 at initialisation.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn.attention import TransformerLayer
from diffax.nn.embeddings import LabelEmbedding, TimeEmbedding, check_label, sinusoidal_embedding
from diffax.nn.functional import batch_times, site_key
from diffax.nn.layers import embed, linear
from diffax.nn.series import series_inputs, series_output


class CSDIBlock(nnx.Module):
    """CSDI residual block (equations in the module docstring); returns (h, skip)."""

    def __init__(self, channels: int, side_dim: int, emb_dim: int, num_heads: int, *,
                 dropout: float, site: int, dtype: Any, rngs: nnx.Rngs):
        self.emb = linear(emb_dim, channels, dtype=dtype, rngs=rngs)
        self.temporal = TransformerLayer(channels, num_heads, channels, dropout=dropout,
                                         dtype=dtype, rngs=rngs)
        self.feature = TransformerLayer(channels, num_heads, channels, dropout=dropout,
                                        dtype=dtype, rngs=rngs)
        self.mid = linear(channels, 2 * channels, dtype=dtype, rngs=rngs)
        self.side = linear(side_dim, 2 * channels, dtype=dtype, rngs=rngs)
        self.out = linear(channels, 2 * channels, dtype=dtype, rngs=rngs)
        self.site = site  # index of this block's dropout key

    def __call__(self, h: jax.Array, side: jax.Array, c: jax.Array, pad: jax.Array | None,
                 key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        k_time, k_feat = (None, None) if key is None else jax.random.split(site_key(key, self.site))
        y = h + self.emb(c)[:, None, None, :]
        # (B, L, K, C) -> (B, K, L, C): attention over L for each feature.
        keys = None if pad is None else pad[:, None, :]
        y = self.temporal(y.swapaxes(1, 2), keys, k_time).swapaxes(1, 2)
        y = self.feature(y, None, k_feat)  # attention over K for each step
        gate, filt = jnp.split(self.mid(y) + self.side(side), 2, axis=-1)
        res, skip = jnp.split(self.out(jax.nn.sigmoid(gate) * jnp.tanh(filt)), 2, axis=-1)
        return (h + res) / math.sqrt(2.0), skip


class CSDI(nnx.Module):
    """CSDI; ``net(x, t, label=None, *, cond_mask=None, cond_values=None, time=None,
    pad_mask=None, dropout_key=None)`` -> (B, L, K) in x's dtype.

    Args:
      num_features: K, the size of the last axis of x (B, L, K).
      channels: token width C.
      num_layers: number of residual blocks n.
      num_heads: attention heads of both transformers (must divide C).
      time_embed_dim: width of the sinusoidal time-position embedding.
      feature_embed_dim: width of the learned feature embedding.
      diffusion_embed_dim: width of the sinusoidal features and of the diffusion embedding.
      time_scale: the network embeds ``time_scale * t``.
      num_classes: None or the number of classes (label table has a null row).
      dropout: dropout rate in the transformer layers (only with a ``dropout_key``).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, num_features: int, *, channels: int = 64, num_layers: int = 4,
                 num_heads: int = 8, time_embed_dim: int = 128, feature_embed_dim: int = 16,
                 diffusion_embed_dim: int = 128, time_scale: float = 1000.0,
                 num_classes: int | None = None, dropout: float = 0.0, dtype: Any = None,
                 rngs: nnx.Rngs):
        for name, value in [("num_features", num_features), ("channels", channels),
                            ("num_layers", num_layers), ("num_heads", num_heads),
                            ("time_embed_dim", time_embed_dim),
                            ("feature_embed_dim", feature_embed_dim),
                            ("diffusion_embed_dim", diffusion_embed_dim)]:
            checks.positive_int("CSDI", name, value)
        if channels % num_heads:
            raise ValueError(f"CSDI: num_heads={num_heads} does not divide channels={channels}.")
        checks.finite("CSDI", "time_scale", time_scale)
        rate = checks.probability("CSDI", "dropout", dropout, hi_open=True)
        self.num_features = num_features
        self.num_classes = num_classes
        self.time_embed_dim = time_embed_dim
        self.diffusion_embed = TimeEmbedding(diffusion_embed_dim, diffusion_embed_dim,
                                             time_scale=time_scale, dtype=dtype, rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, diffusion_embed_dim, dtype=dtype,
                                           rngs=rngs) if num_classes is not None else None)
        self.feature_embed = embed(num_features, feature_embed_dim, dtype=dtype, rngs=rngs)
        side_dim = time_embed_dim + feature_embed_dim + 1
        self.proj_in = linear(2, channels, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List([
            CSDIBlock(channels, side_dim, diffusion_embed_dim, num_heads, dropout=rate, site=i,
                      dtype=dtype, rngs=rngs) for i in range(num_layers)])
        self.proj_skip = linear(channels, channels, dtype=dtype, rngs=rngs)
        self.proj_out = linear(channels, 1, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 cond_mask: jax.Array | None = None, cond_values: jax.Array | None = None,
                 time: jax.Array | None = None, pad_mask: jax.Array | None = None,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        inp = series_inputs("CSDI", x, self.num_features, cond_mask, cond_values, time, pad_mask)
        check_label(label, self.num_classes)
        batch, length, k = inp.target.shape
        c = self.diffusion_embed(batch_times(t, batch))
        if self.label_embed is not None:
            c = c + self.label_embed(label, batch)
        c = jax.nn.silu(c)

        pos = sinusoidal_embedding(inp.time, self.time_embed_dim)               # (B, L, Dt)
        feat = self.feature_embed(jnp.arange(k))                               # (K, Df)
        side = jnp.concatenate([
            jnp.broadcast_to(pos[:, :, None, :], (batch, length, k, pos.shape[-1])),
            jnp.broadcast_to(feat, (batch, length, *feat.shape)).astype(pos.dtype),
            inp.mask[..., None].astype(pos.dtype)], axis=-1)

        h = jax.nn.relu(self.proj_in(jnp.stack([inp.observed, inp.target], axis=-1)))
        skips = 0.0
        for block in self.blocks:
            h, skip = block(h, side, c, inp.pad, dropout_key)
            skips = skips + skip
        h = jax.nn.relu(self.proj_skip(skips / math.sqrt(len(self.blocks))))
        return series_output(self.proj_out(h)[..., 0], inp.pad, x.dtype)
