"""Progressive distillation (Salimans & Ho, 2022, "Progressive Distillation for Fast
Sampling of Diffusion Models"), in the v-parameterization.

A student sampled with N deterministic DDIM steps learns to reproduce a teacher sampled
with 2N. On the teacher's grid t_0 > t_1 > ... > t_{2N} (uniform in t), the student's
grid is every other point, and at a student time t = t_{2j} with t' = t_{2j+1},
t'' = t_{2j+2} (Algorithm 2):

    z_{t'}  = alpha_{t'} x_eta(z_t) + (sigma_{t'} / sigma_t) (z_t - alpha_t x_eta(z_t)),
    z_{t''} = alpha_{t''} x_eta(z_{t'})
              + (sigma_{t''} / sigma_{t'}) (z_{t'} - alpha_{t'} x_eta(z_{t'})),
    x_tilde = (z_{t''} - (sigma_{t''} / sigma_t) z_t)
              / (alpha_{t''} - (sigma_{t''} / sigma_t) alpha_t),

where x_eta is the teacher's x-prediction: two teacher DDIM steps. x_tilde is the
x-prediction whose *one* DDIM step from t lands on z_{t''} exactly, since that step is
alpha_{t''} x + (sigma_{t''}/sigma_t)(z_t - alpha_t x), linear in x. The student
regresses it with weight w(t) in x space (the paper's "truncated SNR",
max(alpha^2/sigma^2, 1), or "SNR+1", 1 + alpha^2/sigma^2, which for a VP process is the
plain v-space MSE), at z_t = alpha_t x + sigma_t eps for data x. Each stage halves the
steps; the student of a stage is the teacher of the next, initialised from it
(:func:`progressive_distillation`).

:func:`target_model` is the closed-form student (``x_tilde`` as an x0-prediction model),
the exact target of the regression and, with an exact teacher, the exact N-step student.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks, predictions
from diffax.losses.base import (
    ModelFn,
    check_process,
    compute_dtype,
    split_batch,
    weighted_regression,
)
from diffax.objectives.parameterized import ParameterizedModel
from diffax.parameterization import check_parameterization
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers.schedules import uniform_time

Array = jax.Array
WEIGHTINGS = ("truncated_snr", "snr_plus_one")


def student_timesteps(process: GaussianProcess, student_steps: int) -> Array:
    """The student's DDIM grid: every other point of the teacher's uniform-time grid of
    ``2 * student_steps`` steps (sample the student on exactly this grid)."""
    checks.positive_int("student_timesteps", "student_steps", student_steps)
    return uniform_time(process, 2 * student_steps)[::2]


def ddim_x0_step(process: GaussianProcess, x0: Array, z: Array, t: Array, s: Array) -> Array:
    """One deterministic DDIM step from t to s given the x-prediction ``x0``:
    ``alpha_s x0 + (sigma_s / sigma_t)(z - alpha_t x0)`` (``t``, ``s`` of shape (B,))."""
    a_t, s_t = broadcast_to_x(process.alpha(t), z), broadcast_to_x(process.sigma(t), z)
    a_s, s_s = broadcast_to_x(process.alpha(s), z), broadcast_to_x(process.sigma(s), z)
    return a_s * x0 + (s_s / s_t) * (z - a_t * x0)


def distillation_target(teacher_x0: Callable[[Array, Array], Array], process: GaussianProcess,
                        z: Array, t: Array, t_mid: Array, t_next: Array) -> Array:
    """x_tilde of Algorithm 2 (module docstring) from the teacher's x-prediction
    ``teacher_x0(z, t)``; all times of shape (B,)."""
    z_mid = ddim_x0_step(process, teacher_x0(z, t), z, t, t_mid)
    z_next = ddim_x0_step(process, teacher_x0(z_mid, t_mid), z_mid, t_mid, t_next)
    a_t, s_t = broadcast_to_x(process.alpha(t), z), broadcast_to_x(process.sigma(t), z)
    a_n, s_n = broadcast_to_x(process.alpha(t_next), z), broadcast_to_x(process.sigma(t_next), z)
    ratio = s_n / s_t
    return (z_next - ratio * z) / (a_n - ratio * a_t)


def _grid_times(process: GaussianProcess, student_steps: int, t: Array):
    """(t, t', t'') for student times ``t`` (B,) on the grid of :func:`student_timesteps`."""
    fine = uniform_time(process, 2 * student_steps).astype(t.dtype)
    j = jnp.argmin(jnp.abs(fine[:-1:2][None, :] - t[:, None]), axis=1)
    return fine[2 * j], fine[2 * j + 1], fine[2 * j + 2]


def target_model(teacher_fn: ModelFn, teacher_kind: str, process: GaussianProcess,
                 student_steps: int) -> ModelFn:
    """The closed-form student ``model_fn(x, t, **cond)`` (kind ``"x0"``): x_tilde at the
    student grid time nearest to ``t``, from two DDIM steps of ``teacher_fn`` (kind
    ``teacher_kind``). Its ``student_steps``-step DDIM output equals the teacher's
    ``2 * student_steps``-step output (to rounding)."""
    predictions.check_kind(teacher_kind)
    checks.positive_int("target_model", "student_steps", student_steps)

    def model(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        t0, t1, t2 = _grid_times(process, student_steps, t)
        x0_of = lambda z, s: predictions.convert(teacher_fn(z, s, **cond), teacher_kind, "x0",
                                                 z, s, process)
        return distillation_target(x0_of, process, x, t0, t1, t2)

    return model


@dataclasses.dataclass(frozen=True)
class ProgressiveDistillationObjective(ParameterizedModel):
    """One stage: a ``student_steps``-step student of a ``2 * student_steps``-step DDIM
    teacher. The teacher is ``teacher_fn`` (kind ``teacher_kind``) when given, else the
    trained network at ``aux["teacher"]`` (``init`` copies the initial parameters: the
    student starts as the teacher)."""

    process: GaussianProcess
    student_steps: int
    teacher_fn: ModelFn | None = None
    teacher_kind: str = "v"
    parameterization: str = "v"
    time_input: str = "t"
    weighting: str = "truncated_snr"

    def init(self, params: Any) -> Any:
        return () if self.teacher_fn is not None else {"teacher": params}

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        where = "progressive_distillation"
        x, cond = split_batch(batch, where)
        dtype = compute_dtype(x)
        x = x.astype(dtype)
        k_j, k_eps = jax.random.split(key)
        grid = student_timesteps(self.process, self.student_steps).astype(dtype)
        t = grid[jax.random.randint(k_j, (x.shape[0],), 0, self.student_steps)]
        eps = jax.random.normal(k_eps, x.shape, dtype)
        z = self.process.perturb(x, t, eps).astype(dtype)
        if self.teacher_fn is not None:
            teacher, kind = self.teacher_fn, self.teacher_kind
        else:
            teacher = self.model_fn(lambda x_, c, **cd: net(aux["teacher"], x_, c, **cd))
            kind = self.kind
        target = jax.lax.stop_gradient(
            target_model(teacher, kind, self.process, self.student_steps)(z, t, **cond))
        student = self.model_fn(lambda x_, c, **cd: net(params, x_, c, **cd))

        def student_x0(z_, t_, **cd):
            return predictions.convert(student(z_, t_, **cd), self.kind, "x0", z_, t_,
                                       self.process)

        snr = jnp.exp(self.process.log_snr(t))
        weight = jnp.maximum(snr, 1.0) if self.weighting == "truncated_snr" else 1.0 + snr
        return weighted_regression(student_x0, z, t, cond, target, weight.astype(dtype), where)

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def progressive_distillation_objective(
        process: GaussianProcess, *, student_steps: int, teacher_fn: ModelFn | None = None,
        teacher_kind: str = "v", parameterization: str = "v", time_input: str = "t",
        weighting: str = "truncated_snr") -> ProgressiveDistillationObjective:
    """One stage of progressive distillation (see :class:`ProgressiveDistillationObjective`)."""
    where = "progressive_distillation_objective"
    check_process(process, where)
    checks.positive_int(where, "student_steps", student_steps)
    check_parameterization(parameterization, time_input)
    predictions.check_kind(teacher_kind)
    checks.choice(where, "weighting", weighting, WEIGHTINGS)
    return ProgressiveDistillationObjective(process, student_steps, teacher_fn, teacher_kind,
                                            parameterization, time_input, weighting)


def progressive_distillation(train_stage: Callable[[Any, Any], Any], params: Any, *,
                             process: GaussianProcess, num_steps: int, num_stages: int,
                             teacher_fn: ModelFn | None = None, teacher_kind: str = "v",
                             **objective_options: Any) -> list[tuple[int, Any]]:
    """Halve the sampling steps ``num_stages`` times, starting from a ``num_steps``-step
    teacher: stage k trains ``train_stage(objective_k, params) -> params`` (any training
    loop, e.g. :mod:`diffax.training`) from the previous student, which is also its
    teacher (the first stage's teacher is ``teacher_fn`` when given, else the network at
    ``params``). Returns ``[(steps, student_params), ...]``, one entry per stage."""
    where = "progressive_distillation"
    checks.positive_int(where, "num_stages", num_stages)
    n = checks.positive_int(where, "num_steps", num_steps)
    if n % (2 ** num_stages):
        raise ValueError(f"{where}: num_steps={num_steps} cannot be halved num_stages="
                         f"{num_stages} times; choose num_steps a multiple of "
                         f"{2 ** num_stages}.")
    stages = []
    for k in range(num_stages):
        n //= 2
        objective = progressive_distillation_objective(
            process, student_steps=n, teacher_fn=teacher_fn if k == 0 else None,
            teacher_kind=teacher_kind, **objective_options)
        params = train_stage(objective, params)
        stages.append((n, params))
    return stages


__all__ = ["ProgressiveDistillationObjective", "WEIGHTINGS", "ddim_x0_step",
           "distillation_target", "progressive_distillation",
           "progressive_distillation_objective", "student_timesteps", "target_model"]
