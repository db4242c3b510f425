"""Reflow (k-rectified flow) and the straightness of a flow.

Rectified flow (Liu, Gong & Liu, 2023, "Flow Straight and Fast: Learning to Generate and
Transfer Data with Rectified Flow") regresses a velocity field on straight lines between
the two ends of a coupling (X0, X1). In diffax's time direction (data at t = 0, noise at
t = 1) the interpolant is x_t = (1 - t) x0 + t x1 and

    v^{k+1} = argmin_v  int_0^1 E_{(x0, x1) ~ pi^k} || v(x_t, t) - (x1 - x0) ||^2 dt.

The 1-rectified flow trains on the independent coupling (plain flow matching,
:func:`diffax.losses.flow_matching_loss`). **Reflow** builds the next coupling from the
current flow: draw noise x1 ~ N(0, I), integrate dZ/dt = v^k(Z_t, t) from Z_1 = x1 to
Z_0 with any diffax ODE sampler, and set pi^{k+1} = law(Z_0, Z_1); the (k+1)-rectified
flow trains on these pairs (:func:`generate_coupling`, :func:`reflow_objective`). Each
rectification keeps the marginals, does not increase any convex transport cost and makes
the paths straighter, so few Euler steps suffice.

**Straightness** (Liu et al., 2023, Sec. 3, the straightness S(Z) of a flow): for the
flow Z of dZ_t/dt = v(Z_t, t),

    S(Z) = int_0^1 E || (Z_1 - Z_0) - dZ_t/dt ||^2 dt
         = int_0^1 E || v(Z_t, t) - (Z_1 - Z_0) ||^2 dt,

zero exactly when every path is a straight line travelled at constant speed (then one
Euler step is exact). :func:`straightness` evaluates it along sampler trajectories on a
grid t_0 > ... > t_N (the process's [t_min, t_max]) with the trapezoidal rule, with
Z_1 - Z_0 replaced by the mean velocity over the grid, (Z_{t_0} - Z_{t_N}) / (t_0 - t_N)
(equal to it on [0, 1]; on a truncated interval it keeps S = 0 for straight paths).

With a process other than rectified flow and any parameterization, the same objective is
Rectified Diffusion (Wang et al., 2024): retrain a diffusion model on its own ODE
couplings, x_t = alpha_t x0 + sigma_t x1, with no requirement that paths be straight.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks
from diffax.losses.base import ModelFn, check_process, compute_dtype, split_batch, split_options
from diffax.losses.denoising import dsm_objective
from diffax.losses.time_sampling import TIME_SAMPLERS, make_time_sampler, time_sampling_defaults
from diffax.objectives.parameterized import ParameterizedModel
from diffax.parameterization import check_parameterization
from diffax.processes.base import GaussianProcess
from diffax.processes.rectified_flow import RectifiedFlow
from diffax.samplers.base import predictor
from diffax.samplers.registry import get_sampler
from diffax.samplers.schedules import get_schedule

Array = jax.Array
NOISE = "noise"  # the batch key of the paired noise in a generated coupling dataset


class Coupling(struct.PyTreeNode):
    """Pairs (noise x1_i, sample x0_i) of a flow: ``noise`` and ``data``, shape (N, ...)."""

    noise: Array
    data: Array

    def as_dataset(self) -> dict:
        """The pairs as a dataset dict ``{"x": data, "noise": noise}`` (batch mode of
        :func:`reflow_objective`)."""
        return {"x": self.data, NOISE: self.noise}


def _sampler(sampler: str | Callable) -> Callable:
    return get_sampler(sampler) if isinstance(sampler, str) else sampler


def _timesteps(process: GaussianProcess, num_steps: int, schedule: str | Any) -> Array:
    if isinstance(schedule, str):
        return get_schedule(schedule, process, num_steps)
    return jnp.asarray(schedule)


def generate_coupling(model_fn: ModelFn, process: GaussianProcess, noise: Array, *,
                      prediction: str, sampler: str | Callable = "dpm_solver++_2m",
                      num_steps: int = 32, schedule: str | Any = "uniform_log_snr",
                      **sampler_options: Any) -> Coupling:
    """The coupling ``(noise, ODE(noise))`` of the flow of ``model_fn``: each noise draw
    (at ``t_max``) is integrated to ``t_min`` by ``sampler`` (a registered name or a
    sampler function) on ``schedule`` (a schedule name with ``num_steps`` steps, or a
    decreasing time grid)."""
    check_process(process, "generate_coupling")
    ts = _timesteps(process, num_steps, schedule)
    out = _sampler(sampler)(model_fn, process, noise, ts, prediction=prediction,
                            **sampler_options)
    return Coupling(noise=noise, data=out.x)


def straightness(model_fn: ModelFn, process: GaussianProcess, noise: Array, *,
                 prediction: str, sampler: str | Callable = "euler", num_steps: int = 64,
                 schedule: str | Any = "uniform_time", cond: dict | None = None,
                 **sampler_options: Any) -> tuple[Array, Array]:
    """``(S, x0)``: the straightness S(Z) of the flow of ``model_fn`` from ``noise``
    (module docstring: trapezoidal rule over the sampler's trajectory, per-example squared
    norm summed over all but the batch axis, averaged over the batch) and the flow's
    endpoints ``x0``. The velocity is the model's PF-ODE drift (kind ``"velocity"``)."""
    check_process(process, "straightness")
    ts = _timesteps(process, num_steps, schedule)
    out = _sampler(sampler)(model_fn, process, noise, ts, prediction=prediction,
                            return_trajectory=True, cond=cond, **sampler_options)
    traj = out.trajectory                                    # (N + 1, B, ...)
    velocity = predictor(model_fn, prediction, process, "velocity", cond)
    v = jax.vmap(velocity)(traj, ts.astype(traj.dtype))     # (N + 1, B, ...)
    chord = (traj[0] - traj[-1]) / (ts[0] - ts[-1]).astype(traj.dtype)  # Z_1 - Z_0
    dev = jnp.sum((v - chord[None]) ** 2, axis=tuple(range(2, v.ndim)))
    per_t = jnp.mean(dev, axis=1)                            # E || . ||^2 at each t_i
    dt = jnp.abs(jnp.diff(ts)).astype(per_t.dtype)
    return jnp.sum(0.5 * (per_t[1:] + per_t[:-1]) * dt), out.x


