"""Consistency training and consistency distillation as objectives (init / loss / update).

Song, Dhariwal, Chen & Sutskever (2023), "Consistency Models" (CM), and Song & Dhariwal
(2024), "Improved Techniques for Training Consistency Models" (iCT). A consistency
function maps every point of a probability-flow ODE trajectory to the trajectory's point
at the smallest noise level sigma_min; a consistency model f_theta learns it.

**Parameterisation** (CM Sec. 3, eq. 5 and App. C; iCT Sec. 3.1), in EDM coordinates
y = x / alpha(t), sigma = sigma(t) / alpha(t) (as :func:`diffax.predictions.edm_precondition`):

    f(x, t) = c_skip(sigma) y + c_out(sigma) F(c_in(sigma) y, c_noise(sigma)),
    c_skip = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2),
    c_out  = (sigma - sigma_min) sigma_data / sqrt(sigma^2 + sigma_data^2),
    c_in   = 1 / sqrt(sigma^2 + sigma_data^2),   c_noise = log(sigma) / 4,

so f(x, t_min) = y exactly (the boundary condition, c_skip = 1, c_out = 0). f is an
``"x0"`` prediction for the samplers (:mod:`diffax.samplers.consistency`).

**Loss** (CM Algorithms 2 and 3; iCT Sec. 3): for x ~ data, a level pair (sigma_n,
sigma_{n+1}) drawn by :func:`~diffax.objectives.consistency_schedule.sample_levels` from
N(k) Karras levels, z ~ N(0, I) and x_{n+1} = alpha x + sigma z at sigma_{n+1},

    L = E[ lambda(sigma_n) d( f_theta(x_{n+1}, sigma_{n+1}),
                              stopgrad f_{theta^-}(x_n, sigma_n) ) ],

* training (CT / iCT): x_n = alpha x + sigma z at sigma_n, with the same z (the
  one-sample estimate of the score, CM Sec. 5);
* distillation (CD): x_n is the teacher's probability-flow ODE step from sigma_{n+1} to
  sigma_n, taken by any registered deterministic diffax sampler (``"euler"`` and
  ``"edm_heun"`` are CM's Euler and Heun solvers, ``"dpm_solver++_2s"`` one DPM-Solver++
  step, ...) on the teacher ``teacher(teacher_params, x, t, **cond)``, a frozen
  network's parameters (kept in ``aux``) or an analytic model.

theta^- is an EMA of theta with decay mu(k) (CM), or theta itself (iCT Sec. 3.2, mu = 0);
:mod:`.consistency_schedule` holds the curricula, level sampling, weightings and
distances with their constants.

**State** (``TrainState.aux``): ``{"step": k, "target": theta^- (or () without an EMA
target), "teacher": teacher_params (or ())}``; ``update`` moves the target and counts the
step (the loss needs k for N(k); the train step does not pass it).

:func:`ode_consistency_function` is the exact consistency function of a given model (the
PF-ODE map to t_min, by an adaptive ODE solve): the oracle of the tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import LOSS_MASK, check_process, split_batch
from diffax.objectives import consistency_schedule as cs
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers import get_sampler, pf_ode_reference, sampler_info

Array = jax.Array
# teacher(teacher_params, x, t, **cond) -> prediction of kind teacher_prediction
Teacher = Callable[..., Array]


def edm_sigma(process: GaussianProcess, t: Any) -> Array:
    """sigma(t) / alpha(t): the noise level of the rescaled state x / alpha."""
    return process.sigma(t) / process.alpha(t)


def time_of_sigma(process: GaussianProcess, sigma: Array) -> Array:
    """The process time at EDM noise level sigma = sigma(t)/alpha(t) (through the
    log-SNR, lambda = -2 log sigma), clipped to [t_min, t_max]."""
    t = process.t_from_log_snr(-2.0 * jnp.log(sigma))
    return jnp.clip(t, process.t_min, process.t_max)


def consistency_scalings(sigma: Array, sigma_data: float,
                         sigma_min: float) -> tuple[Array, Array, Array, Array]:
    """(c_skip, c_out, c_in, c_noise) of the consistency parameterisation (module
    docstring; CM App. C with EDM's c_in and c_noise, as in iCT)."""
    sd2 = sigma_data ** 2
    c_skip = sd2 / ((sigma - sigma_min) ** 2 + sd2)
    c_out = (sigma - sigma_min) * sigma_data / jnp.sqrt(sigma ** 2 + sd2)
    c_in = 1.0 / jnp.sqrt(sigma ** 2 + sd2)
    return c_skip, c_out, c_in, 0.25 * jnp.log(sigma)


def consistency_model_fn(net: Callable, process: GaussianProcess, sigma_data: float = 0.5,
                         sigma_min: float | None = None) -> Callable:
    """The consistency model f(x, t, **cond) (an ``"x0"`` prediction) of a network
    ``net(x_in, c_noise, **cond)``; ``sigma_min`` defaults to sigma(t_min)/alpha(t_min)."""
    checks.positive("consistency_model_fn", "sigma_data", sigma_data)
    s_min = float(edm_sigma(process, process.t_min)) if sigma_min is None else sigma_min

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        a = process.alpha(t)
        c_skip, c_out, c_in, c_noise = consistency_scalings(process.sigma(t) / a,
                                                            sigma_data, s_min)
        y = x / broadcast_to_x(a, x)
        out = net(broadcast_to_x(c_in, x) * y, c_noise.astype(x.dtype), **cond)
        return broadcast_to_x(c_skip, x) * y + broadcast_to_x(c_out, x) * out

    return f


@dataclasses.dataclass(frozen=True)
class ConsistencyObjective:
    """Consistency training (``teacher=None``) or distillation (module docstring)."""

    process: GaussianProcess
    curriculum: Any  # ICTCurriculum | CTCurriculum | FixedLevels
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = cs.RHO
    level_sampling: str = "uniform"
    p_mean: float = cs.P_MEAN
    p_std: float = cs.P_STD
    weighting: str = "uniform"
    distance: str = "l2"
    huber_c: float | None = None
    teacher: Teacher | None = None
    teacher_params: Any = ()
    teacher_prediction: str = "x0"
    teacher_sampler: str = "euler"
    teacher_sampler_options: tuple = ()

    @property
    def kind(self) -> str:
        """The prediction kind of the trained model (what samplers are told)."""
        return "x0"

    @property
    def has_target(self) -> bool:
        """Whether theta^- is an EMA copy (else the online network, stop-gradient)."""
        return not isinstance(self.curriculum, cs.ICTCurriculum) and not (
            isinstance(self.curriculum, cs.FixedLevels) and self.curriculum.mu == 0)

    def model_fn(self, net: Callable) -> Callable:
        """The consistency model f(x, t, **cond) of a network ``net(x, c, **cond)``."""
        return consistency_model_fn(net, self.process, self.sigma_data, self.sigma_min)

    def init(self, params: Any) -> dict:
        target = jax.tree.map(jnp.array, params) if self.has_target else ()
        return {"step": jnp.zeros((), jnp.int32), "target": target,
                "teacher": self.teacher_params}

    def teacher_step(self, teacher_params: Any, x: Array, t_from: Array, t_to: Array,
                     cond: dict) -> Array:
        """One step of the teacher's PF-ODE from t_from[b] to t_to[b] for each example,
        by the sampler ``teacher_sampler`` (vmapped: each example has its own grid)."""
        sampler = get_sampler(self.teacher_sampler, **dict(self.teacher_sampler_options))

        def model(x, t, **c):
            return self.teacher(teacher_params, x, t, **c)

        def one(x, t0, t1, c):
            c = jax.tree.map(lambda v: v[None], c)
            return sampler(model, self.process, x[None], jnp.stack([t0, t1]),
                           prediction=self.teacher_prediction, cond=c).x[0]

        return jax.vmap(one)(x, t_from, t_to, cond)

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: Array) -> tuple[Array, dict]:
        where = "ConsistencyObjective"
        x0, cond = split_batch(batch, where)
        if LOSS_MASK in cond:
            raise ValueError(f"{where}: batch[{LOSS_MASK!r}] is not supported by the "
                             f"consistency losses (they compare whole samples).")
        k_level, k_noise = jax.random.split(key)
        n_levels = self.curriculum.num_levels(aux["step"])
        n = cs.sample_levels(k_level, x0.shape[0], n_levels, self.curriculum.max_levels,
                             self.level_sampling, self.sigma_min, self.sigma_max,
                             self.p_mean, self.p_std, self.rho)
        s_lo = cs.karras_level(n, n_levels, self.sigma_min, self.sigma_max, self.rho)
        s_hi = cs.karras_level(n + 1, n_levels, self.sigma_min, self.sigma_max, self.rho)
        t_lo, t_hi = (time_of_sigma(self.process, s).astype(x0.dtype) for s in (s_lo, s_hi))
        z = jax.random.normal(k_noise, x0.shape, x0.dtype)
        x_hi = self.process.perturb(x0, t_hi, z)
        if self.teacher is None:
            x_lo = self.process.perturb(x0, t_lo, z)
        else:
            x_lo = jax.lax.stop_gradient(self.teacher_step(aux["teacher"], x_hi, t_hi, t_lo,
                                                           cond))

        def f(p):
            return self.model_fn(lambda x, c, **cd: net(p, x, c, **cd))

        online = f(params)(x_hi, t_hi, **cond)
        target_params = aux["target"] if self.has_target else params
        target = jax.lax.stop_gradient(f(target_params)(x_lo, t_lo, **cond))
        d = cs.distance(online, target, self.distance, self.huber_c)
        per_example = cs.level_weight(s_lo, s_hi, self.weighting).astype(d.dtype) * d
        loss = jnp.mean(per_example)
        return loss, {"loss": loss, "t": t_hi, "per_example": per_example,
                      "num_levels": n_levels}

    def update(self, aux: Any, params: Any, step: Array) -> Any:
        target = aux["target"]
        if self.has_target:
            mu = self.curriculum.decay(step)
            target = jax.tree.map(lambda e, p: (mu * e + (1.0 - mu) * p).astype(e.dtype),
                                  target, params)
        return {**aux, "step": (jnp.asarray(step) + 1).astype(jnp.int32), "target": target}


