"""Euler on the probability-flow ODE (first order).

    x_{i+1} = x_i + (t_{i+1} - t_i) v(x_i, t_i),   v = f x - 1/2 g^2 score,

where v is the model's flow-matching velocity (the PF-ODE drift, Song et al., 2021;
for rectified flow this is plain flow-matching Euler, Liu et al., 2023).
One model evaluation per step: NFE = N.
"""

from __future__ import annotations

import jax

from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    predictor,
    run_scan,
)
from diffax.samplers.registry import register


@register("euler", order=1)
def euler(model_fn: ModelFn, process: GaussianProcess, x_init: jax.Array,
          timesteps: jax.Array, *, prediction: str = "eps", key: jax.Array | None = None,
          return_trajectory: bool = False, cond: dict | None = None) -> SampleOutput:
    """Probability-flow ODE Euler sampler (deterministic; ``key`` is ignored)."""
    ts = check_timesteps(timesteps, process, name="euler")
    velocity = predictor(model_fn, prediction, process, "velocity", cond)

    def step(x, t_pair):
        t, t_next = t_pair
        return x + (t_next - t) * velocity(x, t)

    x, traj = run_scan(step, x_init, (ts[:-1], ts[1:]), lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=ts.shape[0] - 1)
