"""The runs of every method of ``benchmarks.few_step``: (workdir, config) stages built from
the shipped Fashion-MNIST configs, and the (noise, sample) couplings some stages read.

Every method is a chain of :class:`Stage` runs under DIR/runs/ (usually one). A stage may
name a coupling: before it trains, ``DIR/<file>.npz`` is written once from the ODE of
another run (the teacher, or an earlier stage) by :func:`write_coupling`. A chain's stages
are ordinary runner workdirs, so a stage shared by two methods (the 2-rectified flow of
``reflow`` and ``instaflow``) is trained once and reused.

* ``cd``, ``pd``, ``reflow``, ``ot_cfm``, ``flow_matching``: see ``benchmarks.few_step``.
* ``instaflow`` (Liu et al. 2024, "InstaFlow"): the 2-rectified flow of ``reflow``, then
  one-step distillation L = E || G_theta(z) - ODE_2RF(z) ||^2 of its own coupling
  (DIR/coupling_2rf.npz, Euler, 20 steps), the student initialised from the 2-RF.
* ``lcm`` (Luo et al. 2023): LCM skipping-step distillation of the teacher
  (``fashion_mnist_lcm.py``; guidance off: the teacher is unconditional).
* ``mmd`` (Aiello et al. 2023, MMD-DDM): the teacher fine-tuned through its own 4-step
  DDIM sampler (``fashion_mnist_mmd.py``).
* ``slimflow`` (Zhu, Liu & Liu 2024): annealing reflow of the teacher's coupling into a
  student of half the width, beta(k) = 1 - k / K over the first half of the run (then
  plain reflow), then flow-guided distillation (guidance weight 1) of the small
  2-rectified flow's own coupling (DIR/coupling_slim.npz), initialised from it and
  guided by its 2-step samples.
* ``scott`` (Liu et al. 2024): SCott's stochastic consistency distillation of the teacher
  (``fashion_mnist_scott.py``: LCM's grid, loss and sampler, the teacher's step 2
  sub-steps of SDE-DPM-Solver++(2M) with eta = 0.5; no adversarial term).
* ``hyper_sd`` (Ren et al. 2024): Hyper-SD's segmented consistency distillation
  (``fashion_mnist_hyper_sd.py``), a chain of stages s = 8, 4, 2, 1 of ``pd_steps`` each
  like ``pd``: stage s distils the teacher into an s-segment student initialised from
  stage 2s's (``objective.init_workdir``; the first from the teacher) and is scored at
  its own NFE s with the segmented sampler.
* ``ict`` (Song & Dhariwal 2024): improved consistency training from scratch
  (``fashion_mnist_consistency_training.py``), as many steps as the teacher (like
  ``ot_cfm``), the curriculum's total K the run's steps.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import ml_collections
import numpy as np

from diffax.objectives.consistency_variants import HYPER_SD_SEGMENTS
from diffax.objectives.reflow import generate_coupling
from experiments import runner
from experiments.objective_setup import restore_teacher

METHODS = ("cd", "pd", "reflow", "ot_cfm", "flow_matching", "instaflow", "lcm", "mmd",
           "slimflow", "scott", "hyper_sd", "ict")
PD_STAGES = (8, 4, 2, 1)
# chains whose every stage is scored at its own ``sampling.nfe`` (one NFE per stage)
STAGED = ("pd", "hyper_sd")
# the ODE solver that writes a coupling from a run, by the run's prediction kind
COUPLING_SOLVER = {"velocity": ("euler", "uniform_time", 20)}
TEACHER_SOLVER = ("dpm_solver++_2m", "karras", 20)
NOTES = {"pd": "stage n: n-step student of stage 2n (the first from the teacher)",
         "cd": "student initialised from the teacher",
         "reflow": "2-RF from scratch on the teacher's pairs",
         "instaflow": "2-RF (the reflow run), then one-step distillation of its coupling; "
                      "steps include the 2-RF's",
         "lcm": "skipping-step CD (k = 20 of 1000) from the teacher, guidance off "
                "(unconditional teacher), student initialised from the teacher",
         "mmd": "the teacher fine-tuned by MMD through its 4-step DDIM sampler",
         "slimflow": "half-width student: annealing reflow, then flow-guided distillation; "
                     "steps sum both",
         "scott": "LCM with a stochastic teacher step (2 sub-steps of SDE-DPM-Solver++(2M), "
                  "eta 0.5), no adversarial term, student initialised from the teacher",
         "hyper_sd": "stage s: s-segment student of the teacher initialised from stage 2s's "
                     "(the first from the teacher), scored at NFE s; steps sum the stages",
         "ict": "iCT from scratch, curriculum over the run's steps"}


@dataclasses.dataclass
class Stage:
    """One run: ``workdir`` trained with ``config``; when ``coupling_from`` is set, the
    coupling file of ``config.objective.coupling_file`` is first written from that run."""

    workdir: str
    config: object
    coupling_from: str = ""


def scaled(config, scale: dict, steps: int):
    """``config`` at the benchmark's scale: network, batch, steps, quiet logging."""
    if scale["model"] is not None:
        config.model.kwargs.update(scale["model"])
    config.data.batch_size = scale["batch"]
    t = config.training
    t.n_steps = steps
    t.log_every = max(1, min(100, steps // 4))
    t.ckpt_every = max(1, min(1000, steps // 2))
    t.sample_every = 0
    t.progress = False
    config.eval.likelihood_num_examples = 0
    return config


def teacher_config(scale: dict, steps: int):
    return scaled(runner.load_config("configs/image/fashion_mnist_edm.py"), scale, steps)


def _load(name: str, scale: dict, steps: int):
    return scaled(runner.load_config(f"configs/image/fashion_mnist_{name}.py"), scale, steps)


def _from_teacher(name: str, scale: dict, steps: int, teacher_dir: str):
    c = _load(name, scale, steps)
    c.objective.teacher_workdir = teacher_dir
    return c


def _flow(objective: str, scale: dict, steps: int, coupling: str, **kwargs):
    """The flow-matching config (rectified flow, velocity U-Net, Euler) trained by
    ``objective`` on the coupling file ``coupling``."""
    c = _load("flow_matching", scale, steps)
    c.objective.name = objective
    c.objective.coupling_file = coupling
    c.objective.kwargs = ml_collections.ConfigDict(kwargs)
    return c


def method_stages(method: str, scale: dict, steps: int, pd_steps: int, out: str,
                  teacher_dir: str) -> list[Stage]:
    """The chain of runs of ``method`` (module docstring)."""
    runs = os.path.join(out, "runs")
    pairs = os.path.join(out, "coupling.npz")
    reflow = Stage(os.path.join(runs, "reflow"), _flow("reflow", scale, steps, pairs),
                   teacher_dir)
    if method == "cd":
        c = _from_teacher("consistency_distillation", scale, steps, teacher_dir)
        return [Stage(os.path.join(runs, "cd"), c)]
    if method == "pd":
        chain, teacher = [], teacher_dir
        for n in PD_STAGES:
            c = _from_teacher("progressive_distillation", scale, pd_steps, teacher)
            c.objective.kwargs.student_steps = n
            c.sampling.nfe = n
            teacher = os.path.join(runs, f"pd_{n}")
            chain.append(Stage(teacher, c))
        return chain
    if method == "reflow":
        return [reflow]
    if method in ("ot_cfm", "flow_matching"):
        return [Stage(os.path.join(runs, method), _load(method, scale, scale["teacher_steps"]))]
    if method == "instaflow":
        c = _flow("instaflow", scale, steps, os.path.join(out, "coupling_2rf.npz"))
        c.objective.teacher_workdir = reflow.workdir
        c.objective.init_from_teacher = True
        return [reflow, Stage(os.path.join(runs, "instaflow"), c, reflow.workdir)]
    if method in ("lcm", "mmd", "scott"):
        return [Stage(os.path.join(runs, method), _from_teacher(method, scale, steps,
                                                               teacher_dir))]
    if method == "slimflow":
        anneal = _flow("slimflow_annealing_reflow", scale, steps, pairs, schedule="linear",
                       anneal_steps=max(1, steps // 2))
        anneal.model.kwargs.channels = max(1, anneal.model.kwargs.channels // 2)
        small = os.path.join(runs, "slimflow_reflow")
        c = _flow("slimflow_distillation", scale, steps, os.path.join(out, "coupling_slim.npz"),
                  guidance_weight=1.0)
        c.model.kwargs.channels = anneal.model.kwargs.channels
        c.objective.teacher_workdir = small
        c.objective.init_from_teacher = True
        return [Stage(small, anneal, teacher_dir),
                Stage(os.path.join(runs, "slimflow"), c, small)]
    if method == "hyper_sd":
        chain, previous = [], ""
        for s in HYPER_SD_SEGMENTS:
            c = _from_teacher("hyper_sd", scale, pd_steps, teacher_dir)
            c.objective.kwargs.num_segments = s
            c.sampling.nfe = s
            c.eval.nfes = (s,)
            if previous:  # stage s starts from stage 2s's student, same teacher
                c.objective.init_from_teacher = False
                c.objective.init_workdir = previous
            previous = os.path.join(runs, f"hyper_sd_{s}")
            chain.append(Stage(previous, c))
        return chain
    if method == "ict":
        c = _load("consistency_training", scale, scale["teacher_steps"])
        c.objective.kwargs.total_steps = c.training.n_steps
        return [Stage(os.path.join(runs, method), c)]
    raise ValueError(f"unknown method {method!r}; valid choices: {list(METHODS)}.")


def method_configs(method: str, scale: dict, steps: int, pd_steps: int, out: str,
                   teacher_dir: str) -> list[tuple[str, object]]:
    """The (workdir, config) chain of ``method``."""
    return [(s.workdir, s.config) for s in method_stages(method, scale, steps, pd_steps, out,
                                                         teacher_dir)]


def write_coupling(source_dir: str, path: str, n: int, seed: int = 1) -> None:
    """(z, ODE_source(prior_std z)) for n draws z ~ N(0, I), written once to ``path``: the
    PF-ODE of the run in ``source_dir`` solved by DPM-Solver++(2M) on 20 Karras steps for
    the EDM teacher, by 20 Euler steps on a uniform time grid for a flow (velocity model).
    The noise is stored at unit scale (the rectified flow's t = 1 marginal); the samples
    are clipped to the data range [-1, 1]."""
    if os.path.exists(path):
        return
    teacher = restore_teacher(source_dir)
    sampler, schedule, num_steps = COUPLING_SOLVER.get(teacher.kind, TEACHER_SOLVER)
    z = jax.random.normal(jax.random.PRNGKey(seed), (n, 28, 28, 1))

    @jax.jit
    def solve(zb):
        model = lambda x, t, **c: teacher.fn(teacher.params, x, t, **c)  # noqa: E731
        return generate_coupling(model, teacher.process, teacher.process.prior_std * zb,
                                 prediction=teacher.kind, sampler=sampler,
                                 num_steps=num_steps, schedule=schedule).data

    data = np.concatenate([np.asarray(solve(z[i:i + 256])) for i in range(0, n, 256)])
    tmp = path + ".tmp.npz"
    np.savez(tmp, noise=np.asarray(z), data=np.clip(data, -1.0, 1.0))
    os.replace(tmp, path)
