"""Losses, a small Adam training loop and chunked prediction for :class:`StableNeuralSDE`.

A batch is a dict with ``x`` (B, L, K), ``observed_mask`` (what the model sees),
``time`` (B, L) and either ``label`` (B,) (classification) or ``target_mask`` (B, L, K)
(the entries to reconstruct: hidden points or a forecast horizon) with their values in
``target`` (B, L, K), or in ``x`` itself when there is no ``target`` key (the model
never reads ``x`` where ``observed_mask`` is 0).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from diffax import checks
from diffax.training.host_arrays import pad_rows

LossFn = Callable[[nnx.Module, dict, jax.Array], tuple[jax.Array, dict]]


def _forward(model, batch, key):
    return model(batch["x"], batch["observed_mask"], batch["time"], key=key)


def classification_loss(model: nnx.Module, batch: dict, key: jax.Array
                        ) -> tuple[jax.Array, dict]:
    """Mean cross-entropy of the logits against ``batch["label"]``; aux: accuracy."""
    logits = _forward(model, batch, key)
    labels = batch["label"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    acc = (jnp.argmax(logits, -1) == labels).mean()
    return loss, {"accuracy": acc}


def masked_mse(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``(pred - target)^2`` over the entries where ``mask`` is 1 (0 if none)."""
    mask = jnp.asarray(mask, pred.dtype)
    return jnp.sum(mask * (pred - target) ** 2) / jnp.maximum(mask.sum(), 1.0)


def reconstruction_loss(model: nnx.Module, batch: dict, key: jax.Array
                        ) -> tuple[jax.Array, dict]:
    """Masked MSE of the "sequence" readout against ``batch["target"]`` (or ``x``) on
    ``batch["target_mask"]``."""
    pred = _forward(model, batch, key)
    loss = masked_mse(pred, batch.get("target", batch["x"]), batch["target_mask"])
    return loss, {"mse": loss}


@functools.lru_cache(maxsize=32)
def _train_step(graphdef: nnx.GraphDef, loss_fn: LossFn, learning_rate: float,
                clip_norm: float) -> tuple[optax.GradientTransformation, Callable]:
    """Optimizer and jitted step for one model structure (cached: models of the same
    structure, e.g. the same class at several missing rates, share one compilation)."""
    tx = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(learning_rate))

    @jax.jit
    def step(params, rest, opt_state, batch, key):
        def objective(p):
            return loss_fn(nnx.merge(graphdef, p, rest), batch, key)

        (loss, _), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return tx, step


def fit(model: nnx.Module, loss_fn: LossFn, batch_fn: Callable[[int], dict], *,
        steps: int, key: jax.Array, learning_rate: float = 1e-2,
        clip_norm: float = 1.0) -> list[float]:
    """Train ``model`` in place with Adam (global-norm clipping) for ``steps`` steps on
    ``batch_fn(step)``; every step draws fresh Brownian noise. Returns the losses."""
    steps = checks.positive_int("fit", "steps", steps)
    learning_rate = checks.positive("fit", "learning_rate", learning_rate)
    clip_norm = checks.positive("fit", "clip_norm", clip_norm)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx, step = _train_step(graphdef, loss_fn, learning_rate, clip_norm)
    opt_state = tx.init(params)
    losses = []
    for i in range(steps):
        batch = {k: jnp.asarray(v) for k, v in batch_fn(i).items()}
        params, opt_state, loss = step(params, rest, opt_state, batch,
                                       jax.random.fold_in(key, i))
        losses.append(float(loss))
    nnx.update(model, params)
    return losses


@functools.lru_cache(maxsize=32)
def _predict_fn(graphdef: nnx.GraphDef, samples: int) -> Callable:
    @jax.jit
    def run(state, x, mask, time, key):
        m = nnx.merge(graphdef, state)
        keys = jax.random.split(key, samples)
        return jnp.mean(jnp.stack([m(x, mask, time, key=k) for k in keys]), axis=0)

    return run


def predict(model: nnx.Module, batch: dict, key: jax.Array, *, batch_size: int = 256,
            samples: int = 1) -> np.ndarray:
    """Model outputs on a whole split (``batch`` of NumPy arrays), in chunks of
    ``batch_size`` (the last one padded: one compilation), averaged over ``samples``
    Brownian paths."""
    batch_size = checks.positive_int("predict", "batch_size", batch_size)
    samples = checks.positive_int("predict", "samples", samples)
    graphdef, state = nnx.split(model)
    run = _predict_fn(graphdef, samples)
    n = len(batch["x"])
    time = np.broadcast_to(np.asarray(batch["time"]), np.shape(batch["x"])[:2])
    batch = {"x": batch["x"], "observed_mask": batch["observed_mask"], "time": time}
    size = min(batch_size, n)
    out = []
    for start in range(0, n, size):
        chunk = [np.asarray(batch[k][start:start + size])
                 for k in ("x", "observed_mask", "time")]
        m = len(chunk[0])
        chunk = [pad_rows(c, size) for c in chunk]
        out.append(np.asarray(run(state, *chunk, jax.random.fold_in(key, start)))[:m])
    return np.concatenate(out)
