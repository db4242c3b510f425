"""Diffusion and flow samplers under one signature (see :mod:`diffax.samplers.base`).

``get_sampler(name, **options)`` returns a registered sampler; ``SAMPLERS`` lists
them with their theoretical order and NFE accounting; :mod:`.schedules` builds time
grids; :func:`pf_ode_reference` is the adaptive diffrax ground truth.
"""

# Importing each sampler module registers its variants.
from diffax.samplers import (  # noqa: F401
    bdia,
    ddim,
    deis,
    dpm_solver,
    dpm_solver_adaptive,
    dpm_solver_pp,
    edm_heun,
    euler,
    langevin,
    pndm,
    sde,
    unipc,
)
from diffax.samplers.base import SampleOutput
from diffax.samplers.reference import ReferenceSolution, pf_ode_reference, pf_ode_velocity
from diffax.samplers.registry import SAMPLERS, get_sampler, register, sampler_info
from diffax.samplers.schedules import get_schedule

__all__ = [
    "SampleOutput", "ReferenceSolution", "pf_ode_reference", "pf_ode_velocity", "SAMPLERS",
    "get_sampler", "register", "sampler_info", "get_schedule",
]
