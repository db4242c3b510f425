"""Data-parallel placement with ``jax.sharding``: one mesh axis "data".

The batch is split along its leading axis over every device of every host; parameters
and optimizer state are replicated. Each host passes only its own rows (its slice of
the global batch, see ``diffax.data`` pipelines with ``process_index/process_count``);
``jax.make_array_from_process_local_data`` assembles the global array, so the same
code runs on one CPU, 8 simulated devices, a GPU node or a multi-host TPU pod.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from diffax import checks

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all devices of all hosts), axis "data"."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("make_mesh: got an empty device list.")
    return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of ``tree`` fully replicated on ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


def check_batch_size(global_batch_size: int, mesh: Mesh, where: str = "") -> int:
    """``global_batch_size`` if it splits evenly over the devices of ``mesh`` (``where``
    names the caller in the message)."""
    return checks.multiple_of(where, "global_batch_size", global_batch_size, mesh.devices.size,
                              factor_is="the number of devices in the mesh")


def shard_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble this host's rows into global arrays sharded along "data"."""
    sharding = data_sharded(mesh)
    out = {}
    for name, value in local_batch.items():
        value = np.asarray(value)
        check_batch_size(value.shape[0] * jax.process_count(), mesh, "shard_batch")
        out[name] = jax.make_array_from_process_local_data(sharding, value)
    return out
