"""Golden group ``schedule``: every timestep schedule on every process that accepts it,
at each NFE budget's number of steps."""

from __future__ import annotations

import functools

import numpy as np

from benchmarks.golden.common import NFE_BUDGETS, Arrays, Case, process, process_names


def _timesteps(prefix: str, ts: object) -> Arrays:
    """The already built grid ``ts`` as the entry ``prefix/timesteps``."""
    return {f"{prefix}/timesteps": np.asarray(ts)}


def schedule_cases(skipped: list[dict]) -> list[Case]:
    """Every schedule x process x N in NFE_BUDGETS; combinations the schedule refuses
    (a ValueError when built, e.g. discrete spacings of a continuous process) are
    listed in ``skipped``."""
    from diffax.samplers import schedules
    cases = []
    for sname in schedules.SCHEDULES.names("gaussian"):
        for pname in process_names():
            for n in NFE_BUDGETS:
                prefix = f"schedule/{sname}/{pname}/n{n}"
                try:
                    ts = schedules.get_schedule(sname, process(pname), n)
                except ValueError as err:
                    skipped.append({"case": prefix, "reason": str(err)[:200]})
                    continue
                cases.append(Case(prefix, functools.partial(_timesteps, prefix, ts)))
    return cases
