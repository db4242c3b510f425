"""The training-time grids of the consistency-distillation variants (LCM, SCott, Hyper-SD;
:mod:`diffax.objectives.consistency_variants`, and the sampler
:mod:`.segmented_consistency`): a monotone map between the normalised grid index
r = tau / (N - 1) in [0, 1] (tau = 0..N-1, LCM's integer timesteps counted from the
bottom) and the process's time t in [t_min, t_max].

Every grid is linear in a coordinate u(t) of the time:

    u(t(r)) = u(t_min) + r (u(t_max) - u(t_min)),
    r(t) = (u(t) - u(t_min)) / (u(t_max) - u(t_min)),

* ``"uniform_time"``: u = t, so t(tau) = t_min + tau / (N - 1) (t_max - t_min) (the
  default; for :class:`diffax.processes.DiscreteDDPM` with N steps its grid t_n = n / N).
  For EDM (t = sigma in [0.002, 80], N = 1000) neighbouring points are 0.08 apart in
  sigma, and LCM's skip k = 20 spans 1.6: all of sigma < 1.6, where images form, is one
  skip.
* ``"karras"``: u = s^(1/rho), rho = 7, with s = sigma(t) / alpha(t) = exp(-lambda(t) / 2)
  the EDM noise level of the process (for EDM s = t). The grid's noise levels are those of
  Karras, Aittala, Aila & Laine (2022), "Elucidating the Design Space of Diffusion-Based
  Generative Models", eq. 5, counted from the bottom,

      s_tau = (s_min^(1/rho) + tau / (N - 1) (s_max^(1/rho) - s_min^(1/rho)))^rho,

  s_min = s(t_min), s_max = s(t_max), mapped back to time through the process's inverse
  log-SNR, t = t_from_log_snr(-2 log s). Like LCM's DDPM index (Luo et al. 2023, "Latent
  Consistency Models", Sec. 4.3: evenly spaced integer timesteps of Stable Diffusion's
  DDPM schedule), it puts most points at small noise: for EDM with N = 1000, half of them
  lie below sigma = 2.5 and 451 below 1.6 (the uniform grid: 40 and 20).
* ``"log_snr"``: u = -lambda(t), uniform in log-SNR (DPM-Solver's "logSNR" spacing),
  t = t_from_log_snr(-u).

The distance of LCM's c_skip / c_out (:mod:`.consistency_segments`) is counted in grid
index, d = (N - 1) (r(t) - r(t_b)), and Hyper-SD's segments are equal in grid index, with
boundaries b_j = t(j / s). On the non-uniform grids t(0) = t_min and t(1) = t_max exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess

Array = jax.Array

GRIDS = ("uniform_time", "karras", "log_snr")
KARRAS_RHO = 7.0  # Karras et al. 2022, eq. 5 and Table 1


def check_grid_name(where: str, grid: str) -> str:
    """``grid`` if it is one of :data:`GRIDS`, else a ValueError naming the choices."""
    return checks.choice(where, "grid", grid, GRIDS)


def _u_of_log_snr(lam: Array, grid: str) -> Array:
    if grid == "karras":
        return jnp.exp(-lam / (2.0 * KARRAS_RHO))
    return -lam


def _log_snr_of_u(u: Array, grid: str) -> Array:
    if grid == "karras":
        return -2.0 * KARRAS_RHO * jnp.log(u)
    return -u


def _u_bounds(process: GaussianProcess, grid: str, dtype) -> tuple[Array, Array]:
    lo = _u_of_log_snr(process.log_snr(jnp.asarray(process.t_min, dtype)), grid)
    hi = _u_of_log_snr(process.log_snr(jnp.asarray(process.t_max, dtype)), grid)
    return lo, hi


def grid_time(process: GaussianProcess, r: Array, grid: str = "uniform_time") -> Array:
    """t(r), r = tau / (N - 1) in [0, 1] the normalised grid index (module docstring)."""
    check_grid_name("grid_time", grid)
    r = jnp.asarray(r)
    if grid == "uniform_time":
        return process.t_min + r * (process.t_max - process.t_min)
    lo, hi = _u_bounds(process, grid, r.dtype)
    t = process.t_from_log_snr(_log_snr_of_u(lo + r * (hi - lo), grid)).astype(r.dtype)
    return jnp.where(r <= 0.0, process.t_min, jnp.where(r >= 1.0, process.t_max, t)).astype(
        r.dtype)


def grid_position(process: GaussianProcess, t: Array, grid: str = "uniform_time") -> Array:
    """r(t) = tau(t) / (N - 1), the inverse of :func:`grid_time` (module docstring)."""
    check_grid_name("grid_position", grid)
    t = jnp.asarray(t)
    if grid == "uniform_time":
        return (t - process.t_min) / (process.t_max - process.t_min)
    lo, hi = _u_bounds(process, grid, t.dtype)
    return ((_u_of_log_snr(process.log_snr(t), grid) - lo) / (hi - lo)).astype(t.dtype)


def segment_boundaries(process: GaussianProcess, num_segments: int,
                       grid: str = "uniform_time") -> Array:
    """b_0 = t_min < b_1 < ... < b_s = t_max, the s segments equal in grid index
    (the segments of Hyper-SD, diffax.objectives.consistency_segments)."""
    checks.positive_int("segment_boundaries", "num_segments", num_segments)
    check_grid_name("segment_boundaries", grid)
    j = jnp.arange(num_segments + 1, dtype=jnp.float32)
    return grid_time(process, j / num_segments, grid)


__all__ = ["GRIDS", "KARRAS_RHO", "check_grid_name", "grid_position", "grid_time",
           "segment_boundaries"]
