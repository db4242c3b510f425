"""One-step distillation of a flow (InstaFlow), with SlimFlow's optional flow guidance.

InstaFlow (Liu, Zhang, Ma, Peng & Liu, 2023, "InstaFlow: One Step is Enough for
High-Quality Diffusion-Based Text-to-Image Generation", Sec. 3) first straightens a flow
by reflow (:mod:`diffax.objectives.reflow`), then distils its ODE map into one step. With
the pairs (z, x0) = (z, ODE_k(z)) of the k-rectified flow (noise z at ``t_max``, sample x0
at ``t_min``), the student G_theta(z), *one step of a sampler on the student's model*
(one Euler step z + (t_min - t_max) v_theta(z, t_max) for a velocity model, one DDIM step
for a diffusion model), regresses the flow's endpoint:

    L_distill(theta) = E_{(z, x0) ~ pi_k} || G_theta(z) - x0 ||^2

(the L2 distance; the paper also uses LPIPS, which needs an image network). The student
is usually initialised from the k-rectified flow itself.

**Flow guidance** (SlimFlow: Zhu, Liu & Liu, 2024, "SlimFlow: Training Smaller One-Step
Diffusion Models with Rectified Flow", Sec. 4.2, flow-guided distillation) adds a term
that needs no stored pairs: for fresh noise z, an intermediate time s ~ U(s_lo, s_hi)
(default U(0.2, 0.8)) and the student's own one-step guess u = stopgrad G_theta(z),
the point of the process path between them,

    x_s = alpha_s u + sigma_s (z - alpha_{t_max} u) / sigma_{t_max}

(the first step of a two-step DDIM sample that uses u; for rectified flow, the straight
line from z to u), is moved to t_min by one step of the frozen teacher (the 2-rectified
flow): the *2-step* teacher sample T(z) = Step_teacher(x_s, s -> t_min). Then

    L = L_distill + lambda E || G_theta(z) - stopgrad T(z) ||^2.

At a straight teacher whose one step is exact (and a student equal to its one-step map),
both terms vanish.

**State** (``TrainState.aux``): ``{"noise", "data"}`` (the pair buffer; absent in batch
mode, where ``batch["x"]`` and ``batch["noise"]`` carry the pairs) and ``"teacher"`` (the
teacher's parameters; ``()`` when there is none).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import ModelFn, check_process
from diffax.objectives.reflow import Coupling, coupled_pairs
from diffax.parameterization import check_parameterization, make_model_fn, model_kind
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.processes.rectified_flow import RectifiedFlow
from diffax.samplers.registry import get_sampler, sampler_info

Array = jax.Array
Teacher = Callable[..., Array]            # teacher(teacher_params, x, t, **cond)


def one_step(model_fn: ModelFn, process: GaussianProcess, noise: Array, *, prediction: str,
             sampler: str = "euler", cond: dict | None = None) -> Array:
    """The one-step map of ``model_fn``: one step of the registered deterministic
    ``sampler`` from ``t_max`` to ``t_min`` (NFE 1 for ``"euler"`` and ``"ddim"``)."""
    ts = jnp.array([process.t_max, process.t_min], noise.dtype)
    return get_sampler(sampler)(model_fn, process, noise, ts, prediction=prediction,
                                cond=cond).x


def _sq(a: Array, b: Array) -> Array:
    """Per-example squared distance, averaged over the elements of an example."""
    return jnp.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))


@dataclasses.dataclass(frozen=True)
class OneStepDistillation:
    """One-step distillation of a coupling, with optional flow guidance (module
    docstring); an objective of ``diffax.training.objective``."""

    process: GaussianProcess
    coupling: Coupling | None = None
    parameterization: str = "velocity"
    time_input: str = "t"
    sampler: str = "euler"
    teacher: Teacher | None = None
    teacher_params: Any = ()
    teacher_prediction: str = "velocity"
    guidance_weight: float = 0.0
    guidance_range: tuple = (0.2, 0.8)

    @property
    def kind(self) -> str:
        """The prediction kind of the student's model (what samplers are told)."""
        return model_kind(self.parameterization)

    def model_fn(self, net: Callable) -> Callable:
        """The student's model ``model_fn(x, t, **cond)`` of a network ``net(x, c, **cond)``."""
        return make_model_fn(net, self.process, self.parameterization,
                             time_input=self.time_input)[0]

    def student(self, net: Callable, params: Any, noise: Array,
                cond: dict | None = None) -> Array:
        """G_theta(noise): the student's one-step sample."""
        model = self.model_fn(lambda x_, c, **cd: net(params, x_, c, **cd))
        return one_step(model, self.process, noise, prediction=self.kind,
                        sampler=self.sampler, cond=cond)

    def guidance_target(self, teacher_params: Any, noise: Array, guess: Array,
                        s: Array) -> Array:
        """T(z): the two-step sample whose first step lands on the path between ``noise``
        and the student's ``guess`` at time ``s`` (per example) and whose second step is
        the teacher's, from ``s`` to ``t_min``."""
        p = self.process
        dtype = noise.dtype
        a_T, s_T = p.alpha(p.t_max).astype(dtype), p.sigma(p.t_max).astype(dtype)
        eps_hat = (noise - a_T * guess) / s_T
        x_s = (broadcast_to_x(p.alpha(s), noise).astype(dtype) * guess
               + broadcast_to_x(p.sigma(s), noise).astype(dtype) * eps_hat)
        step = get_sampler(self.sampler)
        teacher = lambda x, t, **c: self.teacher(teacher_params, x, t, **c)

        def one(x, s_i):
            ts = jnp.stack([s_i, jnp.asarray(p.t_min, dtype)])
            return step(teacher, p, x[None], ts, prediction=self.teacher_prediction).x[0]

        return jax.vmap(one)(x_s, s.astype(dtype))

    def init(self, params: Any) -> Any:
        aux = {"teacher": self.teacher_params}
        if self.coupling is not None:
            aux.update(noise=self.coupling.noise, data=self.coupling.data)
        return aux

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        where = "one_step_distillation"
        k_idx, k_z, k_s = jax.random.split(key, 3)
        x, z, cond = coupled_pairs(self.coupling is not None, aux, batch, k_idx, where)
        dtype = x.dtype
        distill = jnp.mean(_sq(self.student(net, params, z, cond), x))
        metrics = {"distill": distill}
        loss = distill
        if self.teacher is not None and self.guidance_weight > 0:
            z_g = jax.random.normal(k_z, z.shape, dtype)
            pred = self.student(net, params, z_g)
            lo, hi = self.guidance_range
            s = jax.random.uniform(k_s, (z.shape[0],), dtype, lo, hi)
            target = jax.lax.stop_gradient(
                self.guidance_target(aux["teacher"], z_g, jax.lax.stop_gradient(pred), s))
            guide = jnp.mean(_sq(pred, target))
            metrics["guidance"] = guide
            loss = loss + self.guidance_weight * guide
        metrics["loss"] = loss
        return loss, metrics

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def one_step_distillation(process: GaussianProcess = RectifiedFlow(), *,
                          coupling: Coupling | None = None, parameterization: str = "velocity",
                          time_input: str = "t", sampler: str = "euler",
                          teacher: Teacher | None = None, teacher_params: Any = (),
                          teacher_prediction: str = "velocity", guidance_weight: float = 0.0,
                          guidance_range: tuple = (0.2, 0.8)) -> OneStepDistillation:
    """InstaFlow's one-step distillation of ``coupling`` (buffer mode) or of pairs carried
    by the batch (``coupling=None``); with a ``teacher`` and ``guidance_weight > 0``,
    SlimFlow's flow-guided distillation (module docstring). ``sampler`` is the registered
    deterministic one-step sampler of both the student and the teacher."""
    where = "one_step_distillation"
    check_process(process, where)
    check_parameterization(parameterization, time_input)
    if parameterization == "edm":
        raise ValueError(f"{where}: parameterization 'edm' is not supported; choose one of "
                         f"['eps', 'x0', 'v', 'score', 'velocity'].")
    if sampler_info(sampler).stochastic:
        raise ValueError(f"{where}: sampler {sampler!r} is stochastic; the one-step map "
                         f"needs a deterministic sampler such as 'euler' or 'ddim'.")
    if coupling is not None:
        coupling = Coupling(jnp.asarray(coupling.noise), jnp.asarray(coupling.data))
        if coupling.noise.shape != coupling.data.shape or coupling.data.ndim < 1:
            raise ValueError(f"{where}: coupling noise and data must have the same shape "
                             f"(N, ...), got {coupling.noise.shape} and {coupling.data.shape}.")
    checks.in_range(where, "guidance_weight", guidance_weight, lo=0.0)
    if guidance_weight > 0 and (teacher is None or not callable(teacher)):
        raise ValueError(f"{where}: guidance_weight={guidance_weight} needs a teacher "
                         f"callable as teacher(teacher_params, x, t, **cond), got {teacher!r}.")
    lo, hi = guidance_range
    if not process.t_min < lo < hi < process.t_max:
        raise ValueError(f"{where}: guidance_range must satisfy t_min < lo < hi < t_max = "
                         f"({process.t_min}, {process.t_max}), got {guidance_range}.")
    return OneStepDistillation(process, coupling, parameterization, time_input, sampler,
                               teacher, teacher_params, teacher_prediction,
                               float(guidance_weight), (float(lo), float(hi)))


__all__ = ["OneStepDistillation", "one_step", "one_step_distillation"]
