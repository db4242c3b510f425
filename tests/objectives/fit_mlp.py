"""A small, fast fitting loop for the few-step objective tests: ``steps`` Adam updates of
a ``diffax.nn.MLP`` on ``objective.loss`` inside one jitted ``lax.scan`` (the batch is drawn
in the scan from ``sample_batch(key)``). The train step itself is exercised elsewhere; this
keeps each test file well under a minute on two cores."""

from __future__ import annotations

from typing import Any, Callable

import jax
import optax
from flax import nnx

from diffax.nn import MLP
from diffax.training.step import network_apply


def make_net(dim: int = 2, hidden: int = 64, depth: int = 2, seed: int = 0):
    """``(net, params)``: ``net(params, x, c, **cond)`` of a fresh MLP and its parameters."""
    graphdef, params, buffers = nnx.split(MLP(dim, hidden=hidden, depth=depth,
                                              rngs=nnx.Rngs(seed)), nnx.Param, ...)
    apply = network_apply(graphdef)
    return (lambda p, x, c, **cond: apply(p, buffers, x, c, **cond)), params


def fit(objective: Any, net: Callable, params: Any, aux: Any,
        sample_batch: Callable[[jax.Array], dict], *, steps: int, lr: float = 3e-3,
        seed: int = 0) -> tuple[Any, jax.Array]:
    """``(params, losses)`` after ``steps`` Adam updates (cosine-decayed learning rate)."""
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))

    @jax.jit
    def run(params, key):
        def body(carry, k):
            p, opt = carry
            k_b, k_l = jax.random.split(k)
            batch = sample_batch(k_b)
            loss, grads = jax.value_and_grad(
                lambda q: objective.loss(net, q, aux, batch, k_l)[0])(p)
            upd, opt = tx.update(grads, opt, p)
            return (optax.apply_updates(p, upd), opt), loss

        (p, _), losses = jax.lax.scan(body, (params, tx.init(params)),
                                      jax.random.split(key, steps))
        return p, losses

    return run(params, jax.random.PRNGKey(seed))
