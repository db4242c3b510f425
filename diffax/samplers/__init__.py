"""Diffusion and flow samplers under one signature (see :mod:`diffax.samplers.base`).

``get_sampler(name, **options)`` returns a registered sampler; ``SAMPLERS`` lists
them with their theoretical order and NFE accounting (:mod:`.registry`); :mod:`.schedules`
builds time grids; :func:`pf_ode_reference` is the adaptive diffrax ground truth.

Layout: one file per sampler family, each registering its names with a decorator and
importing only :mod:`.base`, :mod:`.registry` and the shared engines
(:mod:`.exponential_integrators`: phi functions and step coefficients;
:mod:`.dpm_solver_engine`: the DPM-Solver runners;
:mod:`.multistep`: the linear multistep driver; :mod:`.reverse_sde`: affine reverse-SDE
steps), never a sibling sampler.
"""

# Importing each sampler module registers its variants.
from diffax.samplers import (  # noqa: F401
    bdia,
    consistency,
    ddim,
    deis,
    dpm_solver,
    dpm_solver_adaptive,
    dpm_solver_pp,
    edm_heun,
    euler,
    langevin,
    pfgmpp,
    pndm,
    sde,
    segmented_consistency,
    unipc,
)
from diffax.samplers.base import AdaptiveSampleOutput, SampleOutput
from diffax.samplers.reference import ReferenceSolution, pf_ode_reference, pf_ode_velocity
from diffax.samplers.registry import SAMPLERS, SamplerInfo, get_sampler, register, sampler_info
from diffax.samplers.schedules import SCHEDULES, get_schedule

__all__ = [
    "SampleOutput", "AdaptiveSampleOutput", "ReferenceSolution", "pf_ode_reference",
    "pf_ode_velocity", "SAMPLERS", "SamplerInfo", "get_sampler", "register", "sampler_info",
    "SCHEDULES", "get_schedule",
]
