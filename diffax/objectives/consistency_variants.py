"""Consistency-distillation variants on a DDPM time grid: LCM, SCott and Hyper-SD.

One objective, :class:`GridConsistencyObjective` (init / loss / update), three papers:

* **LCM** (Luo, Tan, Huang, Li & Zhao 2023, "Latent Consistency Models"; Sec. 4.2-4.3,
  Algorithm 1). *Skipping-step* distillation: on the N = 1000-step grid the teacher's
  ODE step spans k = 20 steps, t_{n+k} -> t_n (the upper index is one of the N/k DDIM
  steps tau = k-1, 2k-1, .., N-1; the lower is tau - k, clipped to 0). *Guided*
  distillation: the teacher is classifier-free guided, eps_w = (1 + w) eps(x, c) -
  w eps(x, null) (diffax scale 1 + w of :func:`~diffax.guidance.classifier_free_guidance`),
  w ~ U[w_min, w_max] per example (LCM's experiments: [2, 14]), and the student sees w
  as the conditioning keyword ``guidance_scale`` (LCM embeds it like the time). The
  teacher step is DDIM (``sampler="ddim"``, LCM's choice); the target network is an EMA
  (decay 0.95 in LCM's code). Parameterisation: :mod:`.consistency_segments` (c_skip,
  c_out with sigma_data = 0.5 and timestep scaling 10).

      L = E[ d( f_theta(x_{n+k}, t_{n+k}, w), stopgrad f_{theta^-}(x_hat_n, t_n, w) ) ],
      x_{n+k} = alpha x0 + sigma z,   x_hat_n = Psi(x_{n+k}, t_{n+k} -> t_n; eps_w).

  **Grid** (``grid``, :mod:`diffax.samplers.consistency_grid`): the N = 1000 training times are uniform in
  the process's time by default (``"uniform_time"``); ``"karras"`` spaces the EDM noise
  level s = sigma / alpha as Karras et al. (2022, eq. 5) with rho = 7, s_tau = (s_min^(1/7)
  + tau/(N-1) (s_max^(1/7) - s_min^(1/7)))^7, which like LCM's DDPM index puts most levels
  at small noise (for EDM the uniform grid's skip k = 20 spans 1.6 in sigma, all of the
  range where images form); ``"log_snr"`` is uniform in lambda. Skips, segments and the
  distance d of c_skip / c_out are counted in grid index.

* **SCott** (Liu, Xie, Deng, et al. 2024, "SCott: Accelerating Diffusion Models with
  Stochastic Consistency Distillation"). The teacher's step Psi is a *stochastic* solver
  step with a controllable noise strength: any registered stochastic diffax sampler with
  its noise option (default ``"sde_dpm_solver++_2m"`` with ``eta``: the injected
  variance is sigma_t^2 (1 - e^{-2 eta h}), eta = 0 the ODE, 1 the reverse SDE;
  ``"edm_heun_stochastic"`` with ``s_churn``, ``"ddim_eta1"``, ...), split into
  ``teacher_substeps`` sub-steps between t_{n+k} and t_n (SCott's multi-step teacher
  sampling). The sampler's key is drawn per example from the loss key. Omitted: SCott's
  adversarial loss (a LoRA discriminator conditioned on text and time), an image-domain
  term with no counterpart on the oracle.

* **Hyper-SD** (Ren, Xia, Lu, et al. 2024, "Hyper-SD: Trajectory Segmented Consistency
  Model", Sec. 3.1, TSCD). The time range is cut into s segments; the consistency
  target of a point in (b_{j-1}, b_j] is the trajectory at the segment's lower boundary
  b_{j-1} (not t_min; the s segments are equal in grid index), the lower end of the
  teacher step is clipped to it, and training proceeds over stages s = 8 -> 4 -> 2 -> 1
  (each a new objective initialised from the previous student; s = 1 is LCM). Sampling
  with s segments takes s steps through the boundaries
  (:func:`~diffax.objectives.consistency_segments.segmented_sample`).
  Omitted: Hyper-SD's human-feedback learning, score distillation for one step and the
  adversarial term.

**Network** (``parameterization``, ``time_input``, ``sigma_data``: the options of
:func:`diffax.parameterization.make_model_fn`, which the experiment layer passes from
``config.model``): the student's prediction (x0_hat, eps_hat) is read from the network as
a denoising model of that parameterization reads it, e.g. ``"edm"``: x0_hat = c_skip y +
c_out F(c_in y, log(sigma / alpha) / 4), y = x / alpha (Karras et al. 2022, eq. 7). A
student initialised from an EDM teacher then starts as the teacher's denoiser. Without
``parameterization`` the network output is the ``prediction`` itself, with the process
time t as its time input (the MLPs of the oracle tests). ``sigma_data`` here is the
network's preconditioning constant; LCM's c_skip / c_out keep their own 0.5.

**State** (``TrainState.aux``): ``{"step", "target": theta^- (or () with decay 0),
"teacher": teacher_params}``.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.guidance import classifier_free_guidance
from diffax.losses.base import LOSS_MASK, check_process, split_batch
from diffax.objectives import consistency_schedule as cs
from diffax.objectives import consistency_segments as seg
from diffax.parameterization import check_parameterization, make_model_fn, model_kind
from diffax.processes.base import GaussianProcess
from diffax.samplers import get_sampler, sampler_info

Array = jax.Array
GUIDANCE_KEY = "guidance_scale"
LCM_GUIDANCE_RANGE = (2.0, 14.0)  # LCM Sec. 5.1: w in [w_min, w_max] = [2, 14]
LCM_EMA_DECAY = 0.95
SCOTT_ETA = 0.5                   # diffax default noise strength (not a paper constant)


@dataclasses.dataclass(frozen=True)
class GridConsistencyObjective:
    """Skipping-step, guided, stochastic and segmented consistency distillation (module
    docstring). Build it with :func:`lcm_distillation`, :func:`scott_distillation` or
    :func:`hyper_sd_distillation`."""

    process: GaussianProcess
    teacher: Callable[..., Array]
    teacher_params: Any = ()
    teacher_prediction: str = "eps"
    prediction: str = "eps"
    num_timesteps: int = seg.LCM_NUM_TRAIN_TIMESTEPS
    skip: int = seg.LCM_SKIP
    num_segments: int = 1
    grid: str = "uniform_time"
    sampler: str = "ddim"
    sampler_options: tuple = ()
    teacher_substeps: int = 1
    guidance_range: tuple | None = None
    null_cond: tuple = ()
    decay: float = LCM_EMA_DECAY
    distance: str = "l2"
    huber_c: float | None = None
    sigma_data: float = seg.LCM_SIGMA_DATA
    timestep_scaling: float = seg.LCM_TIMESTEP_SCALING
    parameterization: str | None = None
    time_input: str = "t"
    net_sigma_data: float = 0.5

    @property
    def kind(self) -> str:
        return "x0"

    @property
    def takes_key(self) -> bool:
        """Whether the teacher's sampler takes a key (stochastic ones, DDIM's eta)."""
        return "key" in inspect.signature(sampler_info(self.sampler).fn).parameters

    def read(self, net: Callable) -> Callable:
        """The student's ``prediction`` model (x, t, **cond) of the network ``net(x, c,
        **cond)``: through ``parameterization`` when set, else ``net`` itself (module
        docstring)."""
        if self.parameterization is None:
            return net
        return make_model_fn(net, self.process, self.parameterization,
                             time_input=self.time_input, sigma_data=self.net_sigma_data)[0]

    def model_fn(self, net: Callable) -> Callable:
        """The (segmented) consistency model f(x, t, **cond) of ``net(x, c, **cond)``."""
        return seg.segmented_model_fn(self.read(net), self.process, prediction=self.prediction,
                                      num_segments=self.num_segments,
                                      num_timesteps=self.num_timesteps,
                                      sigma_data=self.sigma_data,
                                      timestep_scaling=self.timestep_scaling, grid=self.grid)

    def init(self, params: Any) -> dict:
        target = jax.tree.map(jnp.array, params) if self.decay > 0 else ()
        return {"step": jnp.zeros((), jnp.int32), "target": target,
                "teacher": self.teacher_params}

    def levels(self, key: Array, batch: int) -> tuple[Array, Array, Array]:
        """(t_hi, t_lo, t_b) per example: the DDIM step t_{n+k}, its lower end t_n
        clipped to the segment floor t_b of t_hi."""
        grid = seg.time_grid(self.process, self.num_timesteps, self.grid)
        n = jax.random.randint(key, (batch,), 1, self.num_timesteps // self.skip + 1)
        hi = n * self.skip - 1
        t_hi = grid[hi]
        t_b = seg.segment_floor(self.process, self.num_segments, t_hi, self.grid)
        return t_hi, jnp.maximum(grid[jnp.maximum(hi - self.skip, 0)], t_b), t_b

    def teacher_step(self, teacher_params: Any, x: Array, t_from: Array, t_to: Array,
                     cond: dict, w: Array | None = None, key: Array | None = None) -> Array:
        """The teacher's solver step t_from[b] -> t_to[b] in ``teacher_substeps`` uniform
        sub-steps, guided at scale 1 + w[b] when ``w`` is given; stochastic samplers take
        one key per example split from ``key``."""
        sampler = get_sampler(self.sampler, **dict(self.sampler_options))
        null = dict(self.null_cond)
        w = jnp.zeros(x.shape[:1], x.dtype) if w is None else w
        keys = jax.random.split(jax.random.PRNGKey(0) if key is None else key, x.shape[0])
        m = self.teacher_substeps

        def one(xb, t0, t1, cb, wb, kb):
            cb = jax.tree.map(lambda v: v[None], cb)

            def model(x, t, **c):
                return self.teacher(teacher_params, x, t, **c)

            if self.guidance_range is not None:
                model = classifier_free_guidance(model, 1.0 + wb, null)
            ts = t0 + (t1 - t0) * jnp.linspace(0.0, 1.0, m + 1, dtype=xb.dtype)
            extra = {"key": kb} if self.takes_key else {}
            return sampler(model, self.process, xb[None], ts, prediction=self.teacher_prediction,
                           cond=cb, **extra).x[0]

        return jax.vmap(one)(x, t_from, t_to, cond, w, keys)

    def consistency(self, net: Callable, params: Any, x: Array, t: Array, t_b: Array,
                    cond: dict) -> Array:
        """f_params(x, t) mapped to the given floors t_b (the loss passes the floor of the
        upper time to both sides, so that a target at t_b is the identity)."""
        pred = self.read(lambda x_, c, **kw: net(params, x_, c, **kw))(x, t, **cond)
        return seg.segmented_consistency(pred, x, t, t_b, process=self.process,
                                         prediction=self.prediction,
                                         num_timesteps=self.num_timesteps,
                                         sigma_data=self.sigma_data,
                                         timestep_scaling=self.timestep_scaling,
                                         grid=self.grid)

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: Array) -> tuple[Array, dict]:
        where = "GridConsistencyObjective"
        x0, cond = split_batch(batch, where)
        if LOSS_MASK in cond:
            raise ValueError(f"{where}: batch[{LOSS_MASK!r}] is not supported by the "
                             f"consistency losses (they compare whole samples).")
        k_lvl, k_noise, k_w, k_teacher = jax.random.split(key, 4)
        b = x0.shape[0]
        t_hi, t_lo, t_b = (v.astype(x0.dtype) for v in self.levels(k_lvl, b))
        x_hi = self.process.perturb(x0, t_hi, jax.random.normal(k_noise, x0.shape, x0.dtype))
        w, student_cond = None, cond
        if self.guidance_range is not None:
            lo, hi = self.guidance_range
            w = jax.random.uniform(k_w, (b,), x0.dtype, lo, hi)
            student_cond = {**cond, GUIDANCE_KEY: w}
        x_lo = jax.lax.stop_gradient(self.teacher_step(aux["teacher"], x_hi, t_hi, t_lo, cond,
                                                       w, k_teacher))
        online = self.consistency(net, params, x_hi, t_hi, t_b, student_cond)
        target_params = aux["target"] if self.decay > 0 else params
        target = jax.lax.stop_gradient(self.consistency(net, target_params, x_lo, t_lo, t_b,
                                                        student_cond))
        per_example = cs.distance(online, target, self.distance, self.huber_c)
        loss = jnp.mean(per_example)
        return loss, {"loss": loss, "t": t_hi, "per_example": per_example}

    def update(self, aux: Any, params: Any, step: Array) -> Any:
        target = aux["target"]
        if self.decay > 0:
            mu = self.decay
            target = jax.tree.map(lambda e, p: (mu * e + (1.0 - mu) * p).astype(e.dtype),
                                  target, params)
        return {**aux, "step": (jnp.asarray(step) + 1).astype(jnp.int32), "target": target}


def _build(where: str, process: GaussianProcess, teacher: Callable, *, stochastic: bool | None,
           sampler: str, sampler_options: dict | None, guidance_range, null_cond,
           decay: float, distance: str, huber_c, num_timesteps: int, skip: int,
           num_segments: int, teacher_substeps: int, grid: str, prediction: str | None,
           parameterization: str | None, time_input: str, sigma_data: float,
           **kw) -> GridConsistencyObjective:
    check_process(process, where)
    if parameterization is not None:
        check_parameterization(parameterization, time_input)
        kind = model_kind(parameterization)
        if prediction is not None and prediction != kind:
            raise ValueError(f"{where}: prediction={prediction!r} contradicts "
                             f"parameterization={parameterization!r}, which predicts {kind!r}; "
                             f"drop prediction or set it to {kind!r}.")
        prediction = kind
    prediction = "eps" if prediction is None else prediction
    if not callable(teacher):
        raise ValueError(f"{where}: teacher must be callable as teacher(teacher_params, x, "
                         f"t, **cond), got {type(teacher).__name__}.")
    seg.check_grid(where, num_timesteps, skip, num_segments, grid)
    checks.positive_int(where, "teacher_substeps", teacher_substeps)
    info = sampler_info(sampler)
    if stochastic is not None and info.stochastic != stochastic:
        kind = "a stochastic" if stochastic else "a deterministic"
        examples = ("sde_dpm_solver++_2m, edm_heun_stochastic" if stochastic
                    else "ddim, euler, edm_heun")
        raise ValueError(f"{where}: sampler {sampler!r} is not {kind} sampler; e.g. "
                         f"{examples}.")
    options = dict(sampler_options or {})
    info.check(options)
    checks.choice(where, "distance", distance, cs.DISTANCES)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"{where}: decay must lie in [0, 1), got {decay}.")
    if guidance_range is not None:
        lo, hi = (float(v) for v in guidance_range)
        if not 0.0 <= lo <= hi:
            raise ValueError(f"{where}: guidance_range must be (w_min, w_max) with 0 <= "
                             f"w_min <= w_max, got {guidance_range}.")
        if not null_cond:
            raise ValueError(f"{where}: guided distillation needs null_cond, the "
                             f"unconditional values of the conditioning keys, e.g. "
                             f"{{'label': num_classes}}.")
        guidance_range = (lo, hi)
    return GridConsistencyObjective(
        process, teacher, num_timesteps=num_timesteps, skip=skip, num_segments=num_segments,
        grid=grid, sampler=sampler, sampler_options=tuple(sorted(options.items())),
        teacher_substeps=teacher_substeps, guidance_range=guidance_range,
        null_cond=tuple(sorted(dict(null_cond or {}).items())), decay=decay,
        distance=distance, huber_c=huber_c, prediction=prediction,
        parameterization=parameterization, time_input=time_input, net_sigma_data=sigma_data,
        **kw)


def lcm_distillation(process: GaussianProcess, teacher: Callable, *, teacher_params: Any = (),
                     teacher_prediction: str = "eps", prediction: str | None = None,
                     parameterization: str | None = None, time_input: str = "t",
                     sigma_data: float = 0.5,
                     num_timesteps: int = seg.LCM_NUM_TRAIN_TIMESTEPS, skip: int = seg.LCM_SKIP,
                     grid: str = "uniform_time", guidance_range: tuple | None = None,
                     null_cond: dict | None = None,
                     sampler: str = "ddim", sampler_options: dict | None = None,
                     decay: float = LCM_EMA_DECAY, distance: str = "l2",
                     huber_c: float | None = None) -> GridConsistencyObjective:
    """LCM's latent consistency distillation (module docstring): skipping step ``skip``
    (k = 20 of N = 1000) on the training ``grid`` (one of ``"uniform_time"``, ``"karras"``,
    ``"log_snr"``; module docstring), guided when ``guidance_range`` = (w_min, w_max) is
    given (LCM: :data:`LCM_GUIDANCE_RANGE`) with ``null_cond`` the unconditional values; a
    deterministic teacher ``sampler`` (DDIM). The student's network is read through
    ``parameterization`` / ``time_input`` / ``sigma_data`` when given (module docstring;
    ``prediction`` then defaults to its kind), else as a ``prediction`` model (default
    ``"eps"``) of the process time."""
    return _build("lcm_distillation", process, teacher, stochastic=False, sampler=sampler,
                  sampler_options=sampler_options, guidance_range=guidance_range,
                  null_cond=null_cond, decay=decay, distance=distance, huber_c=huber_c,
                  num_timesteps=num_timesteps, skip=skip, num_segments=1, teacher_substeps=1,
                  grid=grid, teacher_params=teacher_params, teacher_prediction=teacher_prediction,
                  prediction=prediction,
                  parameterization=parameterization, time_input=time_input,
                  sigma_data=sigma_data)


def scott_distillation(process: GaussianProcess, teacher: Callable, *, teacher_params: Any = (),
                       teacher_prediction: str = "eps", prediction: str | None = None,
                       parameterization: str | None = None, time_input: str = "t",
                       sigma_data: float = 0.5,
                       num_timesteps: int = seg.LCM_NUM_TRAIN_TIMESTEPS,
                       skip: int = seg.LCM_SKIP, grid: str = "uniform_time",
                       sampler: str = "sde_dpm_solver++_2m",
                       sampler_options: dict | None = None, teacher_substeps: int = 2,
                       guidance_range: tuple | None = None, null_cond: dict | None = None,
                       decay: float = LCM_EMA_DECAY, distance: str = "l2",
                       huber_c: float | None = None) -> GridConsistencyObjective:
    """SCott's stochastic consistency distillation (module docstring): the teacher step is
    ``teacher_substeps`` steps of the stochastic ``sampler``, its noise strength in
    ``sampler_options`` (default: SDE-DPM-Solver++(2M) with ``eta`` = 0.5, a diffax
    default; eta = 1 is the reverse SDE, 0 the ODE), on the training ``grid`` as LCM's;
    the adversarial term is omitted."""
    options = dict(sampler_options or {})
    if sampler == "sde_dpm_solver++_2m":
        options.setdefault("eta", SCOTT_ETA)
    return _build("scott_distillation", process, teacher, stochastic=True, sampler=sampler,
                  sampler_options=options, guidance_range=guidance_range,
                  null_cond=null_cond, decay=decay, distance=distance, huber_c=huber_c,
                  num_timesteps=num_timesteps, skip=skip, num_segments=1,
                  teacher_substeps=teacher_substeps, grid=grid, teacher_params=teacher_params,
                  teacher_prediction=teacher_prediction, prediction=prediction,
                  parameterization=parameterization, time_input=time_input,
                  sigma_data=sigma_data)


def hyper_sd_distillation(process: GaussianProcess, teacher: Callable, *, num_segments: int,
                          teacher_params: Any = (), teacher_prediction: str = "eps",
                          prediction: str | None = None, parameterization: str | None = None,
                          time_input: str = "t", sigma_data: float = 0.5,
                          num_timesteps: int = seg.LCM_NUM_TRAIN_TIMESTEPS,
                          skip: int = seg.LCM_SKIP, grid: str = "uniform_time",
                          sampler: str = "ddim",
                          sampler_options: dict | None = None,
                          guidance_range: tuple | None = None, null_cond: dict | None = None,
                          decay: float = LCM_EMA_DECAY, distance: str = "l2",
                          huber_c: float | None = None) -> GridConsistencyObjective:
    """One stage of Hyper-SD's trajectory-segmented consistency distillation with
    ``num_segments`` segments, equal in the index of the training ``grid`` (the paper's
    stages: :data:`HYPER_SD_SEGMENTS`); sample it with
    ``segmented_sample(..., grid=grid)``."""
    return _build("hyper_sd_distillation", process, teacher, stochastic=False,
                  sampler=sampler, sampler_options=sampler_options,
                  guidance_range=guidance_range, null_cond=null_cond, decay=decay,
                  distance=distance, huber_c=huber_c, num_timesteps=num_timesteps, skip=skip,
                  num_segments=num_segments, teacher_substeps=1, grid=grid,
                  teacher_params=teacher_params,
                  teacher_prediction=teacher_prediction, prediction=prediction,
                  parameterization=parameterization, time_input=time_input,
                  sigma_data=sigma_data)


HYPER_SD_SEGMENTS = seg.HYPER_SD_SEGMENTS

__all__ = ["GUIDANCE_KEY", "GridConsistencyObjective", "HYPER_SD_SEGMENTS",
           "LCM_EMA_DECAY", "LCM_GUIDANCE_RANGE", "hyper_sd_distillation", "lcm_distillation",
           "scott_distillation"]
