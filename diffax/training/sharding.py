"""Placement with ``jax.sharding``: data parallelism, optionally with FSDP model sharding.

Data parallel (``make_mesh()``, a 1-D mesh, axis "data"): the batch is split along its
leading axis over every device of every host; parameters and optimizer state are
replicated. Each host passes only its own rows (its slice of the global batch, see
``diffax.data`` pipelines with ``process_index/process_count``);
``jax.make_array_from_process_local_data`` assembles the global array, so the same code
runs on one CPU, 8 simulated devices, a GPU node or a multi-host TPU pod.

Fully sharded data parallel (``make_mesh(shape=(d, m))``, a 2-D mesh, axes "data" x
"model"): as in ZeRO-3 (Rajbhandari et al., 2020, "ZeRO: Memory Optimizations Toward
Training Trillion Parameter Models") and PyTorch FSDP (Zhao et al., 2023), every large
leaf of the parameters, the optimizer state, the EMA copies and the objective's auxiliary
state is split over the m devices of the "model" axis, along its largest dimension that
m divides (:func:`fsdp_spec`); a leaf with fewer than ``min_size`` elements, or with no
dimension that m divides, is replicated. The rule looks only at shapes, so it covers any
network (U-Net, DiT, MLP) with no per-network code, and the optimizer's moments, being
parameter-shaped, land on the same devices as their parameters. Per device, a sharded
leaf of n elements holds n/m of them, so parameter + optimizer memory falls towards 1/m.

The batch is split over *both* axes (:func:`batch_sharded`, ``P(("data", "model"))``):
every device computes its own B/(d m) rows, as in pure data parallelism, and XLA's SPMD
partitioner inserts the all-gather of each sharded weight before its use and the
reduce-scatter of its gradient. Splitting the batch over "data" only would make the m
devices of a "model" row compute the same rows m times over (that layout suits tensor
parallelism, which would need per-layer rules). ``data_sharded(mesh)`` keeps splitting
rows over "data" only, for sampling and evaluation, which read whole parameter sets.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from diffax import checks

DATA_AXIS = "data"
MODEL_AXIS = "model"
# leaves with fewer elements stay replicated under FSDP (64 KiB of float32): biases, norms
# and small embeddings cost more in collective latency than they save in memory
DEFAULT_MIN_SHARD_SIZE = 2 ** 14
# TrainState fields that FSDP shards; the others (step, buffers, rng, flags) are replicated
SHARDED_STATE_FIELDS = ("params", "opt_state", "ema", "aux")


def resolve_mesh_shape(shape: Sequence[int], num_devices: int) -> tuple[int, int]:
    """``(data, model)`` with ``data = -1`` resolved to ``num_devices // model``; raises a
    ValueError naming the shape unless data x model == num_devices."""
    shape = tuple(shape)
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape)
    if len(shape) != 2 or not ints or shape[1] < 1 or (shape[0] < 1 and shape[0] != -1):
        raise ValueError(f"mesh shape {shape!r} is invalid: expected (data, model) with "
                         f"model >= 1 and data >= 1, or data = -1 for "
                         f"{num_devices} // model.")
    data, model = int(shape[0]), int(shape[1])
    if data == -1:
        if num_devices % model:
            raise ValueError(f"mesh shape {shape!r} is invalid: model={model} does not divide "
                             f"the {num_devices} devices; choose a divisor of {num_devices}.")
        data = num_devices // model
    if data * model != num_devices:
        raise ValueError(f"mesh shape {shape!r} is invalid: data x model = {data * model}, but "
                         f"there are {num_devices} devices; use (-1, model) with model "
                         f"dividing {num_devices}.")
    return data, model


def make_mesh(devices: Sequence[jax.Device] | None = None,
              shape: Sequence[int] | None = None) -> Mesh:
    """A mesh over ``devices`` (default: all devices of all hosts).

    Without ``shape``: the 1-D mesh, axis "data" (data parallelism). With
    ``shape=(data, model)`` (``data=-1``: all the devices the model axis leaves): a 2-D
    mesh, axes ("data", "model"); devices keep their order (hosts contiguous), with
    neighbours along "model", which carries the all-gathers of FSDP.
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("make_mesh: got an empty device list.")
    if shape is None:
        return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))
    data, model = resolve_mesh_shape(shape, len(devices))
    grid = np.asarray(devices, dtype=object).reshape(data, model)
    return Mesh(grid, (DATA_AXIS, MODEL_AXIS), axis_types=(AxisType.Auto, AxisType.Auto))


