"""Preemption-safe checkpoints with orbax.

``Checkpointer`` wraps ``ocp.CheckpointManager``: periodic saves keeping the newest
``max_to_keep``, restore of the latest step onto the current mesh (abstract targets carry
the shardings), and a refusal to save a state whose run has halted on a non-finite
loss. orbax writes to a temporary directory and renames it when complete, so a process
killed mid-save leaves the previous checkpoint as the latest valid one.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from diffax.training.state import TrainState


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing ``tree``: a restore target."""
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)),
        tree)


class Checkpointer:
    """Save every ``save_every`` steps into ``directory``, keeping ``max_to_keep``."""

    def __init__(self, directory: str, *, save_every: int, max_to_keep: int = 3,
                 async_save: bool = True):
        if save_every <= 0:
            raise ValueError(f"save_every must be > 0, got {save_every}.")
        if max_to_keep <= 0:
            raise ValueError(f"max_to_keep must be > 0, got {max_to_keep}.")
        self.directory = os.path.abspath(directory)
        self.save_every = save_every
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def should_save(self, step: int) -> bool:
        return step % self.save_every == 0

    def save(self, state: TrainState, *, step: int) -> None:
        """Save ``state`` as checkpoint ``step`` unless its run has halted."""
        if bool(jax.device_get(state.halted)):
            raise RuntimeError("refusing to checkpoint a halted state (non-finite loss); "
                               f"the latest good checkpoint stays step {self.latest_step()}.")
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, target: TrainState, step: int | None = None) -> TrainState:
        """Restore ``step`` (default: latest) with the structure/shardings of ``target``."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}.")
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_like(target)))

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
