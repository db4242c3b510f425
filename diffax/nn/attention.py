"""Multi-head self-attention with a key mask, and a pre-norm Transformer encoder layer
(Vaswani et al. 2017, "Attention is all you need"), for token sequences (..., N, D).

    Attn(z) = W_o concat_h softmax(Q_h K_h^T / sqrt(d_h) + M) V_h,
              [Q, K, V] = z W_qkv,   d_h = D / heads,   M_ij = 0 if key j is real else -inf

    layer (pre-norm, Xiong et al. 2020):
        z = z + drop(Attn(LN(z)))
        z = z + drop(W_2 GELU(W_1 LN(z)))

A masked key gets exactly zero attention weight, so (finite) values at masked tokens never
reach the other tokens. Leading axes of ``z`` are batch axes (flattened internally).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn.functional import dropout
from diffax.nn.layers import linear


class SelfAttention(nnx.Module):
    """Multi-head self-attention over the second-to-last axis of (..., N, D)."""

    def __init__(self, dim: int, num_heads: int, *, dtype: Any = None, rngs: nnx.Rngs):
        checks.positive_int("SelfAttention", "dim", dim)
        checks.positive_int("SelfAttention", "num_heads", num_heads)
        if dim % num_heads:
            raise ValueError(f"SelfAttention: num_heads={num_heads} does not divide the width "
                             f"dim={dim}.")
        self.qkv = linear(dim, 3 * dim, dtype=dtype, rngs=rngs)
        self.out = linear(dim, dim, dtype=dtype, rngs=rngs)
        self.num_heads = num_heads

    def __call__(self, z: jax.Array, key_mask: jax.Array | None = None) -> jax.Array:
        """``z``: (..., N, D); ``key_mask``: None or a bool array broadcastable to (..., N),
        True for the tokens that may be attended to."""
        *lead, n, d = z.shape
        batch = math.prod(lead)
        qkv = self.qkv(z).reshape(batch, n, 3, self.num_heads, d // self.num_heads)
        mask = None
        if key_mask is not None:
            keys = jnp.broadcast_to(key_mask, (*lead, n)).reshape(batch, 1, 1, n)
            mask = keys.astype(bool)
        a = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], mask=mask)
        return self.out(a.reshape(*lead, n, d))


class TransformerLayer(nnx.Module):
    """One pre-norm Transformer encoder layer (equations in the module docstring).

    Args:
      dim: token width D.
      num_heads: attention heads (must divide D).
      ff_dim: hidden width of the feed-forward network.
      dropout: dropout rate on the attention and feed-forward outputs (only with a key).
    """

    def __init__(self, dim: int, num_heads: int, ff_dim: int, *, dropout: float = 0.0,
                 dtype: Any = None, rngs: nnx.Rngs):
        checks.positive_int("TransformerLayer", "ff_dim", ff_dim)
        self.rate = checks.probability("TransformerLayer", "dropout", dropout, hi_open=True)
        self.norm1 = nnx.LayerNorm(dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.attn = SelfAttention(dim, num_heads, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.fc1 = linear(dim, ff_dim, dtype=dtype, rngs=rngs)
        self.fc2 = linear(ff_dim, dim, dtype=dtype, rngs=rngs)

    def __call__(self, z: jax.Array, key_mask: jax.Array | None = None,
                 key: jax.Array | None = None) -> jax.Array:
        """``z``: (..., N, D); ``key_mask`` as in :class:`SelfAttention`; ``key``: dropout key."""
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        z = z + dropout(self.attn(self.norm1(z), key_mask), self.rate, k1)
        h = jax.nn.gelu(self.fc1(self.norm2(z)), approximate=False)
        return z + dropout(self.fc2(h), self.rate, k2)
