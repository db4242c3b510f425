"""Wall-clock timing shared by the benchmarks (no jax config side effects on import)."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

import numpy as np


def median_wall(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """``(result of the last call, median wall time in seconds over repeats calls)`` of
    ``fn()``. ``fn`` must block until its work is done (``jax.block_until_ready``)."""
    results, walls = interleaved_walls({"fn": fn}, repeats)
    return results["fn"], float(np.median(walls["fn"]))


def interleaved_walls(fns: dict[str, Callable[[], Any]], repeats: int
                      ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Time several methods in ``repeats`` rounds; each round calls every method once,
    the order rotated by one each round. Methods compared round by round have then
    seen the same machine load (on a shared VM a slow minute would otherwise land on
    whichever method ran in it). Returns ``(last result per name, wall times per name
    in round order)``; each ``fn`` must block until its work is done."""
    if repeats < 1:
        raise ValueError(f"interleaved_walls: repeats must be >= 1, got {repeats}.")
    if not fns:
        raise ValueError("interleaved_walls: no methods to time.")
    names = list(fns)
    results: dict[str, Any] = {}
    walls: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(i + r) % len(names)]
            t_start = time.perf_counter()
            results[name] = fns[name]()
            walls[name].append(time.perf_counter() - t_start)
    return results, walls


def paired_speedup(base: list[float], other: list[float]) -> float:
    """Median over rounds of ``base[r] / other[r]`` (round-by-round wall times from
    :func:`interleaved_walls`)."""
    if len(base) != len(other) or not base:
        raise ValueError(f"paired_speedup: need equally many rounds (>= 1), got "
                         f"{len(base)} and {len(other)}.")
    return float(np.median(np.asarray(base) / np.asarray(other)))


def host_info() -> dict:
    """The host's CPU model and core count, for a benchmark's meta record."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), model)
    except OSError:
        pass
    return {"host_cpu": model, "host_cores": os.cpu_count()}
