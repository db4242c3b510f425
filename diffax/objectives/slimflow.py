"""SlimFlow (Zhu, Liu & Liu, 2024, "SlimFlow: Training Smaller One-Step Diffusion Models
with Rectified Flow"): annealing reflow, then flow-guided distillation into a smaller
student.

**Annealing reflow** (Sec. 4.1). A small student cannot start reflow from the large
teacher's weights. It is trained instead on pairs whose noise moves from independent of
the sample to the teacher's coupling: with (z, x0) = (z, ODE_teacher(z)), fresh
xi ~ N(0, I) and a schedule beta(k) falling from 1 to 0 over the training step k,

    z_k = sqrt(1 - beta(k)^2) z + beta(k) xi          (still N(0, I) for every beta)

and the rectified-flow regression on x_t = (1 - t) x0 + t z_k with target z_k - x0
(:func:`diffax.objectives.reflow.reflow_objective` in batch mode). beta = 1 is plain flow
matching on the teacher's samples (a 1-rectified flow); beta = 0 is reflow. Schedules
(``anneal_steps`` = K):

    "exp":    beta(k) = exp(-k / K)
    "cosine": beta(k) = (1 + cos(pi min(k / K, 1))) / 2
    "linear": beta(k) = 1 - min(k / K, 1)

**Flow-guided distillation** (Sec. 4.2): one-step distillation of the student's 2-rectified
flow coupling plus a guidance term from the 2-step sample of a 2-rectified flow teacher,
:func:`diffax.objectives.instaflow.one_step_distillation` with a ``teacher`` and
``guidance_weight > 0`` (:func:`flow_guided_distillation`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import compute_dtype, split_batch
from diffax.objectives.instaflow import OneStepDistillation, Teacher, one_step_distillation
from diffax.objectives.reflow import NOISE, Coupling, ReflowObjective, reflow_objective
from diffax.processes.base import GaussianProcess
from diffax.processes.rectified_flow import RectifiedFlow

Array = jax.Array
SCHEDULES = ("exp", "cosine", "linear")


def annealing_beta(schedule: str, step: Any, anneal_steps: int) -> Array:
    """beta(k) of the annealing schedule (module docstring), as a float32 array."""
    checks.choice("annealing_beta", "schedule", schedule, SCHEDULES)
    r = jnp.asarray(step, jnp.float32) / float(anneal_steps)
    if schedule == "exp":
        return jnp.exp(-r)
    r = jnp.minimum(r, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + jnp.cos(jnp.pi * r))
    return 1.0 - r


@dataclasses.dataclass(frozen=True)
class AnnealingReflow:
    """Reflow on a coupling buffer with annealed noise (module docstring); the buffer and
    the step count k live in ``aux``: ``{"noise", "data", "step"}``."""

    reflow: ReflowObjective               # batch mode: reads batch["x"], batch["noise"]
    coupling: Coupling
    schedule: str = "exp"
    anneal_steps: int = 1000

    @property
    def kind(self) -> str:
        return self.reflow.kind

    def model_fn(self, net: Callable) -> Callable:
        return self.reflow.model_fn(net)

    def init(self, params: Any) -> Any:
        return {"noise": self.coupling.noise, "data": self.coupling.data,
                "step": jnp.zeros((), jnp.int32)}

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        x, _ = split_batch(batch, "annealing_reflow")
        k_idx, k_xi, k_loss = jax.random.split(key, 3)
        idx = jax.random.randint(k_idx, (x.shape[0],), 0, aux["data"].shape[0])
        data, z = aux["data"][idx], aux["noise"][idx]
        dtype = compute_dtype(data)
        beta = annealing_beta(self.schedule, aux["step"], self.anneal_steps).astype(dtype)
        xi = jax.random.normal(k_xi, z.shape, dtype)
        z = jnp.sqrt(1.0 - beta ** 2) * z.astype(dtype) + beta * xi
        loss, metrics = self.reflow.loss(net, params, (), {"x": data, NOISE: z}, k_loss)
        return loss, {**metrics, "beta": beta}

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return {**aux, "step": aux["step"] + 1}


def annealing_reflow(process: GaussianProcess = RectifiedFlow(), *, coupling: Coupling,
                     schedule: str = "exp", anneal_steps: int = 1000,
                     parameterization: str = "velocity", time_input: str = "t",
                     time_sampling: str = "uniform", **time_options: Any) -> AnnealingReflow:
    """SlimFlow's annealing reflow of ``coupling`` (the teacher's (noise, sample) pairs)
    with beta ``schedule`` over ``anneal_steps`` optimizer steps; the other options as
    :func:`~diffax.objectives.reflow.reflow_objective`."""
    where = "annealing_reflow"
    checks.choice(where, "schedule", schedule, SCHEDULES)
    checks.positive_int(where, "anneal_steps", anneal_steps)
    if not isinstance(coupling, Coupling):
        raise ValueError(f"{where}: coupling must be a Coupling(noise, data), got "
                         f"{type(coupling).__name__}.")
    checked = reflow_objective(process, coupling=coupling)       # validates the shapes
    batch_mode = reflow_objective(process, parameterization=parameterization,
                                  time_input=time_input, time_sampling=time_sampling,
                                  **time_options)
    return AnnealingReflow(batch_mode, checked.coupling, schedule, int(anneal_steps))


def flow_guided_distillation(process: GaussianProcess = RectifiedFlow(), *,
                             coupling: Coupling, teacher: Teacher, teacher_params: Any = (),
                             teacher_prediction: str = "velocity",
                             guidance_weight: float = 1.0, guidance_range: tuple = (0.2, 0.8),
                             parameterization: str = "velocity", time_input: str = "t",
                             sampler: str = "euler") -> OneStepDistillation:
    """SlimFlow's flow-guided distillation: one-step distillation of ``coupling`` (the
    student's own 2-rectified-flow pairs) plus ``guidance_weight`` times the 2-step
    guidance of the ``teacher`` (:mod:`diffax.objectives.instaflow`)."""
    checks.in_range("flow_guided_distillation", "guidance_weight", guidance_weight,
                    lo=0.0, lo_open=True)
    return one_step_distillation(process, coupling=coupling, teacher=teacher,
                                 teacher_params=teacher_params,
                                 teacher_prediction=teacher_prediction,
                                 guidance_weight=guidance_weight,
                                 guidance_range=guidance_range,
                                 parameterization=parameterization, time_input=time_input,
                                 sampler=sampler)


__all__ = ["AnnealingReflow", "SCHEDULES", "annealing_beta", "annealing_reflow",
           "flow_guided_distillation"]
