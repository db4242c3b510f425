"""Training machinery: state, optimizer, EMA, sharded step, checkpoints, loop, logging.

A caller supplies data (``batch_fn(step)`` returning a dict of arrays), a network
(flax.nnx) and a loss; nothing here looks at the shape of the data. What is run today is
narrower: the experiment runner builds MLP (vector) and image networks only, and the
train step takes a diffusion ``model_fn`` and label dropout (the task and objective
layers of issue 16 remove both assumptions before sequences and point clouds arrive).
"""

from diffax.training.checkpointing import (CheckpointMismatchError, Checkpointer,
                                           CorruptCheckpointError, abstract_like, state_digest)
from diffax.training import host_arrays
from diffax.training.ema import ema_key, init_ema, update_ema
from diffax.training.loop import Hook, NonFiniteLossError, fit
from diffax.training.metric_logging import MetricLogger, read_metrics
from diffax.training.optim import make_lr_schedule, make_optimizer
from diffax.training.sharding import (make_mesh, place_state, replicate, shard_batch,
                                      state_shardings)
from diffax.training.state import TrainState, create_train_state, eval_params
from diffax.training.objective import FunctionObjective, Objective, check_objective
from diffax.training.step import (NONFINITE_POLICIES, jit_train_step, make_train_step,
                                  network_apply)

__all__ = [
    "Checkpointer", "CheckpointMismatchError", "CorruptCheckpointError", "state_digest",
    "abstract_like", "host_arrays", "ema_key", "init_ema", "update_ema", "Hook",
    "NonFiniteLossError", "fit", "MetricLogger", "read_metrics", "make_lr_schedule",
    "make_optimizer", "make_mesh", "FunctionObjective", "Objective", "check_objective",
    "place_state", "replicate", "shard_batch", "state_shardings", "TrainState",
    "create_train_state", "eval_params",
    "NONFINITE_POLICIES", "jit_train_step", "make_train_step", "network_apply",
]
