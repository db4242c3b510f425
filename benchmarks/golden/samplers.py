"""Golden groups ``sampler``, ``sampler_kind`` and ``sampler_process``: every registered
sampler at two NFE budgets on the 2-D mixture (VPLinear, exact eps model), three
samplers with each other prediction kind, four samplers on every other process."""

from __future__ import annotations

import functools

import numpy as np

from benchmarks.golden.common import (NFE_BUDGETS, SEED_SAMPLER, Arrays, Case, Problems,
                                      process, process_names)

# Samplers that refuse both budgets: F-PNDM needs 4 steps (3 pseudo Runge-Kutta warm-up
# steps of 4 evaluations and one multistep step), NFE >= 13.
NFE_BUDGETS_FOR = {"f_pndm": (13, 16)}
KIND_SAMPLERS = ("euler", "ddim", "dpm_solver++_2m")
PROCESS_SAMPLERS = ("euler", "ddim", "dpm_solver++_2m", "edm_heun")


def _step_counts(name: str) -> list[tuple[str, int]]:
    """(label, steps) for the two runs of sampler ``name``: ``nfe<B>`` with the most
    steps that fit budget B (B in NFE_BUDGETS, or NFE_BUDGETS_FOR[name]); a sampler
    whose one step costs more than a budget (annealed Langevin: 100 evaluations per
    level) runs 1 and 2 steps, labelled ``steps<N>``."""
    from diffax.samplers import sampler_info
    info = sampler_info(name)
    runs = []
    for i, budget in enumerate(NFE_BUDGETS_FOR.get(name, NFE_BUDGETS)):
        steps = max(int(info.steps_for_nfe(budget)), 1)
        runs.append((f"nfe{budget}", steps) if info.nfe(steps) <= budget
                    else (f"steps{i + 1}", i + 1))
    return runs


def _steps(name: str) -> int:
    """The steps of sampler ``name`` that fit the first NFE budget."""
    from diffax.samplers import sampler_info
    return int(sampler_info(name).steps_for_nfe(NFE_BUDGETS[0]))


def _run_sampler(probs: Problems, prefix: str, name: str, process_name: str, kind: str,
                 steps: int) -> Arrays:
    """Sampler ``name`` (jitted) from the fixed prior noise with the exact ``kind``
    model on a ``uniform_log_snr`` grid: final x, nfe, steps."""
    import jax
    from diffax.samplers import get_sampler, sampler_info, schedules
    info = sampler_info(name)
    sampler = get_sampler(name)
    p = process(process_name)
    model = probs.mixture.model_fn(kind, p)
    ts = schedules.uniform_log_snr(p, steps)

    def run(x, ts, key):
        kw = {"key": key} if info.stochastic else {}
        return sampler(model, p, x, ts, prediction=kind, **kw)

    out = jax.jit(run)(probs.prior(process_name), ts, jax.random.PRNGKey(SEED_SAMPLER))
    return {f"{prefix}/x": np.asarray(jax.device_get(out.x)),
            f"{prefix}/nfe": np.asarray(int(out.nfe), np.int64),
            f"{prefix}/steps": np.asarray(steps, np.int64)}


def sampler_cases(probs: Problems) -> list[Case]:
    """The cases of the three sampler groups, in recording order."""
    from diffax.predictions import KINDS
    from diffax.samplers import SAMPLERS
    cases = []
    for name in SAMPLERS.names("gaussian"):
        for label, steps in _step_counts(name):
            prefix = f"sampler/{name}/{label}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        "vp_linear", "eps", steps)))
    for kind in KINDS:
        if kind == "eps":
            continue
        for name in KIND_SAMPLERS:
            prefix = f"sampler_kind/{kind}/{name}/nfe{NFE_BUDGETS[0]}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        "vp_linear", kind, _steps(name))))
    for pname in process_names():
        if pname == "vp_linear":
            continue
        for name in PROCESS_SAMPLERS:
            prefix = f"sampler_process/{pname}/{name}/nfe{NFE_BUDGETS[0]}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        pname, "eps", _steps(name))))
    return cases
