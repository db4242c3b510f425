"""E(n)-equivariant graph denoiser (EGNN; Satorras, Hoogeboom & Welling 2021, "E(n)
Equivariant Graph Neural Networks", ICML) for molecules, in the form used by EDM
(Hoogeboom et al. 2022, "Equivariant Diffusion for Molecule Generation in 3D", ICML).

Input ``x`` (B, N, 3 + F): positions ``r_i`` (first 3 channels) and atom-type features
``f_i`` of N nodes; ``node_mask`` (B, N) marks the real nodes (m_i = 1). With the edge mask
``e_ij = m_i m_j (1 - delta_ij)`` (a complete graph over the real nodes), positions centred
over the real nodes (``r_i <- r_i - sum_j m_j r_j / sum_j m_j``) and
``h_i^0 = W_in f_i + time_embed(time_scale * t)``, each layer l = 0..L-1 computes

    d_ij   = ||r_i - r_j||^2,                       d_ij^0 = the same at the input
    m_ij   = phi_e(h_i, h_j, d_ij, d_ij^0);         m_ij <- m_ij sigmoid(w^T m_ij)
    h_i   <- m_i (h_i + phi_h(h_i, sum_j e_ij m_ij / Z))
    r_i   <- r_i + sum_j e_ij (r_i - r_j) / (sqrt(d_ij) + 1) * tanh(phi_r(m_ij)) * s / Z

(Satorras et al. eqs. 3-6; the normalised difference, the tanh with range ``s`` and
``d^0`` as an edge attribute are EDM's stabilisations; ``Z = normalization``). The
output is

    out_i = m_i [ P(r^L - r^0)_i ,  W_out h_i^L ],    P(v)_i = v_i - sum_j m_j v_j / sum_j m_j,

so the position channels are E(3)-equivariant (rotations and reflections), invariant to
translations of the input and have zero mean over the real nodes; the feature channels
are E(3)-invariant; relabelling the nodes permutes the output; padding nodes (m_i = 0)
neither receive nor send messages and their output is 0.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn.embeddings import TimeEmbedding
from diffax.nn.functional import batch_times
from diffax.nn.layers import linear

POSITION_DIMS = 3


def masked_mean(v: jax.Array, node_mask: jax.Array) -> jax.Array:
    """``sum_i m_i v_i / sum_i m_i`` over the node axis; (B, N, D) -> (B, 1, D)."""
    m = node_mask[..., None].astype(v.dtype)
    return jnp.sum(v * m, axis=1, keepdims=True) / jnp.maximum(
        jnp.sum(m, axis=1, keepdims=True), 1.0)


def zero_center_of_mass(v: jax.Array, node_mask: jax.Array) -> jax.Array:
    """``m_i (v_i - mean over real nodes)``: the projection onto the zero-centre-of-mass
    subspace of the real nodes (EDM's ``remove_mean_with_mask``), 0 on padding."""
    return (v - masked_mean(v, node_mask)) * node_mask[..., None].astype(v.dtype)


class _MLP(nnx.Module):
    def __init__(self, cin: int, hidden: int, cout: int, *, zero: bool = False,
                 dtype: Any, rngs: nnx.Rngs):
        self.fc1 = linear(cin, hidden, dtype=dtype, rngs=rngs)
        self.fc2 = linear(hidden, cout, zero=zero, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.silu(self.fc1(x)))


class EGNNLayer(nnx.Module):
    """One equivariant layer (module docstring): ``(h, r) -> (h', r')``."""

    def __init__(self, hidden: int, *, coords_range: float, normalization: float,
                 dtype: Any, rngs: nnx.Rngs):
        self.edge = _MLP(2 * hidden + 2, hidden, hidden, dtype=dtype, rngs=rngs)
        self.gate = linear(hidden, 1, dtype=dtype, rngs=rngs)
        self.node = _MLP(2 * hidden, hidden, hidden, dtype=dtype, rngs=rngs)
        self.coord = _MLP(hidden, hidden, 1, zero=True, dtype=dtype, rngs=rngs)
        self.coords_range = float(coords_range)
        self.normalization = float(normalization)

    def __call__(self, h, r, d0, node_mask, edge_mask):
        n = h.shape[1]
        diff = r[:, :, None, :] - r[:, None, :, :]                    # (B, N, N, 3)
        d = jnp.sum(diff ** 2, axis=-1, keepdims=True)                 # (B, N, N, 1)
        shape = h.shape[:2] + (n, h.shape[-1])
        pair = jnp.concatenate([jnp.broadcast_to(h[:, :, None], shape),
                                jnp.broadcast_to(h[:, None, :], shape), d, d0], axis=-1)
        m = jax.nn.silu(self.edge(pair))
        m = m * jax.nn.sigmoid(self.gate(m)) * edge_mask
        agg = jnp.sum(m, axis=2) / self.normalization
        h = (h + self.node(jnp.concatenate([h, agg], axis=-1))) * node_mask[..., None]
        step = jnp.tanh(self.coord(m)) * self.coords_range * edge_mask
        unit = diff / (jnp.sqrt(d + 1e-8) + 1.0)
        r = r + jnp.sum(unit * step, axis=2) / self.normalization
        return h, r * node_mask[..., None]


class EGNN(nnx.Module):
    """EGNN denoiser; ``net(x, t, label=None, *, node_mask=None, dropout_key=None)`` ->
    (B, N, 3 + F) (equations in the module docstring).

    Args:
      num_features: F, the atom-type channels after the 3 position channels of x.
      hidden: node and message width.
      num_layers: equivariant layers L.
      time_scale: the network embeds ``time_scale * t``.
      coords_range: range ``s`` of each position update's tanh.
      normalization: ``Z``, the sums over neighbours are divided by it (EDM: 1).
      num_classes: must be None (no class conditioning).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, num_features: int, *, hidden: int = 64, num_layers: int = 4,
                 time_scale: float = 1000.0, coords_range: float = 15.0,
                 normalization: float = 1.0, num_classes: int | None = None,
                 dtype: Any = None, rngs: nnx.Rngs):
        for name, value in [("num_features", num_features), ("hidden", hidden),
                            ("num_layers", num_layers)]:
            checks.positive_int("EGNN", name, value)
        checks.positive("EGNN", "coords_range", coords_range)
        checks.positive("EGNN", "normalization", normalization)
        if num_classes is not None:
            raise ValueError(f"EGNN: class conditioning is not supported; got "
                             f"num_classes={num_classes!r}, use None.")
        self.num_features = num_features
        self.num_classes = None
        self.embed_in = linear(num_features, hidden, dtype=dtype, rngs=rngs)
        self.time_embed = TimeEmbedding(hidden, hidden, time_scale=time_scale, dtype=dtype,
                                        rngs=rngs)
        self.layers = nnx.List([EGNNLayer(hidden, coords_range=coords_range,
                                          normalization=normalization, dtype=dtype, rngs=rngs)
                                for _ in range(num_layers)])
        self.embed_out = linear(hidden, num_features, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 node_mask: jax.Array | None = None,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        del dropout_key  # no dropout
        x = jnp.asarray(x)
        width = POSITION_DIMS + self.num_features
        if x.ndim != 3 or x.shape[-1] != width:
            raise ValueError(f"EGNN: x must have shape (B, N, {width}) (3 position channels "
                             f"+ num_features={self.num_features}), got shape {x.shape}.")
        if label is not None:
            raise ValueError("EGNN: got a label, but the network is unconditional.")
        b, n, _ = x.shape
        mask = (jnp.ones((b, n), x.dtype) if node_mask is None
                else jnp.asarray(node_mask, x.dtype))
        if mask.shape != (b, n):
            raise ValueError(f"EGNN: node_mask must have shape ({b}, {n}), got {mask.shape}.")
        eye = jnp.eye(n, dtype=x.dtype)
        edge = (mask[:, :, None] * mask[:, None, :] * (1.0 - eye))[..., None]
        r0 = zero_center_of_mass(x[..., :POSITION_DIMS], mask)
        d0 = jnp.sum((r0[:, :, None] - r0[:, None, :]) ** 2, axis=-1, keepdims=True)
        h = (self.embed_in(x[..., POSITION_DIMS:])
             + self.time_embed(batch_times(t, b))[:, None, :]) * mask[..., None]
        r = r0
        for layer in self.layers:
            h, r = layer(h, r, d0, mask, edge)
        pos = zero_center_of_mass(r - r0, mask)
        feat = self.embed_out(h) * mask[..., None]
        return jnp.concatenate([pos, feat], axis=-1).astype(x.dtype)


__all__ = ["EGNN", "EGNNLayer", "masked_mean", "zero_center_of_mass"]