def _noise_range(process: GaussianProcess, sigma_min, sigma_max) -> tuple[float, float]:
    lo = float(edm_sigma(process, process.t_min)) if sigma_min is None else float(sigma_min)
    hi = float(edm_sigma(process, process.t_max)) if sigma_max is None else float(sigma_max)
    checks.interval("consistency objective", lo, hi, lo=0, lo_open=True,
                    names=("sigma_min", "sigma_max"))
    return lo, hi


VARIANTS = ("ict", "ct")


def consistency_training(process: GaussianProcess, *, total_steps: int, variant: str = "ict",
                         sigma_data: float = 0.5, sigma_min: float | None = None,
                         sigma_max: float | None = None, s0: int | None = None,
                         s1: int | None = None, mu0: float = 0.9,
                         level_sampling: str | None = None, weighting: str | None = None,
                         distance: str | None = None,
                         huber_c: float | None = None) -> ConsistencyObjective:
    """Consistency training over ``total_steps`` optimizer steps.

    ``variant="ict"`` (iCT): exponential curriculum (s0 = 10, s1 = 1280), no EMA target,
    lognormal levels, lambda = 1/(sigma_{n+1} - sigma_n), pseudo-Huber distance.
    ``variant="ct"`` (CM Alg. 3): square-root curriculum (s0 = 2, s1 = 150) with the EMA
    target mu(k) (mu0 = 0.9), uniform levels and weighting, squared l2 (CM's LPIPS is an
    image metric). Every option can be overridden. The noise range defaults to the
    process's [sigma(t_min), sigma(t_max)] in EDM coordinates.
    """
    check_process(process, "consistency_training")
    checks.choice("consistency_training", "variant", variant, VARIANTS)
    lo, hi = _noise_range(process, sigma_min, sigma_max)
    if variant == "ict":
        curriculum = cs.ICTCurriculum(total_steps, 10 if s0 is None else s0,
                                      1280 if s1 is None else s1)
        defaults = ("lognormal", "inverse_gap", "pseudo_huber")
    else:
        curriculum = cs.CTCurriculum(total_steps, 2 if s0 is None else s0,
                                     150 if s1 is None else s1, mu0)
        defaults = ("uniform", "uniform", "l2")
    sampling, weight, dist = (d if v is None else v for v, d in
                              zip((level_sampling, weighting, distance), defaults))
    return _build(process, curriculum, sigma_data, lo, hi, sampling, weight, dist, huber_c)