def coupled_pairs(from_buffer: bool, aux: Any, batch: dict, key: Array,
                  where: str) -> tuple[Array, Array, dict]:
    """``(x, noise, cond)`` for a coupling objective, in the compute dtype of ``x``: a
    uniform draw (``key``) of as many pairs as the batch has rows from the buffer in
    ``aux`` (``{"data", "noise"}``; unconditional, ``cond = {}``), or, in batch mode, the
    batch's own pairs ``batch["x"]``, ``batch["noise"]`` with every other key as ``cond``."""
    x, cond = split_batch(batch, where)
    if from_buffer:
        idx = jax.random.randint(key, (x.shape[0],), 0, aux["data"].shape[0])
        x, noise, cond = aux["data"][idx], aux["noise"][idx], {}
    else:
        if NOISE not in cond:
            raise ValueError(f"{where}: batch mode needs batch[{NOISE!r}] (the noise paired "
                             f"with batch['x']); got keys {sorted(batch)}.")
        noise = cond.pop(NOISE)
    dtype = compute_dtype(x)
    return x.astype(dtype), jnp.asarray(noise).astype(dtype), cond


@dataclasses.dataclass(frozen=True)
class ReflowObjective(ParameterizedModel):
    """Regress ``model_fn(net)`` on the pairs of a coupling (an objective of
    ``diffax.training.objective``).

    *Buffer mode* (``coupling`` given): ``init`` puts the pairs in ``aux`` (checkpointed
    with the run) and each loss call draws ``B = batch["x"].shape[0]`` pairs uniformly from
    it (the batch gives only its size: the coupling is unconditional). *Batch mode*
    (``coupling=None``): the batch carries the pairs, ``batch["x"]`` and
    ``batch["noise"]`` (a generated dataset, :meth:`Coupling.as_dataset`), and every other
    key conditions the model."""

    process: GaussianProcess
    sample_t: Callable
    coupling: Coupling | None = None
    parameterization: str = "velocity"
    time_input: str = "t"

    def init(self, params: Any) -> Any:
        if self.coupling is None:
            return ()
        return {"noise": self.coupling.noise, "data": self.coupling.data}

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        where = "reflow"
        k_idx, k_t = jax.random.split(key)
        x, eps, cond = coupled_pairs(self.coupling is not None, aux, batch, k_idx, where)
        dtype = x.dtype
        t = self.sample_t(k_t, x.shape[0], dtype)
        model = self.model_fn(lambda x_, c, **cd: net(params, x_, c, **cd))
        return dsm_objective(model, self.process, self.kind, x, cond, t, eps,
                             jnp.ones_like(t), where=where)

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def reflow_objective(process: GaussianProcess = RectifiedFlow(), *,
                     coupling: Coupling | None = None, parameterization: str = "velocity",
                     time_input: str = "t", time_sampling: str = "uniform",
                     **time_options: Any) -> ReflowObjective:
    """The (k+1)-rectified-flow objective on ``coupling`` (buffer mode) or on batches that
    carry the pairs (``coupling=None``); ``time_sampling`` and its options as in
    :mod:`diffax.losses.time_sampling`. Unit weight in the space of the model's kind
    (the rectified-flow loss for ``parameterization="velocity"``)."""
    where = "reflow_objective"
    check_process(process, where)
    check_parameterization(parameterization, time_input)
    if parameterization == "edm":
        raise ValueError(f"{where}: parameterization 'edm' is not supported; choose one of "
                         f"['eps', 'x0', 'v', 'score', 'velocity'].")
    checks.choice(where, "time_sampling", time_sampling, TIME_SAMPLERS)
    (t_opts,) = split_options(where, time_options,
                              {f"time_sampling={time_sampling!r}":
                               time_sampling_defaults(time_sampling)})
    if coupling is not None:
        coupling = Coupling(jnp.asarray(coupling.noise), jnp.asarray(coupling.data))
        if coupling.noise.shape != coupling.data.shape or coupling.data.ndim < 1:
            raise ValueError(f"{where}: coupling noise and data must have the same shape "
                             f"(N, ...), got {coupling.noise.shape} and {coupling.data.shape}.")
    try:
        sample_t = make_time_sampler(time_sampling, process, **t_opts)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return ReflowObjective(process, sample_t, coupling, parameterization, time_input)


__all__ = ["Coupling", "NOISE", "ReflowObjective", "coupled_pairs", "generate_coupling",
           "reflow_objective", "straightness"]
