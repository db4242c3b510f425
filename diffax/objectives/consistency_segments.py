"""The time grid, trajectory segments and LCM-style parameterisation shared by the
consistency-distillation variants (:mod:`.consistency_variants`: LCM, SCott, Hyper-SD).

**Time grid.** The variants discretise [t_min, t_max] into the N points of a DDPM
training schedule, indexed tau = 0..N-1 from the bottom (LCM's integer timesteps):

    t(tau) = t_min + tau / (N - 1) (t_max - t_min).

For :class:`diffax.processes.DiscreteDDPM` with N steps (t_min = 1/N, t_max = 1) this is
its grid t_n = n / N with tau = n - 1 (its ``model_step``).

**Segments** (Hyper-SD, Ren et al. 2024, "Hyper-SD: Trajectory Segmented Consistency
Model for Efficient Image Synthesis", Sec. 3.1). [t_min, t_max] is cut into s equal
segments with boundaries b_j = t_min + j (t_max - t_min) / s, j = 0..s. A time t lies in
the segment (b_{j-1}, b_j] (t_min itself in the first), and the segmented consistency
function maps a PF-ODE point at t to the trajectory's point at the segment's lower
boundary b_{j-1} (with s = 1, the usual consistency function to t_min).

**Parameterisation** (LCM, Luo et al. 2023, "Latent Consistency Models", Sec. 4.1 with
the constants of their released code): with d = distance from the boundary in
timesteps, d = (t - t_b) (N - 1) / (t_max - t_min), and the timestep scaling 10,

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
from diffax.predictions import to_x0_eps
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers import pf_ode_reference

Array = jax.Array

LCM_SIGMA_DATA = 0.5           # LCM code: scalings_for_boundary_conditions(sigma_data=0.5)
LCM_TIMESTEP_SCALING = 10.0    # LCM code: c_skip/c_out of 10 tau (t / 0.1 in the paper's code)
LCM_NUM_TRAIN_TIMESTEPS = 1000  # Stable Diffusion's DDPM schedule
LCM_SKIP = 20                  # LCM Sec. 4.3: skipping interval k = 20 (50 DDIM steps of 1000)
HYPER_SD_SEGMENTS = (8, 4, 2, 1)  # Hyper-SD Sec. 3.1: progressive TSCD stages


def time_grid(process: GaussianProcess, num_timesteps: int) -> Array:
    """The N training times t(tau), tau = 0..N-1 (module docstring), float32."""
    checks.integer("time_grid", "num_timesteps", num_timesteps, minimum=2)
    tau = jnp.arange(num_timesteps, dtype=jnp.float32)
    return process.t_min + tau / (num_timesteps - 1) * (process.t_max - process.t_min)


def segment_boundaries(process: GaussianProcess, num_segments: int) -> Array:
    """b_0 = t_min < b_1 < ... < b_s = t_max, the s equal segments (module docstring)."""
    checks.positive_int("segment_boundaries", "num_segments", num_segments)
    j = jnp.arange(num_segments + 1, dtype=jnp.float32)
    return process.t_min + j / num_segments * (process.t_max - process.t_min)


def segment_floor(process: GaussianProcess, num_segments: int, t: Array) -> Array:
    """b_{j-1} for t in (b_{j-1}, b_j] (t_min maps to itself). A relative tolerance of
    1e-5 of a segment's width puts a t that is a boundary up to rounding into the
    segment below it, so that f(x, b_j) maps to b_{j-1} for every j >= 1."""
    t = jnp.asarray(t)
    width = (process.t_max - process.t_min) / num_segments
    j = jnp.ceil((t - process.t_min) / width - 1e-5) - 1.0
    j = jnp.clip(j, 0.0, num_segments - 1.0)
    return (process.t_min + j * width).astype(t.dtype)


def lcm_scalings(d: Array, sigma_data: float = LCM_SIGMA_DATA,
                 timestep_scaling: float = LCM_TIMESTEP_SCALING) -> tuple[Array, Array]:
    """(c_skip, c_out) at d timesteps from the boundary (module docstring)."""
    sd = timestep_scaling * d
    return sigma_data ** 2 / (sd ** 2 + sigma_data ** 2), sd / jnp.sqrt(sd ** 2 + sigma_data ** 2)


def segmented_consistency(pred: Array, x: Array, t: Array, t_b: Array, *,
                          process: GaussianProcess, prediction: str, num_timesteps: int,
                          sigma_data: float = LCM_SIGMA_DATA,
                          timestep_scaling: float = LCM_TIMESTEP_SCALING) -> Array:
    """f(x, t) mapping to t_b[b] from the network output ``pred`` of kind ``prediction``
    at (x, t) (module docstring); ``t`` and ``t_b`` have shape (B,)."""
    x0, eps = to_x0_eps(prediction, pred, x, t, process)
    inner = (broadcast_to_x(process.alpha(t_b), x) * x0
             + broadcast_to_x(process.sigma(t_b), x) * eps)
    d = (t - t_b) * (num_timesteps - 1) / (process.t_max - process.t_min)
    c_skip, c_out = lcm_scalings(d, sigma_data, timestep_scaling)
    return (broadcast_to_x(c_skip, x) * x + broadcast_to_x(c_out, x) * inner).astype(x.dtype)


def segmented_model_fn(net: Callable, process: GaussianProcess, *, prediction: str = "eps",
                       num_segments: int = 1,
                       num_timesteps: int = LCM_NUM_TRAIN_TIMESTEPS,
                       sigma_data: float = LCM_SIGMA_DATA,
                       timestep_scaling: float = LCM_TIMESTEP_SCALING) -> Callable:
    """The segmented consistency model f(x, t, **cond) of ``net(x, t, **cond)`` (a
    ``prediction`` model), mapping to :func:`segment_floor` of t (s = 1: LCM)."""

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        t_b = segment_floor(process, num_segments, t)
        return segmented_consistency(net(x, t, **cond), x, t, t_b, process=process,
                                     prediction=prediction, num_timesteps=num_timesteps,
                                     sigma_data=sigma_data, timestep_scaling=timestep_scaling)

    return f


def segmented_sample(f: Callable, process: GaussianProcess, x_init: Array, num_segments: int,
                     *, cond: dict | None = None) -> Array:
    """Hyper-SD's s-step sampler: x <- f(x, b_j) for j = s..1, from x_init at t_max to
    t_min (one evaluation per segment, deterministic). With the exact segmented
    consistency function this is the exact PF-ODE map t_max -> t_min."""
    cond = {} if cond is None else cond
    bounds = segment_boundaries(process, num_segments)[1:][::-1].astype(x_init.dtype)

    def step(x, t):
        return f(x, jnp.full(x.shape[:1], t, x.dtype), **cond), None

    return jax.lax.scan(step, x_init, bounds)[0]


def ode_segment_function(model_fn: Callable, process: GaussianProcess, num_segments: int, *,
                         prediction: str = "eps", solver: str = "dopri8", rtol: float = 1e-10,
                         atol: float = 1e-10) -> Callable:
    """The exact segmented consistency function of ``model_fn``: f(x, t) = Phi_{t ->
    segment_floor(t)}(x), each example's PF-ODE solved adaptively to its own boundary
    (:func:`diffax.samplers.pf_ode_reference`); the oracle of the tests."""

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        t_b = segment_floor(process, num_segments, t)

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


def check_grid(where: str, num_timesteps: int, skip: int, num_segments: int) -> None:
    """Integer options of the grid: N >= 2, 1 <= k < N with k | N, s >= 1."""
    checks.integer(where, "num_timesteps", num_timesteps, minimum=2)
    checks.integer(where, "skip", skip, minimum=1)
    checks.positive_int(where, "num_segments", num_segments)
    if skip >= num_timesteps or num_timesteps % skip:
        raise ValueError(f"{where}: skip={skip} must divide num_timesteps={num_timesteps} "
                         f"and be smaller (LCM: k = 20 of N = 1000).")


__all__ = ["HYPER_SD_SEGMENTS", "LCM_NUM_TRAIN_TIMESTEPS", "LCM_SIGMA_DATA", "LCM_SKIP",
           "LCM_TIMESTEP_SCALING", "check_grid", "lcm_scalings", "ode_segment_function",
           "segment_boundaries", "segment_floor", "segmented_consistency",
           "segmented_model_fn", "segmented_sample", "time_grid"]
