"""A permutation-equivariant set transformer denoiser for point clouds (B, N, d).

    z_i = W_2 GELU(W_1 x_i)                         per-point embedding, no positions
    c   = time_embed(time_scale * t) [+ label_embed(y)]
    block (adaLN-Zero, as in DiT; Peebles & Xie 2023):
        [b1, s1, g1, b2, s2, g2] = Linear_zero(SiLU(c))
        z = z + g1 * Attn(LN(z) * (1 + s1) + b1)
        z = z + g2 * MLP(LN(z) * (1 + s2) + b2)
    out_i = Linear_zero(LN(z_i) * (1 + s) + b),     [b, s] = Linear_zero(SiLU(c))

Every map acts on each point alone except self-attention (Vaswani et al. 2017), which is
permutation-equivariant: for a permutation matrix P, Attn(P Z) = P Attn(Z) because
softmax(P Q K^T P^T) P V = P softmax(Q K^T) V. With no positional encoding the whole
network satisfies f(P x) = P f(x) (Lee et al. 2019, "Set Transformer"; the attention
denoisers of point-cloud diffusion, e.g. Point-E, Nichol et al. 2022), up to the float
rounding of the attention sums taken in another order. The zero-initialised modulation
makes the output exactly 0 at initialisation.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn.attention import SelfAttention
from diffax.nn.dit import modulate
from diffax.nn.embeddings import LabelEmbedding, TimeEmbedding, check_label
from diffax.nn.functional import batch_times, dropout, site_key
from diffax.nn.layers import linear


def _norm(hidden: int, dtype: Any, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(hidden, epsilon=1e-6, use_scale=False, use_bias=False, dtype=dtype,
                         rngs=rngs)


class PointBlock(nnx.Module):
    """Self-attention + MLP over the points with adaLN-Zero conditioning."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float, *, dropout: float,
                 site: int, dtype: Any, rngs: nnx.Rngs):
        self.norm1 = _norm(hidden, dtype, rngs)
        self.attn = SelfAttention(hidden, heads, dtype=dtype, rngs=rngs)
        self.norm2 = _norm(hidden, dtype, rngs)
        self.fc1 = linear(hidden, int(hidden * mlp_ratio), dtype=dtype, rngs=rngs)
        self.fc2 = linear(int(hidden * mlp_ratio), hidden, dtype=dtype, rngs=rngs)
        self.ada = linear(hidden, 6 * hidden, zero=True, dtype=dtype, rngs=rngs)
        self.rate, self.site = dropout, site

    def __call__(self, z: jax.Array, c: jax.Array, key: jax.Array | None) -> jax.Array:
        shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(self.ada(c), 6, axis=-1)
        k1, k2 = (None, None) if key is None else jax.random.split(site_key(key, self.site))
        a = self.attn(modulate(self.norm1(z), shift1, scale1))
        z = z + gate1[:, None, :] * dropout(a, self.rate, k1)
        m = jax.nn.gelu(self.fc1(modulate(self.norm2(z), shift2, scale2)), approximate=True)
        return z + gate2[:, None, :] * self.fc2(dropout(m, self.rate, k2))


class PointTransformer(nnx.Module):
    """``net(x, t, label=None, *, dropout_key=None)`` -> array of x's shape (B, N, d).

    Args:
      data_dim: coordinates per point d (3 for point clouds).
      hidden: token width (divisible by ``heads``).
      depth: number of attention blocks.
      heads: attention heads.
      mlp_ratio: MLP hidden width / hidden.
      num_classes: None or the number of classes (label table has a null row, for
        classifier-free guidance).
      time_scale: the network embeds ``time_scale * t`` (256 sinusoidal features).
      embedding: "sinusoidal" or "fourier" time features.
      dropout: dropout on attention and MLP outputs (only with a ``dropout_key``).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, data_dim: int = 3, *, hidden: int = 128, depth: int = 4,
                 heads: int = 4, mlp_ratio: float = 2.0, num_classes: int | None = None,
                 time_scale: float = 250.0, embedding: str = "sinusoidal",
                 fourier_scale: float = 16.0, dropout: float = 0.0, dtype: Any = None,
                 rngs: nnx.Rngs):
        for name, value in (("data_dim", data_dim), ("hidden", hidden), ("depth", depth),
                            ("heads", heads)):
            checks.positive_int("PointTransformer", name, value)
        if hidden % heads:
            raise ValueError(f"PointTransformer: heads={heads} does not divide "
                             f"hidden={hidden}.")
        checks.positive("PointTransformer", "mlp_ratio", mlp_ratio)
        rate = checks.probability("PointTransformer", "dropout", dropout, hi_open=True)
        self.data_dim, self.num_classes = data_dim, num_classes
        self.embed1 = linear(data_dim, hidden, dtype=dtype, rngs=rngs)
        self.embed2 = linear(hidden, hidden, dtype=dtype, rngs=rngs)
        self.time_embed = TimeEmbedding(256, hidden, embedding=embedding, time_scale=time_scale,
                                        fourier_scale=fourier_scale, dtype=dtype, rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, hidden, init_std=0.02, dtype=dtype,
                                           rngs=rngs) if num_classes is not None else None)
        self.blocks = nnx.List([PointBlock(hidden, heads, mlp_ratio, dropout=rate, site=i,
                                           dtype=dtype, rngs=rngs) for i in range(depth)])
        self.final_norm = _norm(hidden, dtype, rngs)
        self.final_ada = linear(hidden, 2 * hidden, zero=True, dtype=dtype, rngs=rngs)
        self.final = linear(hidden, data_dim, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        if x.ndim != 3 or x.shape[-1] != self.data_dim or x.shape[1] == 0:
            raise ValueError(f"PointTransformer expects x of shape (B, N, {self.data_dim}) "
                             f"with N >= 1, got {x.shape}.")
        check_label(label, self.num_classes)
        batch = x.shape[0]
        z = self.embed2(jax.nn.gelu(self.embed1(x), approximate=True))
        c = self.time_embed(batch_times(t, batch))
        if self.label_embed is not None:
            c = c + self.label_embed(label, batch)
        c = jax.nn.silu(c)
        for block in self.blocks:
            z = block(z, c, dropout_key)
        shift, scale = jnp.split(self.final_ada(c), 2, axis=-1)
        return self.final(modulate(self.final_norm(z), shift, scale)).astype(x.dtype)


__all__ = ["PointBlock", "PointTransformer"]