def model_axis_size(mesh: Mesh) -> int:
    """Devices along the "model" axis (1 for a data-parallel mesh)."""
    return int(mesh.shape.get(MODEL_AXIS, 1))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
    """Leading axis split over "data" only (replicated along "model"): sampling, eval."""
    return NamedSharding(mesh, P(DATA_AXIS))


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading axis split over every device of the mesh (all its axes, in order): the
    training batch. Equals :func:`data_sharded` on a 1-D mesh."""
    axes = tuple(mesh.axis_names)
    return NamedSharding(mesh, P(axes[0] if len(axes) == 1 else axes))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of ``tree`` fully replicated on ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


def fsdp_spec(shape: Sequence[int], model_size: int,
              min_size: int = DEFAULT_MIN_SHARD_SIZE) -> P:
    """The FSDP partition of an array of ``shape`` over a "model" axis of ``model_size``
    devices: split along the largest dimension that ``model_size`` divides (the first
    such on ties), or ``P()`` (replicated) for fewer than ``min_size`` elements or when
    no dimension is divisible."""
    if model_size <= 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return P()
    candidates = [(size, -i) for i, size in enumerate(shape) if size % model_size == 0]
    if not candidates:
        return P()
    dim = -max(candidates)[1]
    return P(*([None] * dim + [MODEL_AXIS]))


def fsdp_shardings(tree: Any, mesh: Mesh, min_size: int = DEFAULT_MIN_SHARD_SIZE) -> Any:
    """A NamedSharding for every leaf of ``tree`` (arrays or ShapeDtypeStructs) by
    :func:`fsdp_spec`; all replicated on a mesh without a "model" axis."""
    checks.integer("fsdp_shardings", "min_size", min_size, minimum=1)
    m = model_axis_size(mesh)
    return jax.tree.map(lambda a: NamedSharding(mesh, fsdp_spec(np.shape(a), m, min_size)),
                        tree)


def state_shardings(state: Any, mesh: Mesh, min_size: int = DEFAULT_MIN_SHARD_SIZE) -> Any:
    """Shardings of a ``TrainState``: FSDP (:func:`fsdp_shardings`) for the fields in
    ``SHARDED_STATE_FIELDS``, replicated for the rest; everything replicated on a 1-D
    (data-parallel) mesh."""
    rep = replicated(mesh)
    out = jax.tree.map(lambda _: rep, state)
    return out.replace(**{f: fsdp_shardings(getattr(state, f), mesh, min_size)
                          for f in SHARDED_STATE_FIELDS})


def place_state(state: Any, mesh: Mesh, min_size: int = DEFAULT_MIN_SHARD_SIZE) -> Any:
    """``state`` placed by :func:`state_shardings` (replicated on a 1-D mesh)."""
    return jax.device_put(state, state_shardings(state, mesh, min_size))


def check_batch_size(global_batch_size: int, mesh: Mesh, where: str = "") -> int:
    """``global_batch_size`` if it splits evenly over the devices of ``mesh`` (``where``
    names the caller in the message)."""
    return checks.multiple_of(where, "global_batch_size", global_batch_size, mesh.devices.size,
                              factor_is="the number of devices in the mesh")


def shard_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble this host's rows into global arrays split over every device of ``mesh``
    (:func:`batch_sharded`; "data" on a 1-D mesh)."""
    sharding = batch_sharded(mesh)
    out = {}
    for name, value in local_batch.items():
        value = np.asarray(value)
        check_batch_size(value.shape[0] * jax.process_count(), mesh, "shard_batch")
        out[name] = jax.make_array_from_process_local_data(sharding, value)
    return out
