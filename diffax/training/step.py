"""The pure training step: objective, gradient, optimizer update, EMA, non-finite guard.

``make_train_step`` returns ``step(state, batch) -> (state, metrics)``; jit it with
``jit_train_step`` for data parallelism (batch sharded on "data", state replicated:
XLA inserts the gradient all-reduce, so the update equals the single-device one) or for
FSDP (state sharded over a "model" mesh axis, :mod:`diffax.training.sharding`).

The step knows nothing about diffusion: it differentiates ``objective.loss`` (see
:mod:`diffax.training.objective`) and then lets the objective update its auxiliary state
(``TrainState.aux``: a teacher, an EMA target, a buffer). An optional
``batch_transform(batch, key)`` runs first (e.g. label dropout for classifier-free
guidance, :func:`diffax.objectives.label_dropout`).

Non-finite losses or gradients never reach the parameters: the update is discarded
with a branch-free ``where``. Policy ``"skip"`` counts the step and goes on; policy
``"stop"`` also sets ``state.halted``, which freezes every later update, and the host
loop raises (so no checkpoint of a bad state is ever written).

Gradient accumulation: with ``grad_accum_steps=k > 1`` the global batch of B rows is split
into k micro-batches of B/k rows inside the jitted step and a ``lax.scan`` runs the forward
and backward pass on one micro-batch at a time, so activation memory scales with B/k.
Row i goes to micro-batch ``i mod k`` (a strided split: each device's contiguous shard of
the data-sharded batch splits locally into k strided pieces, so no rows move between
devices when B is a multiple of k x devices). The update uses the mean of the micro-batch
gradients, g = (1/k) sum_j grad L_j, and the reported loss is (1/k) sum_j L_j; for an
objective that averages over its rows this is exactly the gradient of the mean loss over
the whole batch, up to float rounding (one optimizer update per step, as with k = 1).
Keys: the step's keys ``k_loss, k_dropout, k_batch`` are derived as for k = 1, and
micro-batch j uses ``fold_in(k_loss, j)``, ``fold_in(k_dropout, j)`` and
``fold_in(k_batch, j)`` (the batch transform runs per micro-batch). The noise therefore
differs from an unaccumulated run of the same batch; k = 1 keeps the original step, bit for
bit.

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
from diffax.training.sharding import batch_sharded, replicated
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
                    ema_warmup: bool = True,
                    grad_accum_steps: int = 1) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Build the pure step that minimises ``objective`` (an :class:`Objective`) over the
    parameters of the network ``graphdef``; ``grad_accum_steps`` micro-batches per step
    (module docstring)."""
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"unknown non-finite policy {nonfinite!r}; valid choices: "
                         f"{list(NONFINITE_POLICIES)}.")
    if not isinstance(grad_accum_steps, int) or isinstance(grad_accum_steps, bool) \
            or grad_accum_steps < 1:
        raise ValueError(f"grad_accum_steps={grad_accum_steps!r} is invalid: expected an "
                         f"integer >= 1 (1: no accumulation).")
    check_objective(objective)
    apply = network_apply(graphdef)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(state.rng, state.step)
        k_loss, k_dropout, k_batch = jax.random.split(key, 3)

        def loss_and_grads(batch, k_loss, k_dropout, k_batch):
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
            return loss, grads

        if grad_accum_steps == 1:
            loss, grads = loss_and_grads(batch, k_loss, k_dropout, k_batch)
        else:
            loss, grads = _accumulate(loss_and_grads, batch, grad_accum_steps,
                                      (k_loss, k_dropout, k_batch))
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


def split_micro_batches(batch: dict, k: int) -> dict:
    """Stack ``batch`` (leading axis B) into k strided micro-batches, shape (k, B/k, ...):
    micro-batch j holds rows j, j + k, j + 2k, ... (module docstring)."""
    out = {}
    for name, value in batch.items():
        n = value.shape[0]
        if n % k:
            raise ValueError(f"batch[{name!r}] has {n} rows, which do not split into "
                             f"grad_accum_steps={k} micro-batches; use a batch size that is a "
                             f"multiple of {k} (and of {k} x the number of devices).")
        out[name] = jnp.swapaxes(value.reshape(n // k, k, *value.shape[1:]), 0, 1)
    return out


def _accumulate(loss_and_grads: Callable, batch: dict, k: int,
                keys: tuple[jax.Array, ...]) -> tuple[jax.Array, Any]:
    """Mean loss and mean gradient over k micro-batches with one ``lax.scan``; micro-batch
    j gets ``fold_in(key, j)`` of every key in ``keys``."""
    micro = split_micro_batches(batch, k)

    def body(carry, xs):
        loss_sum, grad_sum = carry
        j, mb = xs
        loss, grads = loss_and_grads(mb, *(jax.random.fold_in(key, j) for key in keys))
        return (loss_sum + loss, jax.tree.map(jnp.add, grad_sum, grads)), None

    first = jax.tree.map(lambda a: a[0], micro)
    shapes = jax.eval_shape(lambda: loss_and_grads(first, *keys))
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    (loss_sum, grad_sum), _ = jax.lax.scan(body, zeros, (jnp.arange(k), micro))
    return loss_sum / k, jax.tree.map(lambda g: g / k, grad_sum)


def jit_train_step(step: Callable, mesh: jax.sharding.Mesh,
                   state_shardings: Any = None) -> Callable:
    """jit ``step`` with the state (donated) in and out on ``state_shardings`` (a pytree of
    shardings like the state, :func:`diffax.training.sharding.state_shardings`; default:
    replicated) and replicated metrics. Without ``state_shardings`` the batch keeps the
    sharding it arrives with; with them it must arrive split over every device
    (``shard_batch``, :func:`~diffax.training.sharding.batch_sharded`). With FSDP
    shardings XLA inserts the all-gathers of the sharded weights and the reduce-scatters
    of their gradients."""
    if state_shardings is None:
        return jax.jit(step, out_shardings=replicated(mesh), donate_argnums=0)
    return jax.jit(step, in_shardings=(state_shardings, batch_sharded(mesh)),
                   out_shardings=(state_shardings, replicated(mesh)), donate_argnums=0)
