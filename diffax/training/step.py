"""The pure training step: loss, gradient, optimizer update, EMA, non-finite guard.

``make_train_step`` returns ``step(state, batch) -> (state, metrics)``; jit it with
``jit_train_step`` for data parallelism (batch sharded on "data", state replicated:
XLA inserts the gradient all-reduce, so the update equals the single-device one).

Non-finite losses or gradients never reach the parameters: the update is discarded
with a branch-free ``where``. Policy ``"skip"`` counts the step and goes on; policy
``"stop"`` also sets ``state.halted``, which freezes every later update, and the host
loop raises (so no checkpoint of a bad state is ever written).

Mixed precision: with ``compute_dtype=jnp.bfloat16`` the network runs on bfloat16 copies
of the float32 parameters and inputs; the loss, gradients, optimizer state and EMAs stay
float32.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from diffax.training.ema import update_ema
from diffax.training.sharding import replicated
from diffax.training.state import TrainState

NONFINITE_POLICIES = ("stop", "skip")

LossFn = Callable[[Callable, dict, jax.Array], tuple[jax.Array, dict]]


def network_apply(graphdef: nnx.GraphDef) -> Callable:
    """``apply(params, buffers, x, c, label=None, dropout_key=None)`` for a split network."""

    def apply(params, buffers, x, c, dropout_key=None, **cond):
        return nnx.merge(graphdef, params, buffers)(x, c, dropout_key=dropout_key, **cond)

    return apply


def drop_labels(batch: dict, key: jax.Array, prob: float, null_label: int) -> dict:
    """Replace each ``batch["label"]`` by the null label with probability ``prob``
    (label dropout for classifier-free guidance, Ho & Salimans 2022)."""
    if prob <= 0 or "label" not in batch:
        return batch
    drop = jax.random.bernoulli(key, prob, batch["label"].shape)
    return {**batch, "label": jnp.where(drop, null_label, batch["label"])}


def _cast(tree: Any, dtype) -> Any:
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                        tree)


def make_train_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation,
                    make_model_fn: Callable[[Callable], Callable], *,
                    ema_decays: tuple[float, ...] = (), nonfinite: str = "stop",
                    compute_dtype: Any = None, label_dropout: float = 0.0,
                    null_label: int | None = None, lr_schedule: optax.Schedule | None = None,
                    ema_warmup: bool = True) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Build the pure step. ``make_model_fn(net)`` maps ``net(x, c, **cond)`` to the
    ``model_fn(x, t, **cond)`` the loss expects (see ``diffax.training.parameterization``)."""
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"unknown non-finite policy {nonfinite!r}; valid choices: "
                         f"{list(NONFINITE_POLICIES)}.")
    if not 0.0 <= label_dropout < 1.0:
        raise ValueError(f"label_dropout must lie in [0, 1), got {label_dropout}.")
    if label_dropout > 0 and null_label is None:
        raise ValueError("label_dropout > 0 needs null_label (the network's num_classes).")
    apply = network_apply(graphdef)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(state.rng, state.step)
        k_loss, k_dropout, k_label = jax.random.split(key, 3)
        batch = drop_labels(batch, k_label, label_dropout, null_label)

        def objective(params):
            p, b = _cast(params, compute_dtype), _cast(state.buffers, compute_dtype)

            def net(x, c, **cond):
                out = apply(p, b, _cast(x, compute_dtype), _cast(c, compute_dtype),
                            dropout_key=k_dropout, **cond)
                return out.astype(x.dtype)

            return loss_fn(make_model_fn(net), batch, k_loss)

        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = update_ema(state.ema, params, state.step, ema_decays, ema_warmup)

        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        apply_update = finite & ~state.halted
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(apply_update, a, b), new, old)
        halted = state.halted | (~finite if nonfinite == "stop" else False)
        new_state = state.replace(
            step=jnp.where(halted, state.step, state.step + 1),
            params=keep(params, state.params),
            opt_state=keep(opt_state, state.opt_state),
            ema=keep(ema, state.ema),
            halted=halted,
            num_nonfinite=state.num_nonfinite + (~finite).astype(jnp.int32),
        )
        metrics = {"loss": loss, "grad_norm": grad_norm, "finite": finite}
        if lr_schedule is not None:
            metrics["learning_rate"] = lr_schedule(state.step)
        return new_state, metrics

    return step


def jit_train_step(step: Callable, mesh: jax.sharding.Mesh) -> Callable:
    """jit ``step`` with a replicated state (donated) and replicated metrics; the batch
    keeps the sharding it arrives with (``shard_batch``)."""
    return jax.jit(step, out_shardings=replicated(mesh), donate_argnums=0)