def consistency_distillation(process: GaussianProcess, teacher: Teacher, *,
                             teacher_params: Any = (), teacher_prediction: str = "x0",
                             sampler: str = "euler", sampler_options: dict | None = None,
                             num_levels: int = 18, decay: float = 0.95,
                             sigma_data: float = 0.5, sigma_min: float | None = None,
                             sigma_max: float | None = None, level_sampling: str = "uniform",
                             weighting: str = "uniform", distance: str = "l2",
                             huber_c: float | None = None) -> ConsistencyObjective:
    """Consistency distillation (CM Alg. 2) of ``teacher(teacher_params, x, t, **cond)``
    (a ``teacher_prediction`` model; its parameters live in ``aux["teacher"]`` and are
    never updated), the ODE step taken by the registered deterministic sampler
    ``sampler``; ``num_levels`` Karras levels (CM: 18) and target decay ``decay`` (CM:
    0.95; 0 = stop-gradient of the online network)."""
    where = "consistency_distillation"
    check_process(process, where)
    if not callable(teacher):
        raise ValueError(f"{where}: teacher must be callable as teacher(teacher_params, x, "
                         f"t, **cond), got {type(teacher).__name__}.")
    info = sampler_info(sampler)
    if info.stochastic:
        raise ValueError(f"{where}: sampler {sampler!r} is stochastic; the teacher's step "
                         f"must follow the PF-ODE: choose a deterministic sampler, e.g. "
                         f"'euler', 'edm_heun', 'dpm_solver++_2s'.")
    options = dict(sampler_options or {})
    info.check(options)
    lo, hi = _noise_range(process, sigma_min, sigma_max)
    objective = _build(process, cs.FixedLevels(num_levels, decay), sigma_data, lo, hi,
                       level_sampling, weighting, distance, huber_c)
    return dataclasses.replace(objective, teacher=teacher, teacher_params=teacher_params,
                               teacher_prediction=teacher_prediction, teacher_sampler=sampler,
                               teacher_sampler_options=tuple(sorted(options.items())))


