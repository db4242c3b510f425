"""What DPM-Solver (noise prediction, :mod:`.dpm_solver`) and DPM-Solver++ (data
prediction, :mod:`.dpm_solver_pp`) share: their seven registered names and the checked
call of the exponential-integrator engine.

Each family registers, under its prefix (``dpm_solver`` or ``dpm_solver++``):

    _1, _2s, _3s        order 1-3, ``method="singlestep"`` (DPM-Solver-fast, NFE = N)
    _2s_fixed, _3s_fixed order k on every step, ``"singlestep_fixed"`` (NFE = k N)
    _2m, _3m            order 2-3, ``"multistep"`` (NFE = N)

(Lu et al., 2022, arXiv:2206.00927, Sec. 3.4 and Algorithms 1-2; Lu et al., 2022b,
arXiv:2211.01095, Algorithms 1-2); the step formulas are in
:mod:`.exponential_integrators`.
"""

from __future__ import annotations

from typing import Callable

import jax

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import dpm_solver_engine as engine
from diffax.samplers import exponential_integrators as ei
from diffax.samplers.base import SampleOutput, check_timesteps
from diffax.samplers.registry import register

Array = jax.Array

#: (name suffix, order, method) of the registered variants, in the order they are listed
VARIANTS: tuple[tuple[str, int, str], ...] = (
    ("1", 1, "singlestep"), ("2s", 2, "singlestep"), ("3s", 3, "singlestep"),
    ("2s_fixed", 2, "singlestep_fixed"), ("3s_fixed", 3, "singlestep_fixed"),
    ("2m", 2, "multistep"), ("3m", 3, "multistep"))


def _fixed_nfe(order: int) -> Callable[[int], int]:
    """NFE of N singlestep steps of ``order`` evaluations each."""
    return lambda n: order * n


def register_variants(prefix: str) -> Callable:
    """Decorator registering the sampler function under ``prefix + "_" + suffix`` for
    every entry of :data:`VARIANTS` (the same entries, in the same order, as a stack of
    one ``register`` line per name)."""
    def decorate(fn: Callable) -> Callable:
        for suffix, order, method in reversed(VARIANTS):  # a decorator stack registers bottom-up
            extra = dict(nfe=_fixed_nfe(order)) if method == "singlestep_fixed" else {}
            register(f"{prefix}_{suffix}", order=order, **extra,
                     options=dict(order=order, method=method))(fn)
        return fn
    return decorate


def checked_solve(name: str, f: Callable[[], Callable[[Array, Array], Array]],
                  process: GaussianProcess, param: str, x_init: Array, timesteps: Array, *,
                  order: int, method: str, lower_order_final: bool, r1: float | None,
                  r2: float | None, return_trajectory: bool,
                  second_difference: str = "taylor") -> SampleOutput:
    """Check the solver options and ``timesteps`` (errors name ``name``), then run
    :func:`.dpm_solver_engine.solve` with the model ``f()`` (built after the
    checks) in parameterization ``param`` ("eps" or "x0")."""
    fractions = engine.check_solver_options(name, order, method, r1, r2)
    checks.choice(name, "second_difference", second_difference, ei.SECOND_DIFFERENCES)
    if second_difference != "taylor" and (method, order) != ("multistep", 3):
        raise ValueError(f"{name}: second_difference only applies to the third-order "
                         f"multistep method (the *_3m samplers), got order={order}, "
                         f"method={method!r}.")
    ts = check_timesteps(timesteps, process, name=name)
    return engine.solve(f(), process, param, x_init, ts, order=order, method=method,
                    lower_order_final=lower_order_final, fractions=fractions,
                    return_trajectory=return_trajectory, second_difference=second_difference)
