"""Time-step schedules: ``n`` steps as ``n + 1`` decreasing times from t_max to t_min.

All schedules respect the process's truncation interval [t_min, t_max] (or the
``t_start``/``t_end`` given) and return float arrays of shape ``(n + 1,)``:

* ``uniform_time``: t_i = t_max + i/n (t_min - t_max)  (score_sde, DDIM "uniform").
* ``uniform_log_snr``: lambda_i uniform between lambda(t_max) and lambda(t_min),
  mapped back with t(lambda) (DPM-Solver "logSNR").
* ``quadratic_time``: sqrt(t) uniform (DPM-Solver "time_quadratic"; DDIM "quad").
* ``karras``: Karras et al. (2022) eq. (5) on the EDM noise level s = sigma/alpha =
  exp(-lambda/2), s_i = (s_max^(1/rho) + i/n (s_min^(1/rho) - s_max^(1/rho)))^rho.
* ``discrete``: the "leading", "trailing" and "linspace" spacings of a
  :class:`~diffax.processes.DiscreteDDPM` (Lin et al., 2024, "Common Diffusion Noise
  Schedules and Sample Steps are Flawed", Table 2), as integer steps k mapped to
  t = (k + 1)/N, ending at t_min.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.processes.vp import DiscreteDDPM
from diffax.registry import Registry

Array = jax.Array

# name -> schedule(process, n, **options); a read-only Mapping (see diffax.registry).
SCHEDULES: Registry[Callable[..., Array]] = Registry("schedule")


def _bounds(process: GaussianProcess, n: int, t_start, t_end, name: str):
    checks.positive_int(name, "n", n)
    t0 = process.t_max if t_start is None else float(t_start)
    t1 = process.t_min if t_end is None else float(t_end)
    process.validate_time(t0, "t_start")
    process.validate_time(t1, "t_end")
    if not t0 > t1:
        raise ValueError(f"{name}: need t_start > t_end, got t_start={t0}, t_end={t1}.")
    return t0, t1


@SCHEDULES.register("uniform_time", family="gaussian")
def uniform_time(process: GaussianProcess, n: int, t_start: float | None = None,
                 t_end: float | None = None) -> Array:
    t0, t1 = _bounds(process, n, t_start, t_end, "uniform_time")
    return jnp.linspace(t0, t1, n + 1)


@SCHEDULES.register("uniform_log_snr", family="gaussian")
def uniform_log_snr(process: GaussianProcess, n: int, t_start: float | None = None,
                    t_end: float | None = None) -> Array:
    t0, t1 = _bounds(process, n, t_start, t_end, "uniform_log_snr")
    lam = jnp.linspace(process.log_snr(t0), process.log_snr(t1), n + 1)
    ts = process.t_from_log_snr(lam)
    return ts.at[0].set(t0).at[-1].set(t1)


@SCHEDULES.register("quadratic_time", family="gaussian")
def quadratic_time(process: GaussianProcess, n: int, t_start: float | None = None,
                   t_end: float | None = None) -> Array:
    t0, t1 = _bounds(process, n, t_start, t_end, "quadratic_time")
    return jnp.linspace(t0**0.5, t1**0.5, n + 1) ** 2


@SCHEDULES.register("karras", family="gaussian")
def karras(process: GaussianProcess, n: int, t_start: float | None = None,
           t_end: float | None = None, rho: float = 7.0) -> Array:
    t0, t1 = _bounds(process, n, t_start, t_end, "karras")
    if not rho > 0:
        raise ValueError(f"karras: rho must be > 0, got rho={rho}.")
    s_max = jnp.exp(-0.5 * process.log_snr(t0))
    s_min = jnp.exp(-0.5 * process.log_snr(t1))
    ramp = jnp.linspace(0.0, 1.0, n + 1)
    s = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
    ts = process.t_from_log_snr(-2.0 * jnp.log(s))
    return ts.at[0].set(t0).at[-1].set(t1)


DISCRETE_SPACINGS = ("leading", "trailing", "linspace")


def discrete_steps(n_train: int, n: int, spacing: str, steps_offset: int = 1) -> np.ndarray:
    """0-based integer steps of a discrete model, n + 1 of them, decreasing to 0."""
    if spacing not in DISCRETE_SPACINGS:
        raise ValueError(f"unknown discrete spacing {spacing!r}; valid choices: "
                         f"{list(DISCRETE_SPACINGS)}.")
    if not 1 <= n < n_train:
        raise ValueError(f"discrete schedule: need 1 <= n < {n_train} (training steps), got n={n}.")
    if spacing == "trailing":
        k = np.round(np.arange(n_train, 0, -n_train / n)).astype(np.int64) - 1
    elif spacing == "leading":
        ratio = n_train // n
        k = np.arange(n - 1, -1, -1, dtype=np.int64) * ratio + steps_offset
    else:
        return np.round(np.linspace(n_train - 1, 0, n + 1)).astype(np.int64)
    k = np.clip(k, 1, n_train - 1)
    return np.concatenate([k, [0]])


@SCHEDULES.register("discrete", family="gaussian")
def discrete(process: DiscreteDDPM, n: int, spacing: str = "trailing",
             steps_offset: int = 1) -> Array:
    """Discrete spacings for a :class:`DiscreteDDPM`: t = (k + 1) / N, ending at k = 0."""
    if not isinstance(process, DiscreteDDPM):
        raise ValueError(f"discrete spacings need a DiscreteDDPM process, got {process.name}; "
                         "use uniform_time/uniform_log_snr/karras for continuous processes.")
    k = discrete_steps(process.n_steps, n, spacing, steps_offset)
    if len(np.unique(k)) != len(k):
        raise ValueError(f"discrete {spacing!r} spacing with n={n} repeats a step; use fewer steps.")
    return jnp.asarray((k + 1) / process.n_steps)


def get_schedule(name: str, process: GaussianProcess, n: int, **options) -> Array:
    """Build the schedule ``name`` with ``n`` steps (for configs); unknown names and
    option names are ``ValueError``s naming the valid choices."""
    return SCHEDULES.build(name, process, n, **options)
