"""Where a run's state lives, from the config: ``training.mesh_shape`` = (data, model) and
``training.fsdp_min_size`` (see ``diffax.training.sharding`` and docs/sharding.md)."""

from __future__ import annotations

import jax
import ml_collections

from diffax import training


def train_mesh(config: ml_collections.ConfigDict) -> jax.sharding.Mesh:
    """The mesh of ``training.mesh_shape`` = (data, model): the 1-D data-parallel mesh when
    model is 1 (the default), else the 2-D (data x model) mesh of FSDP."""
    shape = tuple(config.training.get("mesh_shape", (-1, 1)))
    _, model = training.sharding.resolve_mesh_shape(shape, jax.device_count())
    return training.make_mesh() if model == 1 else training.make_mesh(shape=shape)


def place_state(config: ml_collections.ConfigDict, state: training.TrainState,
                mesh: jax.sharding.Mesh) -> training.TrainState:
    """``state`` on ``mesh``: replicated on a 1-D mesh; FSDP-sharded on a 2-D mesh (leaves of
    at least ``training.fsdp_min_size`` elements)."""
    min_size = config.training.get("fsdp_min_size", training.sharding.DEFAULT_MIN_SHARD_SIZE)
    return training.sharding.place_state(state, mesh, min_size)


__all__ = ["place_state", "train_mesh"]
