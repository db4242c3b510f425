"""Name -> sampler registry, for configs.

Each sampler module registers its variants with one :func:`register` line per name,
fixing options such as the order::

    register("dpm_solver++_2m", dpm_solver_pp, order=2, nfe=lambda n: n,
             options=dict(order=2, multistep=True))

:func:`get_sampler` returns the sampler function with those options bound, and
:func:`sampler_info` the metadata (theoretical order, stochastic, NFE per N steps).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

SAMPLERS: dict[str, "SamplerInfo"] = {}


@dataclasses.dataclass(frozen=True)
class SamplerInfo:
    """Metadata of a registered sampler.

    Attributes:
      fn: the sampler function (the common signature, see :mod:`.base`).
      options: keyword options bound by this name.
      order: theoretical global order of convergence of a deterministic solver, or
        ``None`` (stochastic samplers, methods with no ODE order).
      stochastic: whether it needs a PRNG key.
      nfe: number of model evaluations for N steps (len(timesteps) - 1).
      steps_for_nfe: the number of steps N that spends a given NFE budget.
    """

    name: str
    fn: Callable
    options: dict
    order: int | None
    stochastic: bool
    nfe: Callable[[int], int]
    steps_for_nfe: Callable[[int], int]

    def __call__(self, *args, **kwargs):
        return functools.partial(self.fn, **self.options)(*args, **kwargs)


def register(name: str, fn: Callable, *, order: int | None, stochastic: bool = False,
             nfe: Callable[[int], int] = lambda n: n,
             steps_for_nfe: Callable[[int], int] | None = None,
             options: dict | None = None) -> None:
    """Register ``fn`` with bound ``options`` under ``name`` (names must be unique)."""
    if name in SAMPLERS:
        raise ValueError(f"sampler {name!r} is registered twice.")
    if steps_for_nfe is None:
        def steps_for_nfe(budget: int, _nfe=nfe) -> int:
            # Largest N with nfe(N) <= budget.
            n = 1
            while _nfe(n + 1) <= budget:
                n += 1
            return n
    SAMPLERS[name] = SamplerInfo(name, fn, dict(options or {}), order, stochastic, nfe,
                                 steps_for_nfe)


def sampler_info(name: str) -> SamplerInfo:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid choices: {sorted(SAMPLERS)}.")
    return SAMPLERS[name]


def get_sampler(name: str, **options: Any) -> Callable:
    """The sampler registered as ``name``, with its options and ``options`` bound."""
    info = sampler_info(name)
    return functools.partial(info.fn, **{**info.options, **options})
