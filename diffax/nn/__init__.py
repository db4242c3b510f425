"""flax.nnx networks for diffusion and flow models.

Every network is called as ``net(x, t, label=None, *, dropout_key=None)``:

* ``x``: (B, ...) data; ``t``: (B,) (or scalar) noise-conditioning input, already mapped by
  the caller (e.g. EDM ``c_noise``, or t in [0, 1]); the network embeds ``time_scale * t``.
* ``label``: optional (B,) int class ids in [0, num_classes]; ``num_classes`` is the null
  label (classifier-free guidance) and ``label=None`` means all-null.
* ``dropout_key``: None (deterministic) or a PRNG key; dropout is a pure function of it, so
  ``nnx.split`` -> ``jax.jit`` -> ``nnx.merge`` is pure.

Returns an array of x's shape (``out_channels`` channels when given).

The time-series networks (:class:`CSDI`, :class:`UNet1D`, windows x (B, L, K)) take more
keywords: ``cond_mask``, ``cond_values``, ``time`` and ``pad_mask`` (see
:mod:`diffax.nn.series`). The molecule network :class:`EGNN` (x (B, N, 3 + F): positions and
atom types) takes ``node_mask`` (see :mod:`diffax.nn.egnn`).
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from diffax.nn.csdi import CSDI
from diffax.nn.dit import DiT, patchify, sincos_2d, unpatchify
from diffax.nn.egnn import EGNN
from diffax.nn.embeddings import (EMBEDDINGS, Buffer, FourierFeatures, LabelEmbedding,
                                  TimeEmbedding, sinusoidal_embedding)
from diffax.nn import init
from diffax.nn.functional import dropout
from diffax.nn.mlp import MLP
from diffax.nn.params import count_params, param_summary
from diffax.nn.point_transformer import PointTransformer
from diffax.nn.unet import UNet
from diffax.nn.unet1d import UNet1D
from diffax.registry import Registry, check_options
from diffax.neural_sde.network import NeuralSDENetwork

# Networks fit any process family (they map arrays to arrays); no family recorded.
NETWORKS: Registry[type[nnx.Module]] = Registry("network")
NETWORKS.add("mlp", MLP)
NETWORKS.add("unet", UNet)
NETWORKS.add("dit", DiT)
NETWORKS.add("csdi", CSDI)
NETWORKS.add("unet1d", UNet1D)
NETWORKS.add("point_transformer", PointTransformer)
NETWORKS.add("egnn", EGNN)
NETWORKS.add("stable_neural_sde", NeuralSDENetwork)  # net(x, key, observed_mask=, time=)


def get_network(name: str, **options: Any) -> nnx.Module:
    """Build a network by name (for configs); ``options`` (including ``rngs``) go to its
    constructor, and a misspelt option is a ValueError naming the valid ones."""
    cls = NETWORKS.get(name)
    # nnx's metaclass hides the constructor's signature from the class itself.
    check_options(f"network {name!r}", cls.__init__, options, skip=1)
    return cls(**options)


__all__ = [
    "MLP", "UNet", "DiT", "CSDI", "UNet1D", "EGNN", "NETWORKS", "NeuralSDENetwork", "get_network",
    "count_params", "param_summary", "PointTransformer",
    "TimeEmbedding", "LabelEmbedding", "FourierFeatures", "Buffer", "EMBEDDINGS",
    "sinusoidal_embedding", "sincos_2d", "patchify", "unpatchify", "dropout", "init",
]
