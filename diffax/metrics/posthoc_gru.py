"""The post-hoc network of TimeGAN's scores (Yoon, Jarrett & van der Schaar, 2019,
"Time-series Generative Adversarial Networks", Sec. 5) and its training.

One GRU layer (``flax.nnx.GRUCell`` scanned over time from a zero state,
``h_t = GRU(h_{t-1}, x_t)``) and a linear read-out of every hidden state (the
predictor) or of the last one (classifiers). Training is Adam on random mini-batches,
``steps`` iterations in one jitted ``lax.scan``, for the three losses of
:mod:`diffax.metrics.timeseries_generation`:

* discriminator: ``2 mean BCE(logit, label)`` over ``batch_size`` real (label 1) and
  ``batch_size`` generated (label 0) windows, i.e. mean over real + mean over generated;
* predictor: ``sum w |x^ - x| / max(sum w, 1)`` (L1 on the observed targets);
* classifier: mean softmax cross-entropy with integer labels.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

Array = jax.Array

EVAL_BATCH = 1024  # windows per evaluation block


class GRUNet(nnx.Module):
    """One GRU layer from a zero state, then a linear map of every hidden state
    (``per_step``) or of the last one."""

    def __init__(self, in_features: int, hidden: int, out_features: int, *,
                 per_step: bool, rngs: nnx.Rngs):
        self.hidden = hidden
        self.per_step = per_step
        self.cell = nnx.GRUCell(in_features, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, out_features, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        # A plain lax.scan over time (what nnx.RNN does, without its nnx.scan lifting,
        # which refuses parameters closed over from an enclosing lax.map).
        def step(h, x_t):
            h, _ = self.cell(h, x_t)
            return h, h

        h0 = jnp.zeros((x.shape[0], self.hidden), x.dtype)
        h_last, hs = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
        return self.head(jnp.swapaxes(hs, 0, 1) if self.per_step else h_last)


def init(key: Array, in_features: int, hidden: int, out_features: int, per_step: bool):
    """``(graphdef, parameters)`` of a fresh :class:`GRUNet` initialised from ``key``."""
    net = GRUNet(in_features, hidden, out_features, per_step=per_step,
                 rngs=nnx.Rngs(params=key))
    return nnx.split(net)  # (graphdef, parameters): the net holds nothing else


def batch_indices(key: Array, n: int, size: int) -> Array:
    """``size`` distinct indices in [0, n) (all of them, in order, when size == n)."""
    if size >= n:
        return jnp.arange(n)
    return jax.random.choice(key, n, (size,), replace=False)


def adam(params, key: Array, loss_fn, steps: int, lr: Array):
    """``steps`` Adam updates of ``loss_fn(params, step_key)`` in one ``lax.scan``."""
    tx = optax.adam(lr)

    def step(carry, k):
        p, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, k)
        updates, state = tx.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                       jax.random.split(key, steps))
    return params, losses


_STATIC = ("graphdef", "steps", "batch_size")


@functools.partial(jax.jit, static_argnames=_STATIC)
def train_discriminator(graphdef, params, key, real, generated, lr, *, steps, batch_size):
    """``steps`` Adam updates of the discriminator (module docstring); (params, losses)."""
    def loss_fn(p, k):
        kr, kg = jax.random.split(k)
        x = jnp.concatenate([real[batch_indices(kr, real.shape[0], batch_size)],
                             generated[batch_indices(kg, generated.shape[0], batch_size)]])
        logits = nnx.merge(graphdef, p)(x)[:, 0]  # one pass (half the compiled program)
        labels = (jnp.arange(x.shape[0]) < batch_size).astype(logits.dtype)
        # mean over real + mean over generated (the two halves have equal size)
        return 2.0 * jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))

    return adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=_STATIC)
def train_predictor(graphdef, params, key, inputs, targets, weights, lr, *, steps,
                    batch_size):
    """``steps`` Adam updates of the predictor (module docstring); (params, losses)."""
    def loss_fn(p, k):
        idx = batch_indices(k, inputs.shape[0], batch_size)
        err = jnp.abs(nnx.merge(graphdef, p)(inputs[idx]) - targets[idx])
        w = weights[idx]
        return jnp.sum(w * err) / jnp.maximum(jnp.sum(w), 1.0)

    return adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=_STATIC)
def train_classifier(graphdef, params, key, inputs, labels, lr, *, steps, batch_size):
    """``steps`` Adam updates of the classifier (module docstring); (params, losses)."""
    def loss_fn(p, k):
        idx = batch_indices(k, inputs.shape[0], batch_size)
        logits = nnx.merge(graphdef, p)(inputs[idx])
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]))

    return adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def apply(graphdef, params, x):
    """The net on every window of ``x`` (N, L, F), in blocks of ``EVAL_BATCH``."""
    return jax.lax.map(lambda xi: nnx.merge(graphdef, params)(xi[None])[0], x,
                       batch_size=min(EVAL_BATCH, x.shape[0]))