def _build(process, curriculum, sigma_data, lo, hi, sampling, weighting, distance,
           huber_c) -> ConsistencyObjective:
    where = "consistency objective"
    checks.choice(where, "level_sampling", sampling, cs.LEVEL_SAMPLING)
    checks.choice(where, "weighting", weighting, cs.WEIGHTINGS)
    checks.choice(where, "distance", distance, cs.DISTANCES)
    checks.positive(where, "sigma_data", sigma_data)
    if huber_c is not None:
        checks.positive(where, "huber_c", huber_c)
    return ConsistencyObjective(process, curriculum, sigma_data, lo, hi, level_sampling=sampling,
                                weighting=weighting, distance=distance, huber_c=huber_c)


def ode_consistency_function(model_fn: Callable, process: GaussianProcess, *,
                             prediction: str = "eps", t_end: float | None = None,
                             solver: str = "dopri8", rtol: float = 1e-10,
                             atol: float = 1e-10) -> Callable:
    """The exact consistency function of ``model_fn``: f(x, t) = Phi_{t -> t_end}(x) /
    alpha(t_end), the PF-ODE map from each example's time t[b] to ``t_end`` (default
    t_min) by an adaptive diffrax solve (:func:`diffax.samplers.pf_ode_reference`),
    in EDM coordinates like :func:`consistency_model_fn`. An ``"x0"`` prediction."""
    end = process.t_min if t_end is None else t_end

    def f(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])

        def one(xb, tb, cb):
            cb = jax.tree.map(lambda v: v[None], cb)
            return pf_ode_reference(model_fn, process, xb[None], tb, end,
                                    prediction=prediction, solver=solver, rtol=rtol,
                                    atol=atol, cond=cb).x[0]

        return jax.vmap(one)(x, t, cond) / process.alpha(jnp.asarray(end, x.dtype))

    return f


__all__ = ["ConsistencyObjective", "VARIANTS", "consistency_distillation",
           "consistency_model_fn", "consistency_scalings", "consistency_training",
           "edm_sigma", "ode_consistency_function", "time_of_sigma"]
