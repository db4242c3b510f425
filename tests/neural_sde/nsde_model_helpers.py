"""Shared set-up of the StableNeuralSDE model tests (test_nsde_model.py,
test_nsde_readout_grad.py): a small batch with half of the observations dropped, a small
model, and one jitted call returning the output and the latent."""

import jax
import jax.numpy as jnp
from flax import nnx

from diffax.neural_sde import StableNeuralSDE, drop_observations

B, L, K = 4, 10, 2


def data(seed=0):
    x = jax.random.normal(jax.random.key(seed), (B, L, K))
    mask = drop_observations(jnp.ones((B, L, K)), 0.5, jax.random.key(seed + 1))
    return x * mask, mask, jnp.arange(L, dtype=jnp.float32)


def small(kind, **kw):
    kw = dict(hidden=6, width=8, steps=8) | kw
    return StableNeuralSDE(kind, K, 3, rngs=nnx.Rngs(0), **kw)


def jitted(model):
    """``run(x, mask, time, key) -> (output, latent)``, one compilation per model."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, x, mask, time, key):
        m = nnx.merge(graphdef, state)
        return m(x, mask, time, key=key), m.latent(x, mask, time, key=key)

    return lambda *args: run(state, *args)
