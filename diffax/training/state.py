"""The training state: one pytree holding everything a resumed run needs.

``TrainState`` is a flax ``PyTreeNode`` so it passes through ``jax.jit``, is placed on a
mesh with one ``device_put`` and is saved/restored by orbax as a single item.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from diffax.training.ema import init_ema


class TrainState(struct.PyTreeNode):
    """Parameters, optimizer state, EMA copies, counters and the run's RNG key.

    step: number of batches consumed (the next batch to read is ``batch(step)``).
    params: trainable ``nnx.Param`` state (float32 master copy).
    buffers: every other variable of the network (e.g. fixed Fourier frequencies).
    opt_state: the optax state of ``tx``.
    ema: {"ema_<decay>": params-like} exponential moving averages.
    aux: the objective's auxiliary state (``objective.init(params)``: a teacher, an EMA
        target, a buffer; ``()`` for plain denoising), see ``diffax.training.objective``.
    rng: raw uint32 PRNG key; step ``s`` uses ``fold_in(rng, s)`` so batches and noise
        do not depend on where a run was resumed.
    halted: set when a non-finite loss is met under the "stop" policy; the parameters
        are then frozen at the last finite update and the host loop raises.
    num_nonfinite: how many steps had a non-finite loss or gradient.
    """

    step: jax.Array
    params: Any
    buffers: Any
    opt_state: Any
    ema: dict[str, Any]
    aux: Any
    rng: jax.Array
    halted: jax.Array
    num_nonfinite: jax.Array


def create_train_state(model: nnx.Module, tx: optax.GradientTransformation, *,
                       seed: int, ema_decays: tuple[float, ...] = (),
                       objective: Any = None) -> tuple[nnx.GraphDef, TrainState]:
    """Split ``model`` into (graphdef, TrainState at step 0); ``objective.init(params)``
    gives the auxiliary state (none without an objective)."""
    graphdef, params, buffers = nnx.split(model, nnx.Param, ...)
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        buffers=buffers,
        opt_state=tx.init(params),
        ema=init_ema(params, ema_decays),
        aux=() if objective is None else objective.init(params),
        rng=jax.random.PRNGKey(seed),
        halted=jnp.zeros((), bool),
        num_nonfinite=jnp.zeros((), jnp.int32),
    )
    return graphdef, state


def eval_params(state: TrainState, which: str = "ema") -> Any:
    """Parameters to sample with: ``"params"``, an EMA name ``"ema_<decay>"``, or ``"ema"``
    (the EMA with the largest decay, falling back to the raw parameters)."""
    if which == "params":
        return state.params
    if which == "ema":
        if not state.ema:
            return state.params
        return state.ema[max(state.ema, key=lambda k: float(k[len("ema_"):]))]
    if which not in state.ema:
        raise ValueError(f"unknown parameter set {which!r}; valid choices: "
                         f"{['params', 'ema', *sorted(state.ema)]}.")
    return state.ema[which]
