"""High-accuracy adaptive probability-flow ODE solve with diffrax.

    dx/dt = f(t) x - 1/2 g(t)^2 score(x, t)

which equals the model's flow-matching velocity (``predictions`` kind "velocity").
Tsit5 or Dopri5 with a PID step-size controller (Kidger, "On Neural Differential
Equations", 2021). This is the ground truth for the sampler tests and benchmarks and
the ODE used by likelihoods. Runs entirely in JAX (jit/vmap/grad-able): no host loop.

:func:`pf_ode_reference` takes the start and end times; :func:`diffrax_pf_ode` is the
same solve under the common sampler signature, registered as ``diffrax_pf_ode`` with
``adaptive=True`` (its steps depend on the data; see :mod:`diffax.samplers.registry`).
Model evaluations: the solvers are FSAL, so each (accepted or rejected) step costs
``EVALS_PER_STEP[solver]`` new evaluations, plus one at the start (counted in
tests/samplers/test_reference.py). On a piecewise schedule (``DiscreteDDPM``) the solver
steps onto every kink and then evaluates the model once more, about one evaluation per
kink crossed that the reported ``nfe`` does not count.
"""

from __future__ import annotations

from typing import Any

import diffrax
import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import AdaptiveSampleOutput, ModelFn, check_timesteps, predictor
from diffax.samplers.registry import register

SOLVERS = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8}
EVALS_PER_STEP = {"tsit5": 6, "dopri5": 6, "dopri8": 13}
MAX_STEPS = 4096  # default bound on the steps of the registered sampler


def pf_ode_velocity(model_fn: ModelFn, process: GaussianProcess, prediction: str = "eps",
                    cond: dict | None = None):
    """The probability-flow ODE right-hand side ``v(x, t)`` for a scalar t."""
    return predictor(model_fn, prediction, process, "velocity", cond)


class ReferenceSolution(struct.PyTreeNode):
    """Adaptive solve result: final state, states at ``ts_save`` (or None), and the
    number of accepted+rejected solver steps (each Tsit5/Dopri5 step costs 6 model
    evaluations with FSAL)."""

    x: jax.Array
    trajectory: jax.Array | None
    num_steps: jax.Array


def pf_ode_reference(model_fn: ModelFn, process: GaussianProcess, x_init: jax.Array,
                     t_start: Any, t_end: Any, *, prediction: str = "eps",
                     solver: str = "tsit5", rtol: float = 1e-7, atol: float = 1e-7,
                     max_steps: int = 100_000, ts_save: jax.Array | None = None,
                     cond: dict | None = None) -> ReferenceSolution:
    """Solve the PF-ODE from ``t_start`` to ``t_end`` with an adaptive diffrax solver.

    With ``ts_save`` the trajectory holds the states at those times.
    """
    sol = _solve(model_fn, process, x_init, t_start, t_end, prediction, solver, rtol, atol,
                 max_steps, ts_save, cond, throw=True)
    return ReferenceSolution(x=sol.ys[-1], trajectory=None if ts_save is None else sol.ys,
                             num_steps=sol.stats["num_steps"])


def _solve(model_fn, process, x_init, t_start, t_end, prediction, solver, rtol, atol,
           max_steps, ts_save, cond, throw):
    checks.choice("pf_ode_reference", "solver", solver, SOLVERS)
    v = pf_ode_velocity(model_fn, process, prediction, cond)
    term = diffrax.ODETerm(lambda t, x, args: v(x, t))
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    kinks = process.kink_times()
    if kinks is not None and len(kinks):
        # Piecewise-smooth schedules (DiscreteDDPM): the velocity jumps at the knots,
        # so the solver steps onto each one instead of rejecting steps around it.
        controller = diffrax.ClipStepSizeController(controller, jump_ts=jnp.asarray(kinks))
    saveat = diffrax.SaveAt(t1=True) if ts_save is None else diffrax.SaveAt(ts=ts_save)
    return diffrax.diffeqsolve(
        term, SOLVERS[solver](), t0=t_start, t1=t_end, dt0=None, y0=x_init,
        stepsize_controller=controller, saveat=saveat, max_steps=max_steps, throw=throw,
    )


@register("diffrax_pf_ode", order=None, adaptive=True,
          nfe=lambda n: max(EVALS_PER_STEP.values()) * MAX_STEPS + 1)
def diffrax_pf_ode(model_fn: ModelFn, process: GaussianProcess, x_init: jax.Array,
                   timesteps: jax.Array, *, prediction: str = "eps", key: jax.Array | None = None,
                   return_trajectory: bool = False, cond: dict | None = None,
                   solver: str = "tsit5", rtol: float = 1e-7, atol: float = 1e-7,
                   max_steps: int = MAX_STEPS) -> AdaptiveSampleOutput:
    """The adaptive PF-ODE solve from ``timesteps[0]`` to ``timesteps[-1]`` as a sampler
    (deterministic; ``key`` is ignored). ``timesteps`` only sets the reporting times
    (the trajectory); ``solver``, ``rtol``, ``atol`` as :func:`pf_ode_reference`.

    Returns an :class:`~diffax.samplers.base.AdaptiveSampleOutput`; when ``max_steps``
    runs out, ``success`` is False and ``x`` is not a solution (diffrax fills it with
    inf).
    """
    ts = check_timesteps(timesteps, process, name="diffrax_pf_ode")
    sol = _solve(model_fn, process, x_init, ts[0], ts[-1], prediction, solver, rtol, atol,
                 max_steps, ts if return_trajectory else None, cond, throw=False)
    steps = sol.stats["num_steps"]
    return AdaptiveSampleOutput(
        x=sol.ys[-1].astype(x_init.dtype),
        trajectory=sol.ys.astype(x_init.dtype) if return_trajectory else None,
        nfe=(EVALS_PER_STEP[solver] * steps + 1).astype(jnp.int32),
        num_accepted=sol.stats["num_accepted_steps"],
        num_rejected=sol.stats["num_rejected_steps"],
        success=sol.result == diffrax.RESULTS.successful)
