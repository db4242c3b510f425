"""Shared by the network fit tests (test_unet.py, the series nets via series_helpers.py):
Adam on a fixed loss in one jitted ``lax.scan``."""

import jax
import optax


def adam_fit(loss_fn, params, *, steps: int, lr: float):
    """``steps`` Adam steps (learning rate ``lr``) of ``loss_fn(params)`` from ``params``,
    in one jitted scan. Returns (final params, the ``steps`` losses, each before its
    update, and the loss at the final params)."""
    tx = optax.adam(lr)

    @jax.jit
    def run(p):
        def step(carry, _):
            p, o = carry
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), loss
        (p, _), losses = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
        return p, losses, loss_fn(p)

    return run(params)
