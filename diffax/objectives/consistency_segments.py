"""The time grid, trajectory segments and LCM-style parameterisation shared by the
consistency-distillation variants (:mod:`.consistency_variants`: LCM, SCott, Hyper-SD).

**Time grid.** The variants discretise [t_min, t_max] into the N points of a DDPM
training schedule, indexed tau = 0..N-1 from the bottom (LCM's integer timesteps),
t(tau) = t(r) at r = tau / (N - 1) of the chosen ``grid`` (:mod:`diffax.samplers.consistency_grid`):

    "uniform_time" (default):  t(tau) = t_min + tau / (N - 1) (t_max - t_min),
    "karras":   s(t(tau)) = (s_min^(1/7) + tau / (N - 1) (s_max^(1/7) - s_min^(1/7)))^7,
    "log_snr":  lambda(t(tau)) linear in tau,

s = sigma / alpha the EDM noise level (Karras et al. 2022, eq. 5). For
:class:`diffax.processes.DiscreteDDPM` with N steps (t_min = 1/N, t_max = 1) the uniform
grid is its grid t_n = n / N with tau = n - 1 (its ``model_step``); for EDM the Karras grid
plays the part of LCM's DDPM index (most points at small noise).

**Segments** (Hyper-SD, Ren et al. 2024, "Hyper-SD: Trajectory Segmented Consistency
Model for Efficient Image Synthesis", Sec. 3.1). [t_min, t_max] is cut into s segments
equal in grid index, with boundaries b_j = t(r = j / s), j = 0..s (on the uniform grid
b_j = t_min + j (t_max - t_min) / s). A time t lies in the segment (b_{j-1}, b_j] (t_min
itself in the first), and the segmented consistency function maps a PF-ODE point at t to
the trajectory's point at the segment's lower boundary b_{j-1} (with s = 1, the usual
consistency function to t_min).

**Parameterisation** (LCM, Luo et al. 2023, "Latent Consistency Models", Sec. 4.1 with
the constants of their released code): with d = distance from the boundary in
timesteps (grid index), d = tau(t) - tau(t_b) with tau the inverse of the grid map (on the
uniform grid d = (t - t_b) (N - 1) / (t_max - t_min)), and the timestep scaling 10,

    c_skip = sigma_data^2 / ((10 d)^2 + sigma_data^2),   c_out = 10 d / sqrt((10 d)^2 + sigma_data^2),
    f(x, t) = c_skip x + c_out (alpha(t_b) x0_hat + sigma(t_b) eps_hat),

sigma_data = 0.5, (x0_hat, eps_hat) the network's prediction converted by
:func:`diffax.predictions.to_x0_eps`. The bracket is the DDIM step from t to t_b (the
segmented-consistency form of Hyper-SD / TCD); with t_b = t_min it is x0_hat up to
sigma(t_min) eps_hat, LCM's denoised estimate. At t = t_b, c_skip = 1 and c_out = 0:
f(x, t_b) = x exactly (the boundary condition). Unlike
:func:`diffax.objectives.consistency.consistency_model_fn`, f returns the state at t_b
itself (not divided by alpha(t_b)), as LCM does.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.samplers import consistency_grid as cg
from diffax.samplers.consistency_grid import segment_boundaries
from diffax.predictions import to_x0_eps
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers import pf_ode_reference

Array = jax.Array

LCM_SIGMA_DATA = 0.5           # LCM code: scalings_for_boundary_conditions(sigma_data=0.5)
LCM_TIMESTEP_SCALING = 10.0    # LCM code: c_skip/c_out of 10 tau (t / 0.1 in the paper's code)
LCM_NUM_TRAIN_TIMESTEPS = 1000  # Stable Diffusion's DDPM schedule
LCM_SKIP = 20                  # LCM Sec. 4.3: skipping interval k = 20 (50 DDIM steps of 1000)
HYPER_SD_SEGMENTS = (8, 4, 2, 1)  # Hyper-SD Sec. 3.1: progressive TSCD stages
# relative distance within which a time counts as its segment boundary (segment_floor)
BOUNDARY_RTOL = 1e-5


def time_grid(process: GaussianProcess, num_timesteps: int,
              grid: str = "uniform_time") -> Array:
    """The N training times t(tau), tau = 0..N-1, of ``grid`` (module docstring), float32."""
    checks.integer("time_grid", "num_timesteps", num_timesteps, minimum=2)
    cg.check_grid_name("time_grid", grid)
    tau = jnp.arange(num_timesteps, dtype=jnp.float32)
    return cg.grid_time(process, tau / (num_timesteps - 1), grid)


def segment_floor(process: GaussianProcess, num_segments: int, t: Array,
                  grid: str = "uniform_time") -> Array:
    """b_{j-1} for t in (b_{j-1}, b_j] (t_min maps to itself), so that f(x, b_j) maps to
    b_{j-1} for every j >= 1. A t that is a boundary up to rounding must land in the
    segment below it. On the uniform grid a tolerance of 1e-5 of a segment's width does
    that. On the other grids t is compared with the boundaries of
    :func:`segment_boundaries` themselves, b_{j-1} = the largest b_i with
    b_i (1 + :data:`BOUNDARY_RTOL`) < t (the inverse map t -> tau, ill-conditioned in
    float32 where lambda(t) is steep, is not needed). The tolerance matters: the same
    boundaries computed eagerly and inside a compiled program differ by a few float32 ulps
    (2e-7 relative at b = 17.5 on EDM's Karras grid, s = 8), and the ``karras`` sampling
    schedule lies up to 1.1e-6 above them; without it such a t counts as the segment
    above, f(x, t) returns x, and a segment is skipped silently. Training times are never
    that close to a boundary without being it: neighbouring points of a 1000-point grid
    are at least 1e-3 apart, relatively."""
    cg.check_grid_name("segment_floor", grid)
    t = jnp.asarray(t)
    if grid == "uniform_time":
        width = (process.t_max - process.t_min) / num_segments
        j = jnp.ceil((t - process.t_min) / width - 1e-5) - 1.0
        j = jnp.clip(j, 0.0, num_segments - 1.0)
        return (process.t_min + j * width).astype(t.dtype)
    bounds = segment_boundaries(process, num_segments, grid).astype(t.dtype)
    j = jnp.sum(bounds[1:-1] * (1 + BOUNDARY_RTOL) < t[..., None], axis=-1)
    return bounds[j]


def grid_distance(process: GaussianProcess, t: Array, t_b: Array, num_timesteps: int,
                  grid: str = "uniform_time") -> Array:
    """d = tau(t) - tau(t_b), the distance in grid index (timesteps) of LCM's c_skip /
    c_out (module docstring); exactly 0 at t = t_b."""
    if grid == "uniform_time":
        return (t - t_b) * (num_timesteps - 1) / (process.t_max - process.t_min)
    return (num_timesteps - 1) * (cg.grid_position(process, t, grid)
                                  - cg.grid_position(process, t_b, grid))


def lcm_scalings(d: Array, sigma_data: float = LCM_SIGMA_DATA,
                 timestep_scaling: float = LCM_TIMESTEP_SCALING) -> tuple[Array, Array]:
    """(c_skip, c_out) at d timesteps from the boundary (module docstring)."""
    sd = timestep_scaling * d
    return sigma_data ** 2 / (sd ** 2 + sigma_data ** 2), sd / jnp.sqrt(sd ** 2 + sigma_data ** 2)


def segmented_consistency(pred: Array, x: Array, t: Array, t_b: Array, *,
                          process: GaussianProcess, prediction: str, num_timesteps: int,
                          sigma_data: float = LCM_SIGMA_DATA,
                          timestep_scaling: float = LCM_TIMESTEP_SCALING,
                          grid: str = "uniform_time") -> Array:
    """f(x, t) mapping to t_b[b] from the network output ``pred`` of kind ``prediction``
    at (x, t) (module docstring); ``t`` and ``t_b`` have shape (B,); d is counted in the
    index of ``grid``."""
    x0, eps = to_x0_eps(prediction, pred, x, t, process)
    inner = (broadcast_to_x(process.alpha(t_b), x) * x0
             + broadcast_to_x(process.sigma(t_b), x) * eps)
    d = grid_distance(process, t, t_b, num_timesteps, grid)
    c_skip, c_out = lcm_scalings(d, sigma_data, timestep_scaling)
    return (broadcast_to_x(c_skip, x) * x + broadcast_to_x(c_out, x) * inner).astype(x.dtype)


def segmented_model_fn(net: Callable, process: GaussianProcess, *, prediction: str = "eps",
                       num_segments: int = 1,
                       num_timesteps: int = LCM_NUM_TRAIN_TIMESTEPS,
                       sigma_data: float = LCM_SIGMA_DATA,
                       timestep_scaling: float = LCM_TIMESTEP_SCALING,
                       grid: str = "uniform_time") -> Callable:
    """The segmented consistency model f(x, t, **cond) of ``net(x, t, **cond)`` (a
    ``prediction`` model), mapping to :func:`segment_floor` of t (s = 1: LCM) on
    ``grid``."""
    cg.check_grid_name("segmented_model_fn", grid)

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        t_b = segment_floor(process, num_segments, t, grid)
        return segmented_consistency(net(x, t, **cond), x, t, t_b, process=process,
                                     prediction=prediction, num_timesteps=num_timesteps,
                                     sigma_data=sigma_data, timestep_scaling=timestep_scaling,
                                     grid=grid)

    return f


def segmented_sample(f: Callable, process: GaussianProcess, x_init: Array, num_segments: int,
                     *, cond: dict | None = None, grid: str = "uniform_time") -> Array:
    """Hyper-SD's s-step sampler: x <- f(x, b_j) for j = s..1, from x_init at t_max to
    t_min (one evaluation per segment, deterministic; b_j the boundaries of ``grid``, which
    must be f's). With the exact segmented consistency function this is the exact PF-ODE
    map t_max -> t_min."""
    cond = {} if cond is None else cond
    bounds = segment_boundaries(process, num_segments, grid)[1:][::-1].astype(x_init.dtype)

    def step(x, t):
        return f(x, jnp.full(x.shape[:1], t, x.dtype), **cond), None

    return jax.lax.scan(step, x_init, bounds)[0]


def ode_segment_function(model_fn: Callable, process: GaussianProcess, num_segments: int, *,
                         prediction: str = "eps", solver: str = "dopri8", rtol: float = 1e-10,
                         atol: float = 1e-10, grid: str = "uniform_time") -> Callable:
    """The exact segmented consistency function of ``model_fn``: f(x, t) = Phi_{t ->
    segment_floor(t)}(x) (the floors of ``grid``), each example's PF-ODE solved adaptively
    to its own boundary (:func:`diffax.samplers.pf_ode_reference`); the oracle of the
    tests."""
    cg.check_grid_name("ode_segment_function", grid)

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        t_b = segment_floor(process, num_segments, t, grid)

        def one(xb, tb, eb, cb):
            cb = jax.tree.map(lambda v: v[None], cb)
            return pf_ode_reference(model_fn, process, xb[None], tb, eb, prediction=prediction,
                                    solver=solver, rtol=rtol, atol=atol, cond=cb).x[0]

        # at t = t_b the map is the identity; a zero-length solve is avoided
        moving = t > t_b
        safe_t = jnp.where(moving, t, t_b + 1e-3 * (process.t_max - process.t_min))
        out = jax.vmap(one)(x, safe_t, t_b, cond)
        return jnp.where(moving.reshape((-1,) + (1,) * (x.ndim - 1)), out, x)

    return f


def check_grid(where: str, num_timesteps: int, skip: int, num_segments: int,
               grid: str = "uniform_time") -> None:
    """Options of the grid: its name (one of ``GRIDS``), N >= 2, 1 <= k < N with k | N,
    s >= 1."""
    cg.check_grid_name(where, grid)
    checks.integer(where, "num_timesteps", num_timesteps, minimum=2)
    checks.integer(where, "skip", skip, minimum=1)
    checks.positive_int(where, "num_segments", num_segments)
    if skip >= num_timesteps or num_timesteps % skip:
        raise ValueError(f"{where}: skip={skip} must divide num_timesteps={num_timesteps} "
                         f"and be smaller (LCM: k = 20 of N = 1000).")


GRIDS = cg.GRIDS

__all__ = ["BOUNDARY_RTOL", "GRIDS", "HYPER_SD_SEGMENTS", "LCM_NUM_TRAIN_TIMESTEPS", "LCM_SIGMA_DATA", "LCM_SKIP",
           "LCM_TIMESTEP_SCALING", "check_grid", "grid_distance", "lcm_scalings",
           "ode_segment_function",
           "segment_boundaries", "segment_floor", "segmented_consistency",
           "segmented_model_fn", "segmented_sample", "time_grid"]
