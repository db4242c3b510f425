"""Hyper-SD's segmented consistency sampler (Ren, Xia, Lu, et al. 2024, "Hyper-SD:
Trajectory Segmented Consistency Model for Efficient Image Synthesis", Sec. 3.1).

A segmented consistency model with s segments, f(x, t), maps a PF-ODE point at a time t
in the segment (b_{j-1}, b_j] to the trajectory's point at the segment's lower boundary
b_{j-1} (:mod:`diffax.objectives.consistency_segments`). Sampling it takes one step per
segment, from the top boundary down, each step one evaluation of f:

    x_{i+1} = f(x_i, t_i),    i = 0..N-1,    t_0 = t_max > t_1 > ... > t_N = t_min,

with t_i = b_{N-i} the boundaries of N = s segments. ``model_fn`` is read through
``prediction`` as an ``"x0"`` model (what the consistency objectives declare: f returns
the state at its boundary, at the last step the sample); any other kind is converted by
:mod:`diffax.predictions`, which makes each step the jump to the model's denoised
estimate (not a PF-ODE solver, so no order). Deterministic; NFE = N. With the exact
segmented consistency function the output is the exact PF-ODE map t_max -> t_min
(tested in tests/samplers/test_segmented_consistency.py).

**The times must be f's own boundaries.** f finds the segment of t by comparing t with
the boundaries (``segment_floor``, which counts a t within 1e-5 relative of a boundary as
that boundary): an evaluation time clearly above b_j counts as the segment (b_j, b_{j+1}],
so f maps it to b_j itself, an identity step, and a segment is skipped silently. The
float32 ``karras`` schedule's 4- and 8-step grids on EDM lie up to 1.1e-6 (relative)
above the Karras boundaries, inside that tolerance; a schedule of another spacing is off
by O(1). So with ``grid`` set (one of ``"uniform_time"``, ``"karras"``, ``"log_snr"``,
the training grid of the student) the sampler steps through
``segment_boundaries(process, N, grid)``, the array the model's floors are computed from,
and checks (when concrete) that the given ``timesteps`` are those boundaries within 1e-4
relative (e.g. the ``karras`` schedule for ``grid="karras"``, ``uniform_time`` for
``"uniform_time"``, ``uniform_log_snr`` for ``"log_snr"``), so that a wrong schedule is
an error rather than a skipped segment; with ``grid=None`` it steps through
``timesteps`` as given. N must be the student's s: f maps to its own boundaries whatever
the sampler's grid.
"""

from __future__ import annotations

import jax
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import consistency_grid as cg
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps, predictor, run_scan
from diffax.samplers.registry import register

NAME = "segmented_consistency"
# relative distance within which a given time counts as its boundary (the float32 karras
# schedule: 1.1e-6 on EDM; another schedule's interior times are off by O(1))
BOUNDARY_RTOL = 1e-4


def segment_times(process: GaussianProcess, timesteps: jax.Array, grid: str) -> jax.Array:
    """b_N > ... > b_0, the boundaries of N = len(timesteps) - 1 segments equal in the
    index of ``grid``, after checking (when concrete) that ``timesteps`` are them within
    :data:`BOUNDARY_RTOL` (module docstring)."""
    checks.choice(NAME, "grid", grid, cg.GRIDS)
    n = timesteps.shape[0] - 1
    # computed by XLA as the model's floors are (inside its jitted or scanned program): an
    # eager computation differs from the compiled one by a few float32 ulps on the Karras
    # grid (within segment_floor's tolerance, but the same arithmetic needs none)
    bounds = jax.jit(lambda: cg.segment_boundaries(process, n, grid))()[::-1]
    given = checks.concrete(timesteps)
    if given is not None:  # a grid closed over inside jit is concrete; the check is too
        with jax.ensure_compile_time_eval():
            want = np.asarray(cg.segment_boundaries(process, n, grid), np.float64)[::-1]
        off = np.abs(np.asarray(given, np.float64) - want) > BOUNDARY_RTOL * want
        if off.any():
            i = int(np.argmax(off))
            raise ValueError(f"{NAME}: timesteps[{i}] = {given[i]:.6g} is not the boundary "
                             f"{want[i]:.6g} of {n} segments of grid={grid!r}; pass the "
                             f"schedule of that grid over [t_min, t_max] ('karras' for "
                             f"'karras', 'uniform_time' for 'uniform_time', "
                             f"'uniform_log_snr' for 'log_snr').")
    return bounds


@register(NAME, order=None)
def segmented_consistency(model_fn: ModelFn, process: GaussianProcess, x_init: jax.Array,
                          timesteps: jax.Array, *, prediction: str = "x0",
                          grid: str | None = None, return_trajectory: bool = False,
                          cond: dict | None = None) -> SampleOutput:
    """Hyper-SD's s-step sampler (module docstring): x <- f(x, t_i) for the N = s steps of
    ``timesteps``, or of the exact boundaries of ``grid`` when it is set; the trajectory
    holds x_init and the state after every step."""
    ts = check_timesteps(timesteps, process, name=NAME)
    f = predictor(model_fn, prediction, process, "x0", cond)
    if grid is not None:
        ts = segment_times(process, ts, grid)
    x, traj = run_scan(lambda x, t: f(x, t), x_init, ts[:-1], lambda x: x, x_init,
                       return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=ts.shape[0] - 1)


__all__ = ["BOUNDARY_RTOL", "segment_times", "segmented_consistency"]
