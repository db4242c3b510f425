"""Name -> sampler table, for configs.

Each sampler file registers its variants with a decorator on the sampler function, one
line per name, binding the options that define the name::

    @register("dpm_solver++_2m", order=2, options=dict(order=2, method="multistep"))
    def dpm_solver_pp(model_fn, process, x_init, timesteps, *, order=2, ...): ...

``SAMPLERS`` is a :class:`diffax.registry.Registry` (a read-only Mapping name ->
:class:`SamplerInfo`; every entry records its process family: ``"gaussian"``, or
``"pfgmpp"`` for the PFGM++ sampler, :mod:`.pfgmpp`). :func:`get_sampler` returns
the sampler with its options bound and :func:`sampler_info` its metadata.

**Options.** A name binds exactly the options its metadata depends on (order, NFE per
step count, whether it needs a key). ``get_sampler(name, **options)`` and calls of the
returned sampler check ``options`` against the sampler's signature (a misspelt option
is a ``ValueError`` naming the valid ones) and refuse to override a bound option with
another value: the ``ValueError`` names the registered names that bind the requested
value. Otherwise the metadata (and the NFE budget a caller spends through
``steps_for_nfe``) would silently describe another method. Unbound options (thresholds,
``lower_order_final``, stage fractions, ...) never change the metadata.

**Adaptive samplers** (``adaptive=True``: ``dpm_solver_adaptive_*``, ``diffrax_pf_ode``)
choose their steps from the data. ``timesteps`` only lists the times at which the state
is reported, an NFE budget does not apply: ``steps_for_nfe(budget)`` is 1 for any
budget (one interval, ``timesteps = [t_start, t_end]``), ``nfe(N)`` is only the upper
bound set by the default ``max_steps``, and the output's ``nfe`` (an integer array of
:class:`~diffax.samplers.base.AdaptiveSampleOutput`) reports what was spent.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

from diffax.registry import Registry, check_options

FAMILY = "gaussian"
# The positional parameters of every sampler: model_fn, process, x_init, timesteps.
POSITIONAL = 4

SAMPLERS: Registry["SamplerInfo"] = Registry("sampler")


def _largest_steps_within(nfe: Callable[[int], int]) -> Callable[[int], int]:
    def steps_for_nfe(budget: int) -> int:
        """Largest N with nfe(N) <= budget (1 if none)."""
        n = 1
        while nfe(n + 1) <= budget:
            n += 1
        return n
    return steps_for_nfe


def _one_interval(budget: int) -> int:
    """Adaptive samplers: the budget does not apply; one reporting interval."""
    return 1


@dataclasses.dataclass(frozen=True)
class SamplerInfo:
    """Metadata of a registered sampler.

    Attributes:
      fn: the sampler function (the common signature, see :mod:`.base`).
      options: keyword options bound by this name (those the metadata depends on).
      order: theoretical global order of convergence of a deterministic solver, or
        ``None`` (stochastic samplers, methods with no ODE order, adaptive solvers).
      stochastic: whether it needs a PRNG key.
      nfe: number of model evaluations for N steps (len(timesteps) - 1); for adaptive
        samplers the upper bound of the default ``max_steps``.
      steps_for_nfe: the number of steps N that spends a given NFE budget (1 for
        adaptive samplers).
      adaptive: the step sizes depend on the data (the output reports the NFE spent).
      family: the process family the sampler works on.
    """

    name: str
    fn: Callable
    options: dict
    order: int | None
    stochastic: bool
    nfe: Callable[[int], int]
    steps_for_nfe: Callable[[int], int]
    adaptive: bool = False
    family: str = FAMILY

    def check(self, options: dict) -> None:
        """Raise ``ValueError`` for an option the sampler does not take, or one that
        overrides a bound option with another value."""
        check_options(f"sampler {self.name!r}", self.fn, options, skip=POSITIONAL)
        for key, value in self.options.items():
            if key in options and not _same(options[key], value):
                raise ValueError(_conflict(self, key, options[key]))

    def __call__(self, model_fn: Callable, process: Any, x_init: Any, timesteps: Any,
                 **kwargs: Any) -> Any:
        """Run the sampler with the bound options and ``kwargs`` (checked)."""
        self.check(kwargs)
        family = getattr(process, "family", None)
        if family is not None and family != self.family:
            valid = sorted(n for n, i in SAMPLERS.items() if i.family == family)
            raise ValueError(f"sampler {self.name!r} works on {self.family!r} processes, got "
                             f"{type(process).__name__} of family {family!r}; samplers for "
                             f"it: {valid}.")
        return self.fn(model_fn, process, x_init, timesteps, **{**self.options, **kwargs})


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays: not a bound value
        return False


def _conflict(info: SamplerInfo, key: str, value: Any) -> str:
    """The error for overriding the bound option ``key`` of ``info`` with ``value``: it
    names the entries of the same function that bind ``value`` (first those that agree on
    the other bound options), or the function to call directly."""
    def agrees(other: SamplerInfo) -> bool:
        return all(_same(other.options[k], v) for k, v in info.options.items()
                   if k != key and k in other.options)

    names = sorted((n for n, i in SAMPLERS.items() if i.fn is info.fn and key in i.options
                    and _same(i.options[key], value)), key=lambda n: not agrees(SAMPLERS[n]))
    fn = f"{info.fn.__module__}.{info.fn.__name__}"
    hint = (f"use {names[0]!r}" + (f" (or {names[1:]})" if names[1:] else "") if names
            else f"no registered name has {key}={value!r}; call {fn} directly")
    return (f"sampler {info.name!r} fixes {key}={info.options[key]!r} (its order and NFE "
            f"accounting depend on it) and cannot take {key}={value!r}: {hint}.")


def register(name: str, *, order: int | None, stochastic: bool = False,
             nfe: Callable[[int], int] = lambda n: n,
             steps_for_nfe: Callable[[int], int] | None = None,
             options: dict | None = None, adaptive: bool = False,
             family: str = FAMILY) -> Callable:
    """Decorator registering the sampler function under ``name`` with bound ``options``
    (names must be unique; the options must be keywords the function takes) for
    processes of ``family`` (default ``"gaussian"``; ``"pfgmpp"`` for PFGM++)."""
    def decorate(fn: Callable) -> Callable:
        opts = dict(options or {})
        check_options(f"register({name!r})", fn, opts, skip=POSITIONAL)
        steps = steps_for_nfe or (_one_interval if adaptive else _largest_steps_within(nfe))
        SAMPLERS.add(name, SamplerInfo(name, fn, opts, order, stochastic, nfe, steps,
                                       adaptive, family), family=family)
        return fn
    return decorate


def sampler_info(name: str) -> SamplerInfo:
    """The metadata of ``name``; ``ValueError`` naming the valid choices otherwise."""
    return SAMPLERS.get(name)


def get_sampler(name: str, **options: Any) -> Callable:
    """The sampler registered as ``name``, with its options and ``options`` bound
    (checked: see the module docstring)."""
    info = sampler_info(name)
    info.check(options)
    return functools.partial(info, **options)
