"""Shared helpers for the diffax.nn tests."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def randomize_zero_params(model: nnx.Module, seed: int = 0, scale: float = 0.2) -> nnx.Module:
    """Give every all-zero Param (zero-initialised output layers, biases, adaLN-Zero) random
    values, so that the effect of the inputs on the output becomes visible."""
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    rng = np.random.default_rng(seed)  # host RNG: no per-shape XLA compilations
    new = [jnp.asarray(scale * rng.standard_normal(a.shape), a.dtype) if not np.any(np.asarray(a))
           else a for a in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))


_APPLY = {}


def jit_apply(model: nnx.Module):
    """``f(x, t, label=None, key=None)``: the model through nnx.split -> jax.jit -> nnx.merge.
    Models with the same graph definition share one jitted function (one compilation per
    architecture and input shape)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if graphdef not in _APPLY:
        def apply(params, rest, x, t, label, key):
            return nnx.merge(graphdef, params, rest)(x, t, label, dropout_key=key)
        _APPLY[graphdef] = jax.jit(apply)
    apply = _APPLY[graphdef]
    return lambda x, t, label=None, key=None: apply(params, rest, x, t, label, key)


def images(batch: int, size: int, channels: int, seed: int = 0) -> jnp.ndarray:
    return jax.random.normal(jax.random.PRNGKey(seed), (batch, size, size, channels))
