"""The pure training step: objective, gradient, optimizer update, EMA, non-finite guard.

``make_train_step`` returns ``step(state, batch) -> (state, metrics)``; jit it with
``jit_train_step`` for data parallelism (batch sharded on "data", state replicated:
XLA inserts the gradient all-reduce, so the update equals the single-device one).

The step knows nothing about diffusion: it differentiates ``objective.loss`` (see
:mod:`diffax.training.objective`) and then lets the objective update its auxiliary state
(``TrainState.aux``: a teacher, an EMA target, a buffer). An optional
``batch_transform(batch, key)`` runs first (e.g. label dropout for classifier-free
guidance, :func:`diffax.objectives.label_dropout`).

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
from diffax.training.objective import Objective, check_objective
from diffax.training.sharding import replicated
from diffax.training.state import TrainState

NONFINITE_POLICIES = ("stop", "skip")

BatchTransform = Callable[[dict, jax.Array], dict]


def network_apply(graphdef: nnx.GraphDef) -> Callable:
    """``apply(params, buffers, x, c, label=None, dropout_key=None)`` for a split network."""

    def apply(params, buffers, x, c, dropout_key=None, **cond):
        return nnx.merge(graphdef, params, buffers)(x, c, dropout_key=dropout_key, **cond)

    return apply


def _cast(tree: Any, dtype) -> Any:
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                        tree)


def make_train_step(graphdef: nnx.GraphDef, objective: Objective,
                    tx: optax.GradientTransformation, *, ema_decays: tuple[float, ...] = (),
                    nonfinite: str = "stop", compute_dtype: Any = None,
                    batch_transform: BatchTransform | None = None,
                    lr_schedule: optax.Schedule | None = None,
                    ema_warmup: bool = True) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Build the pure step that minimises ``objective`` (an :class:`Objective`) over the
    parameters of the network ``graphdef``."""
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"unknown non-finite policy {nonfinite!r}; valid choices: "
                         f"{list(NONFINITE_POLICIES)}.")
    check_objective(objective)
    apply = network_apply(graphdef)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(state.rng, state.step)
        k_loss, k_dropout, k_batch = jax.random.split(key, 3)
        if batch_transform is not None:
            batch = batch_transform(batch, k_batch)
        buffers = _cast(state.buffers, compute_dtype)

        def net(params, x, c, **cond):
            out = apply(_cast(params, compute_dtype), buffers, _cast(x, compute_dtype),
                        _cast(c, compute_dtype), dropout_key=k_dropout, **cond)
            return out.astype(x.dtype)

        def loss_of(params):
            return objective.loss(net, params, state.aux, batch, k_loss)

        (loss, _), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = update_ema(state.ema, params, state.step, ema_decays, ema_warmup)
        aux = objective.update(state.aux, params, state.step)

        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        apply_update = finite & ~state.halted
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(apply_update, a, b), new, old)
        halted = state.halted | (~finite if nonfinite == "stop" else False)
        new_state = state.replace(
            step=jnp.where(halted, state.step, state.step + 1),
            params=keep(params, state.params),
            opt_state=keep(opt_state, state.opt_state),
            ema=keep(ema, state.ema),
            aux=keep(aux, state.aux),
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
