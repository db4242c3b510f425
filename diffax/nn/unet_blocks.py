"""Building blocks of the DDPM++ U-Net (Song et al. 2021, score_sde ``ncsnpp``; Ho et al.
2020), channels-last (B, H, W, C).

* :class:`ResBlock` (DDPM residual block with the DDPM++ skip rescale)::

      h = Conv3x3(SiLU(GN(x)))
      h = SiLU(GN(h) * (1 + s) + b)  with [s, b] = Dense(e)     (scale_shift=True)
        = SiLU(GN(h + Dense(e)))                                  (scale_shift=False)
      out = (skip(x) + Conv3x3_zero(drop(h))) / sqrt(2)

  where ``e = SiLU(time/class embedding)``, ``skip`` is a 1x1 conv when the widths
  differ, and the last conv is zero-initialised (EDM / DDPM++ ``init_scale=0``), so
  each block starts as ``skip(x) / sqrt(2)``.
* :class:`AttentionBlock`: multi-head self-attention over the H*W positions,
  ``out = (x + W_o attn(GN(x))) / sqrt(2)`` with ``W_o`` zero-initialised.
* :class:`Downsample`: 3x3 conv with stride 2 (or 2x2 average pooling); :class:`Upsample`:
  nearest x2 then a 3x3 conv (or nearest only) -- DDPM++ ``resamp_with_conv`` on / off.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax.nn.functional import dropout, site_key
from diffax.nn.layers import conv, linear

SKIP_SCALE = 1.0 / math.sqrt(2.0)


def default_groups(channels: int) -> int:
    """GroupNorm groups when none are given: the largest divisor of ``channels`` that is at
    most ``min(32, channels // 4)`` (at least 1), i.e. 32 groups of >= 4 channels when possible."""
    cap = max(1, min(32, channels // 4))
    return max(g for g in range(1, cap + 1) if channels % g == 0)


def group_norm(channels: int, groups: int | None, *, dtype: Any, rngs: nnx.Rngs) -> nnx.GroupNorm:
    """GroupNorm over ``channels`` with ``groups`` groups (``None``: :func:`default_groups`)."""
    g = default_groups(channels) if groups is None else groups
    if channels % g:
        raise ValueError(f"norm_groups={g} does not divide the {channels} channels of a "
                         f"GroupNorm layer; choose a number of groups that divides every width "
                         f"(or norm_groups=None for an automatic choice).")
    return nnx.GroupNorm(channels, num_groups=g, epsilon=1e-6, dtype=dtype, rngs=rngs)


class ResBlock(nnx.Module):
    """DDPM++ residual block conditioned on an embedding (equations in the module docstring)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, *, dropout: float, scale_shift: bool,
                 groups: int | None, site: int, dtype: Any, rngs: nnx.Rngs):
        self.norm1 = group_norm(cin, groups, dtype=dtype, rngs=rngs)
        self.conv1 = conv(cin, cout, dtype=dtype, rngs=rngs)
        self.emb = linear(emb_dim, 2 * cout if scale_shift else cout, dtype=dtype, rngs=rngs)
        self.norm2 = group_norm(cout, groups, dtype=dtype, rngs=rngs)
        self.conv2 = conv(cout, cout, zero=True, dtype=dtype, rngs=rngs)
        self.skip = conv(cin, cout, 1, dtype=dtype, rngs=rngs) if cin != cout else None
        self.scale_shift = scale_shift
        self.rate = dropout
        self.site = site  # index of this block's dropout key

    def __call__(self, x: jax.Array, emb: jax.Array, key: jax.Array | None) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        e = self.emb(emb)[:, None, None, :]
        if self.scale_shift:
            scale, shift = jnp.split(e, 2, axis=-1)
            h = jax.nn.silu(self.norm2(h) * (1.0 + scale) + shift)
        else:
            h = jax.nn.silu(self.norm2(h + e))
        h = self.conv2(dropout(h, self.rate, site_key(key, self.site)))
        skip = x if self.skip is None else self.skip(x)
        return (skip + h) * SKIP_SCALE


class AttentionBlock(nnx.Module):
    """Self-attention over spatial positions with a zero-initialised output projection."""

    def __init__(self, channels: int, *, num_heads: int, groups: int | None, dtype: Any,
                 rngs: nnx.Rngs):
        if channels % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide the {channels} channels "
                             f"of an attention block.")
        self.norm = group_norm(channels, groups, dtype=dtype, rngs=rngs)
        self.qkv = linear(channels, 3 * channels, dtype=dtype, rngs=rngs)
        self.out = linear(channels, channels, zero=True, dtype=dtype, rngs=rngs)
        self.num_heads = num_heads

    def __call__(self, x: jax.Array) -> jax.Array:
        b, hgt, wid, c = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, hgt * wid, 3, self.num_heads, c // self.num_heads)
        a = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
        return (x + self.out(a.reshape(b, hgt, wid, c))) * SKIP_SCALE


class Downsample(nnx.Module):
    """Halve H and W: a stride-2 3x3 convolution (``with_conv``) or 2x2 average pooling."""

    def __init__(self, channels: int, *, with_conv: bool, dtype: Any, rngs: nnx.Rngs):
        self.conv = conv(channels, channels, stride=2, dtype=dtype, rngs=rngs) if with_conv else None

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.conv is not None:
            return self.conv(x)
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class Upsample(nnx.Module):
    """Double H and W: nearest-neighbour repeat, then (``with_conv``) a 3x3 convolution."""

    def __init__(self, channels: int, *, with_conv: bool, dtype: Any, rngs: nnx.Rngs):
        self.conv = conv(channels, channels, dtype=dtype, rngs=rngs) if with_conv else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return x if self.conv is None else self.conv(x)


class Stage(nnx.Module):
    """One U-Net stage: a residual block, optionally followed by self-attention."""

    def __init__(self, res: ResBlock, attn: AttentionBlock | None):
        self.res = res
        self.attn = attn

    def __call__(self, x: jax.Array, emb: jax.Array, key: jax.Array | None) -> jax.Array:
        h = self.res(x, emb, key)
        return h if self.attn is None else self.attn(h)
