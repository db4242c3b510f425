"""Parameter counting for flax.nnx networks (trainable ``nnx.Param`` only)."""

from __future__ import annotations

import jax
from flax import nnx


def count_params(model: nnx.Module) -> int:
    """Number of scalars in the trainable ``nnx.Param`` variables of ``model`` (buffers such
    as fixed Fourier frequencies are excluded)."""
    return int(sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))))


def param_summary(model: nnx.Module) -> str:
    """One line: total trainable parameters, then the count of each top-level submodule,
    e.g. ``"1,112,801 params (1.11M): time_embed 20,736, conv_in 320, down 229,600, ..."``."""
    state = nnx.state(model, nnx.Param)
    total = count_params(model)
    parts = [f"{name} {sum(leaf.size for leaf in jax.tree.leaves(sub)):,}"
             for name, sub in state.items()]
    return f"{total:,} params ({total / 1e6:.2f}M): " + ", ".join(parts)
