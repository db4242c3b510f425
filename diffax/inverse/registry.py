"""The inverse-solver table and what each solver needs from a task.

``SOLVERS`` is a :class:`diffax.registry.Registry` (a read-only ``Mapping`` from names to
solvers). Each solver registers itself in its own file and declares, as metadata, what
an experiment would otherwise have to know about it:

* ``start_scale``: the solver starts from ``start_scale * x_T`` for a prior sample x_T
  (1 for the samplers; RED-diff optimises a mean mu that starts near 0: 0.1);
* ``noise_floor``: ``None`` when the solver does not model the measurement noise, else
  the smallest sigma_y it is given (its data weight 1 / sigma_y^2 or gain
  (r^2 A A^T + sigma_y^2 I)^{-1} stays bounded for noiseless measurements).

:func:`initial_state` and :func:`solver_options` apply them, so an experiment passes the
same things to every solver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import jax

from diffax.registry import Registry, check_options

Array = jax.Array

SOLVERS: Registry[Callable] = Registry("inverse solver")
# Positional arguments of every solver: model_fn, process, x_init, timesteps.
N_POSITIONAL = 4


def register(name: str, *, start_scale: float = 1.0,
             noise_floor: float | None = None) -> Callable[[Callable], Callable]:
    """Decorator registering a solver as ``name`` with its metadata (module docstring)."""
    return SOLVERS.register(name, family="gaussian", start_scale=start_scale,
                            noise_floor=noise_floor)


def get_solver(name: str) -> Callable:
    """The inverse-problem solver called ``name`` (ValueError naming the valid choices)."""
    return SOLVERS.get(name)


def initial_state(name: str, x_prior: Array) -> Array:
    """The state solver ``name`` starts from, given a prior sample ``x_prior``."""
    scale = SOLVERS.entry(name).metadata["start_scale"]
    return x_prior if scale == 1.0 else scale * x_prior


def solver_options(name: str, noise_std: float, options: Mapping[str, Any]) -> dict:
    """Keyword options for solver ``name`` on measurements with noise ``noise_std``:
    ``options``, plus ``noise_std = max(noise_std, floor)`` for solvers that model the
    measurement noise (unless ``options`` sets it). Option names are checked against
    the solver's signature (ValueError naming the valid options)."""
    entry = SOLVERS.entry(name)
    options = dict(options)
    check_options(f"inverse solver {name!r}", entry.obj, options, skip=N_POSITIONAL)
    floor = entry.metadata["noise_floor"]
    if floor is not None:
        options.setdefault("noise_std", max(noise_std, floor))
    return options


__all__ = ["SOLVERS", "get_solver", "initial_state", "register", "solver_options"]
