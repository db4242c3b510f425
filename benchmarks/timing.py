"""Wall-clock timing shared by the benchmarks (no jax config side effects on import)."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


def median_wall(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """``(result of the last call, median wall time in seconds over repeats calls)`` of
    ``fn()``. ``fn`` must block until its work is done (``jax.block_until_ready``)."""
    if repeats < 1:
        raise ValueError(f"median_wall: repeats must be >= 1, got {repeats}.")
    walls = []
    for _ in range(repeats):
        t_start = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t_start)
    return result, float(np.median(walls))
