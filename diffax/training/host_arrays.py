"""Host <-> mesh helpers for the batch-parallel work outside the train step (sampling,
evaluation, likelihoods).

Rows go along the mesh's ``"data"`` axis only (a ``"model"`` axis, where the mesh has
one, holds copies of each row). A row count ``n`` that does not split over the
``D = mesh.shape["data"]`` devices is padded to ``ceil(n / D) * D`` by repeating the
last row, and the padding is cut off again on the way back. Repeated rows leave
batch-wide maxima unchanged (the error norm of the adaptive samplers, which takes the
largest per-row error), so padding does not change the step sizes those choose.

Helpers that move rows:

* :func:`global_rows` places an array that every host holds in full (a condition, the
  held-out examples) on the mesh; each host transfers only its devices' rows.
* :func:`local_rows` places each host's own rows (a data pipeline batch, as
  :func:`diffax.training.sharding.shard_batch` does).
* :func:`to_host` brings results back as NumPy arrays that are the same on every host:
  ``jax.experimental.multihost_utils.process_allgather`` when ``jax.process_count() >
  1``, ``jax.device_get`` otherwise.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from diffax.training.sharding import DATA_AXIS, data_sharded, make_mesh, replicated


def data_size(mesh: Mesh) -> int:
    """The number of devices along the mesh's "data" axis (rows are split over these)."""
    if DATA_AXIS not in mesh.shape:
        raise ValueError(f"mesh axes {tuple(mesh.shape)} have no {DATA_AXIS!r} axis; build "
                         f"the mesh with diffax.training.make_mesh.")
    return int(mesh.shape[DATA_AXIS])


def padded_count(n: int, mesh: Mesh) -> int:
    """The smallest multiple of :func:`data_size` that is ``>= n`` (``n >= 1``)."""
    if int(n) != n or n < 1:
        raise ValueError(f"padded_count: the row count must be a positive integer, got {n!r}.")
    d = data_size(mesh)
    return -(-int(n) // d) * d


def rows_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Arrays split along ``axis`` over the "data" axis, every other axis whole."""
    if axis == 0:
        return data_sharded(mesh)
    return NamedSharding(mesh, P(*([None] * axis), DATA_AXIS))


def pad_rows(x: Any, total: int, axis: int = 0) -> Any:
    """``x`` with its last row (along ``axis``) repeated up to ``total`` rows (NumPy or
    jax arrays; inside or outside jit)."""
    n = x.shape[axis]
    if total < n:
        raise ValueError(f"pad_rows: total={total} is below the {n} rows of the array.")
    if total == n:
        return x
    xp = np if isinstance(x, np.ndarray) else jax.numpy
    last = xp.take(x, xp.asarray([n - 1]), axis=axis)
    reps = [1] * x.ndim
    reps[axis] = total - n
    return xp.concatenate([x, xp.tile(last, reps)], axis=axis)


def global_rows(tree: Any, mesh: Mesh, total: int | None = None) -> Any:
    """Each leaf (an array every host holds in full, rows first) padded to ``total``
    rows (default :func:`padded_count`) and split along "data". Each host copies only
    the rows of its own devices."""
    sharding = data_sharded(mesh)

    def place(leaf):
        rows = np.asarray(leaf)
        if rows.ndim == 0:
            raise ValueError(f"global_rows: leaves need a row axis, got a scalar {rows!r}.")
        rows = pad_rows(rows, padded_count(len(rows), mesh) if total is None else total)
        return jax.make_array_from_callback(rows.shape, sharding, lambda idx: rows[idx])

    return jax.tree.map(place, tree)


def local_rows(tree: Any, mesh: Mesh) -> Any:
    """Each leaf holds this host's rows of a global batch (every host the same count).
    When the global count splits over the "data" axis, the rows stay where they are
    (split along "data"); otherwise every host gathers all rows and the batch is
    replicated (every device computes it whole, as before sharding, so a mean over the
    batch keeps its value)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return tree
    rows = len(np.asarray(leaves[0])) * jax.process_count()
    if rows % data_size(mesh) == 0:
        return jax.tree.map(lambda v: jax.make_array_from_process_local_data(
            data_sharded(mesh), np.asarray(v)), tree)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_put(jax.tree.map(np.asarray, tree), replicated(mesh))


def mesh_of(tree: Any) -> Mesh:
    """The mesh the first leaf of ``tree`` is placed on (a restored train state), or the
    default :func:`diffax.training.make_mesh` when no leaf has a ``NamedSharding``."""
    for leaf in jax.tree.leaves(tree):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, NamedSharding):
            return sharding.mesh
    return make_mesh()


def on_mesh(tree: Any, mesh: Mesh) -> Any:
    """Leaves already placed on ``mesh`` stay as they are (replicated, or FSDP-sharded
    parameters, which the jitted program gathers where it uses them); every other leaf
    (host arrays, arrays on other devices) is replicated on ``mesh``."""
    def place(leaf):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, NamedSharding) and sharding.mesh == mesh:
            return leaf
        return jax.device_put(leaf, replicated(mesh))

    return jax.tree.map(place, tree)


def to_host(tree: Any) -> Any:
    """Every leaf as a NumPy array holding the whole global value, on every host."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(np.asarray, jax.device_get(tree))


__all__ = ["data_size", "global_rows", "local_rows", "mesh_of", "on_mesh", "pad_rows",
           "padded_count", "rows_sharding", "to_host"]
