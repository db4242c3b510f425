"""Diffusion Transformer, DiT (Peebles & Xie 2023, "Scalable diffusion models with
transformers"), for images (B, H, W, C), channels-last.

    tokens = Linear(patchify_p(x)) + P              (N = HW / p^2 tokens, P fixed 2-D sin-cos)
    c = time_embed(time_scale * t) [+ label_embed(y)]
    block (adaLN-Zero):   [b1, s1, g1, b2, s2, g2] = Linear_zero(SiLU(c))
        z = z + g1 * Attn(LN(z) * (1 + s1) + b1)
        z = z + g2 * MLP(LN(z) * (1 + s2) + b2)
    final:  [b, s] = Linear_zero(SiLU(c));  out = unpatchify(Linear_zero(LN(z) * (1 + s) + b))

LayerNorms have no affine parameters; the zero-initialised modulation makes every block the
identity and the output exactly 0 at initialisation ("adaLN-Zero").
The 2-D positional embedding (as in MAE, He et al. 2022) spends half the width on the row
and half on the column coordinate, each a 1-D sin-cos embedding with frequencies
``10000^(-k / (D/4))``, k = 0..D/4-1.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax import checks
from diffax.nn.embeddings import LabelEmbedding, TimeEmbedding, check_label
from diffax.nn.functional import batch_times, dropout, site_key
from diffax.nn.layers import linear


def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """1-D sin-cos embedding (len(pos), dim): ``[sin(pos w_k), cos(pos w_k)]``, w_k = 10000^(-2k/dim)."""
    omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    args = np.asarray(pos, np.float64).reshape(-1)[:, None] * omega[None]
    return np.concatenate([np.sin(args), np.cos(args)], axis=1)


def sincos_2d(dim: int, grid_h: int, grid_w: int) -> np.ndarray:
    """Fixed 2-D sin-cos positional embedding (grid_h * grid_w, dim), row-major token order."""
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos positional embedding needs hidden % 4 == 0, got {dim}.")
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    emb = np.concatenate([sincos_1d(dim // 2, rows), sincos_1d(dim // 2, cols)], axis=1)
    return emb.astype(np.float32)


def patchify(x: jax.Array, p: int) -> jax.Array:
    """(B, H, W, C) -> (B, (H/p)(W/p), p*p*C), row-major over patches."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(z: jax.Array, p: int, h: int, w: int) -> jax.Array:
    """Inverse of :func:`patchify`: (B, (H/p)(W/p), p*p*C) -> (B, H, W, C)."""
    b, _, d = z.shape
    c = d // (p * p)
    z = z.reshape(b, h // p, w // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return z.reshape(b, h, w, c)


def modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    """``x * (1 + scale) + shift`` with per-sample (B, D) shift and scale."""
    return x * (1.0 + scale[:, None, :]) + shift[:, None, :]


def _layer_norm(hidden: int, dtype: Any, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(hidden, epsilon=1e-6, use_scale=False, use_bias=False, dtype=dtype,
                         rngs=rngs)


class DiTBlock(nnx.Module):
    """Transformer block with adaLN-Zero conditioning (equations in the module docstring)."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float, *, dropout: float, site: int,
                 dtype: Any, rngs: nnx.Rngs):
        mlp_hidden = int(hidden * mlp_ratio)
        self.norm1 = _layer_norm(hidden, dtype, rngs)
        self.qkv = linear(hidden, 3 * hidden, dtype=dtype, rngs=rngs)
        self.proj = linear(hidden, hidden, dtype=dtype, rngs=rngs)
        self.norm2 = _layer_norm(hidden, dtype, rngs)
        self.fc1 = linear(hidden, mlp_hidden, dtype=dtype, rngs=rngs)
        self.fc2 = linear(mlp_hidden, hidden, dtype=dtype, rngs=rngs)
        self.ada = linear(hidden, 6 * hidden, zero=True, dtype=dtype, rngs=rngs)
        self.heads = heads
        self.rate = dropout
        self.site = site

    def __call__(self, z: jax.Array, c: jax.Array, key: jax.Array | None) -> jax.Array:
        b, n, d = z.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(self.ada(c), 6, axis=-1)
        qkv = self.qkv(modulate(self.norm1(z), shift1, scale1))
        qkv = qkv.reshape(b, n, 3, self.heads, d // self.heads)
        a = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]).reshape(b, n, d)
        k1, k2 = (None, None) if key is None else jax.random.split(site_key(key, self.site))
        z = z + gate1[:, None, :] * dropout(self.proj(a), self.rate, k1)
        m = jax.nn.gelu(self.fc1(modulate(self.norm2(z), shift2, scale2)), approximate=True)
        return z + gate2[:, None, :] * self.fc2(dropout(m, self.rate, k2))


class FinalLayer(nnx.Module):
    """adaLN (shift, scale) + zero-initialised linear to p*p*C_out per token."""

    def __init__(self, hidden: int, out_dim: int, *, dtype: Any, rngs: nnx.Rngs):
        self.norm = _layer_norm(hidden, dtype, rngs)
        self.ada = linear(hidden, 2 * hidden, zero=True, dtype=dtype, rngs=rngs)
        self.linear = linear(hidden, out_dim, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, z: jax.Array, c: jax.Array) -> jax.Array:
        shift, scale = jnp.split(self.ada(c), 2, axis=-1)
        return self.linear(modulate(self.norm(z), shift, scale))


class DiT(nnx.Module):
    """DiT; ``net(x, t, label=None, *, dropout_key=None)`` -> array of x's shape.

    Args:
      in_channels: C of the input images.
      image_size: H (or (H, W)); both must be divisible by ``patch``.
      patch: patch size p.
      hidden: token width D (divisible by 4 and by ``heads``).
      depth: number of transformer blocks.
      heads: attention heads.
      mlp_ratio: MLP hidden width / D.
      num_classes: None or the number of classes (label table has a null row).
      out_channels: output channels (default ``in_channels``).
      time_scale: the network embeds ``time_scale * t`` (256 sinusoidal features).
      embedding: "sinusoidal" or "fourier".
      dropout: dropout on attention and MLP outputs (only with a ``dropout_key``).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, in_channels: int, image_size: int | Sequence[int], *, patch: int = 2,
                 hidden: int = 256, depth: int = 6, heads: int = 4, mlp_ratio: float = 4.0,
                 num_classes: int | None = None, out_channels: int | None = None,
                 time_scale: float = 1000.0, embedding: str = "sinusoidal",
                 fourier_scale: float = 16.0, dropout: float = 0.0, dtype: Any = None,
                 rngs: nnx.Rngs):
        for name, value in [("in_channels", in_channels), ("patch", patch), ("hidden", hidden),
                            ("depth", depth), ("heads", heads)]:
            checks.positive_int("DiT", name, value)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}.")
        if size[0] % patch or size[1] % patch:
            raise ValueError(f"image size {size[0]}x{size[1]} is not divisible by patch={patch}.")
        if hidden % heads:
            raise ValueError(f"heads={heads} does not divide hidden={hidden}.")
        if hidden % 4:
            raise ValueError(f"hidden={hidden} must be divisible by 4 (2-D sin-cos positions).")
        checks.positive("DiT", "mlp_ratio", mlp_ratio)
        rate = checks.probability("DiT", "dropout", dropout, hi_open=True)
        if out_channels is None:
            out_channels = in_channels
        checks.positive_int("DiT", "out_channels", out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.image_size, self.patch, self.hidden = size, patch, hidden
        self.num_classes = num_classes
        self.patch_embed = linear(patch * patch * in_channels, hidden,
                                      dtype=dtype, rngs=rngs)
        self.time_embed = TimeEmbedding(256, hidden, embedding=embedding, time_scale=time_scale,
                                        fourier_scale=fourier_scale, dtype=dtype, rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, hidden, init_std=0.02, dtype=dtype,
                                           rngs=rngs) if num_classes is not None else None)
        self.blocks = nnx.List([DiTBlock(hidden, heads, mlp_ratio, dropout=rate, site=i,
                                         dtype=dtype, rngs=rngs) for i in range(depth)])
        self.final = FinalLayer(hidden, patch * patch * out_channels, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        h, w = self.image_size
        if x.shape[1:] != (h, w, self.in_channels):
            raise ValueError(f"DiT expects x of shape (B, {h}, {w}, {self.in_channels}), "
                             f"got {x.shape}.")
        check_label(label, self.num_classes)
        batch, p = x.shape[0], self.patch
        pos = jnp.asarray(sincos_2d(self.hidden, h // p, w // p))
        z = self.patch_embed(patchify(x, p)) + pos.astype(x.dtype)
        c = self.time_embed(batch_times(t, batch))
        if self.label_embed is not None:
            c = c + self.label_embed(label, batch)
        c = jax.nn.silu(c)
        for block in self.blocks:
            z = block(z, c, dropout_key)
        return unpatchify(self.final(z, c), p, h, w).astype(x.dtype)
