"""Residual MLP denoiser for low-dimensional data (B, d), e.g. 2-D toy distributions.

    h_0 = W_in x + b_in,         c = SiLU(time_embed(t) [+ label_embed(y)])
    h_{i+1} = h_i + W_2 drop(SiLU(W_1 SiLU(h_i) + U c))          (i < depth)
    out = W_out SiLU(h_depth)          (W_out, b_out zero-initialised: output 0 at init)

The conditioning is injected in every residual block, as in the time-conditioned
residual blocks of DDPM (Ho et al. 2020).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from diffax import checks
from diffax.nn.embeddings import LabelEmbedding, TimeEmbedding, check_label
from diffax.nn.functional import batch_times, dropout, site_key
from diffax.nn.layers import linear


class MLPBlock(nnx.Module):
    """``h + W_2 drop(SiLU(W_1 SiLU(h) + U c))``."""

    def __init__(self, hidden: int, *, dropout: float, dtype: Any, rngs: nnx.Rngs):
        self.fc1 = linear(hidden, hidden, dtype=dtype, rngs=rngs)
        self.cond = linear(hidden, hidden, dtype=dtype, rngs=rngs)
        self.fc2 = linear(hidden, hidden, dtype=dtype, rngs=rngs)
        self.rate = dropout

    def __call__(self, h: jax.Array, c: jax.Array, key: jax.Array | None) -> jax.Array:
        a = jax.nn.silu(self.fc1(jax.nn.silu(h)) + self.cond(c))
        return h + self.fc2(dropout(a, self.rate, key))


class MLP(nnx.Module):
    """Time- (and optionally class-) conditioned residual MLP; ``net(x, t, label=None, *, dropout_key=None)``.

    Args:
      data_dim: d, the size of the last axis of x (B, d).
      hidden: width of every hidden layer and of the time embedding.
      depth: number of residual blocks.
      out_dim: output width (default ``data_dim``).
      time_scale: the network embeds ``time_scale * t``.
      embedding: "sinusoidal" or "fourier" time features.
      num_classes: None (unconditional) or the number of classes (the table gets a null row).
      dropout: dropout rate inside the residual blocks (active only with a ``dropout_key``).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, data_dim: int, *, hidden: int = 128, depth: int = 3,
                 out_dim: int | None = None, time_scale: float = 1000.0,
                 embedding: str = "sinusoidal", fourier_scale: float = 16.0,
                 num_classes: int | None = None, dropout: float = 0.0, dtype: Any = None,
                 rngs: nnx.Rngs):
        checks.positive_int("MLP", "data_dim", data_dim)
        checks.positive_int("MLP", "hidden", hidden)
        checks.positive_int("MLP", "depth", depth)
        out_dim = data_dim if out_dim is None else checks.positive_int("MLP", "out_dim", out_dim)
        rate = checks.probability("MLP", "dropout", dropout, hi_open=True)
        self.data_dim = data_dim
        self.num_classes = num_classes
        self.time_embed = TimeEmbedding(hidden, hidden, embedding=embedding, time_scale=time_scale,
                                        fourier_scale=fourier_scale, dtype=dtype, rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, hidden, dtype=dtype, rngs=rngs)
                            if num_classes is not None else None)
        self.fc_in = linear(data_dim, hidden, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List([MLPBlock(hidden, dropout=rate, dtype=dtype, rngs=rngs)
                                for _ in range(depth)])
        self.fc_out = linear(hidden, out_dim, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        if x.ndim != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"MLP expects x of shape (B, {self.data_dim}), got {x.shape}.")
        check_label(label, self.num_classes)
        batch = x.shape[0]
        emb = self.time_embed(batch_times(t, batch))
        if self.label_embed is not None:
            emb = emb + self.label_embed(label, batch)
        c = jax.nn.silu(emb)
        h = self.fc_in(x)
        for i, block in enumerate(self.blocks):
            h = block(h, c, site_key(dropout_key, i))
        return self.fc_out(jax.nn.silu(h)).astype(x.dtype)
