"""Few-step generation on Fashion-MNIST from one shared teacher (issue 20).

    python -m benchmarks.few_step --out DIR [--scale tiny|default] [--teacher-workdir W]
        [--methods cd,pd,reflow,ot_cfm,flow_matching,instaflow,lcm,mmd,slimflow,scott,
                   hyper_sd,ict]
        [--steps N] [--pd-steps N] [--teacher-steps N]

1. The teacher: ``configs/image/fashion_mnist_edm.py`` (EDM, U-Net) trained in W
   (default DIR/runs/teacher), or reused when W already holds its checkpoint; its
   FD-FMNIST with DPM-Solver++(2M) on the Karras grid at NFE 4..20.
2. Each method, one run (or a chain of runs) under DIR/runs/, every one resumable
   (``runner.train`` continues a workdir's checkpoint; evaluated records are kept in the
   JSON and skipped on the next call):

   * ``cd``: consistency distillation (CM Alg. 2) from the teacher, student initialised
     from it, Heun teacher steps on 18 Karras levels; multistep consistency sampling.
   * ``pd``: progressive distillation (Salimans & Ho 2022) on the cosine VP process,
     stages of 8, 4, 2, 1 student DDIM steps, each stage's student the next's teacher.
   * ``reflow``: 2-rectified flow (Liu et al. 2023) on the coupling (z, ODE_teacher(z))
     of the teacher's PF-ODE (DPM-Solver++(2M), 20 Karras steps) written to
     DIR/coupling.npz; Euler sampling.
   * ``ot_cfm`` and ``flow_matching``: flow matching from scratch with and without the
     minibatch OT coupling, for comparison; Euler sampling.
   * ``instaflow``, ``lcm``, ``mmd``, ``slimflow``: InstaFlow's one-step distillation of
     the 2-rectified flow, LCM skipping-step distillation (guidance off), MMD-DDM
     fine-tuning of the teacher's 4-step DDIM sampler, SlimFlow's annealing reflow and
     flow-guided distillation into a half-width student (``benchmarks.few_step_methods``,
     where every chain of runs is built).
   * ``scott``, ``hyper_sd``, ``ict``: SCott's stochastic consistency distillation, the
     Hyper-SD chain of segmented students (s = 8, 4, 2, 1; like ``pd``, each stage at its
     own NFE s, with the segmented consistency sampler) and iCT from scratch.

   For each: FD-FMNIST (features ``fmnist_cnn``) of ``samples`` samples against as many
   test images at NFE 1, 2, 4, 8, the training steps and wall time (``train_summary.json``
   of the run; a chain sums its stages), and a PNG grid per NFE in DIR/grids/.

Writes DIR/few_step.json (after every method), DIR/few_step.png (FD against NFE) and
prints the Markdown table (``benchmarks.few_step_report``). ``--scale tiny`` (a 42k-
parameter U-Net, a few hundred steps per run, 256 samples) finishes in about a quarter of
an hour on two CPU cores and only checks that every stage runs; ``small`` takes the
``make run`` network (280k parameters, 1200 steps, FD-FMNIST about 27) as the teacher and
gives the students that start from it (``cd``, ``lcm``, ``mmd``, ``pd``) 100-200 steps
(``cd``, ``lcm``, ``pd``: 13-14 minutes of training each on the shared 2-core CPU;
``mmd`` back-propagates through its sampler, over 20 s per step there); ``default`` is the
configs' network with GPU-sized step counts.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import few_step_report
from benchmarks.few_step_methods import (METHODS, NOTES, PD_STAGES, STAGED, method_configs,
                                         method_stages, teacher_config, write_coupling)
from benchmarks.timing import host_info
from diffax import training
from diffax.training import host_arrays
from experiments import evaluation, runner

__all__ = ["METHODS", "NFES", "PD_STAGES", "SCALES", "TEACHER_NFES", "main", "method_configs",
           "run_method", "teacher_config"]

NFES = (1, 2, 4, 8)
TEACHER_NFES = (4, 6, 8, 10, 15, 20)

SCALES = {
    "tiny": dict(teacher_steps=400, steps=200, pd_steps=100, samples=256, batch=64,
                 coupling=512, model=dict(channels=8, channel_mult=(1, 2), num_res_blocks=1,
                                          attn_resolutions=(), dropout=0.0,
                                          embedding="sinusoidal")),
    # the `make run` network and budget as the teacher (1200 steps; pass its workdir as
    # --teacher-workdir to reuse it), students that start from it
    "small": dict(teacher_steps=1200, steps=200, pd_steps=100, samples=512, batch=64,
                  coupling=2048, model=None),
    "default": dict(teacher_steps=20000, steps=4000, pd_steps=4000, samples=5000, batch=128,
                    coupling=20000, model=None),
}


def train_run(workdir: str, config) -> tuple[int, float]:
    """Train (or resume / reuse) one run; (steps, wall seconds of its training)."""
    runner.train(config, workdir)
    summary = json.load(open(os.path.join(workdir, "train_summary.json")))
    return summary["steps"], summary["wall_s"]


class Scorer:
    """FD-FMNIST of samples against ``n`` test images (fmnist_cnn features)."""

    def __init__(self, config, n: int):
        test = runner.build(config, split="test")
        self.n = n
        self.name, self.features = evaluation.feature_function("fmnist_cnn")
        self.reference = self.features(runner.data_reference(test, n))

    def fd(self, x: np.ndarray) -> float:
        from diffax import metrics

        return float(metrics.frechet_distance_from_features(
            jnp.asarray(self.features(x)), jnp.asarray(self.reference)))


def score_run(workdir: str, config, scorer: Scorer, nfes, sampler: str, schedule: str,
              grid_dir: str, label: str) -> dict:
    """{nfe: FD} of the run's EMA network, and a 64-sample grid per NFE."""
    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    out = {}
    for nfe in nfes:
        fn = runner.make_sample_fn(exp, graphdef, num_samples=scorer.n, sampler=sampler,
                                   nfe=nfe, schedule=schedule, mesh=host_arrays.mesh_of(state))
        x = fn(state.buffers, params, jax.random.PRNGKey(config.sampling.seed))
        out[str(nfe)] = scorer.fd(x)
        exp.task.pictures(x[:64], os.path.join(grid_dir, f"{label}_nfe{nfe}.png"))
        print(f"[few_step] {label} {sampler} NFE {nfe}: FD-FMNIST {out[str(nfe)]:.2f}",
              flush=True)
    return out


def run_method(method: str, scale: dict, args, teacher_dir: str, scorer: Scorer) -> dict:
    """Train the chain of ``method`` (writing the couplings it reads first) and score its
    last run at the scale's NFEs (the chains of ``STAGED``, PD and Hyper-SD: each stage at
    its own ``sampling.nfe``, with its own sampler and schedule)."""
    chain = method_stages(method, scale, args.steps, args.pd_steps, args.out, teacher_dir)
    grids = os.path.join(args.out, "grids")
    nfes = scale.get("nfes", NFES)
    steps, wall, fd = 0, 0.0, {}
    for stage in chain:
        c = stage.config
        if stage.coupling_from:
            write_coupling(stage.coupling_from, c.objective.coupling_file, scale["coupling"])
        s, w = train_run(stage.workdir, c)
        steps, wall = steps + s, wall + w
        if method in STAGED:  # each stage at its own NFE: FD at NFE n from the n-step student
            fd.update(score_run(stage.workdir, c, scorer, (c.sampling.nfe,),
                                c.sampling.sampler, c.sampling.schedule, grids, method))
    last = chain[-1].config
    if method not in STAGED:
        fd = score_run(chain[-1].workdir, last, scorer, nfes, last.sampling.sampler,
                       last.sampling.schedule, grids, method)
    record = {"method": method, "sampler": last.sampling.sampler,
              "schedule": last.sampling.schedule,
              "train_steps": steps, "wall_s": wall, "fd": fd,
              "workdirs": [s.workdir for s in chain], "note": NOTES.get(method, "from scratch")}
    if method == "mmd":  # the same sampler on the teacher before fine-tuning
        n = last.objective.kwargs.num_steps
        record["baseline"] = {"label": "teacher before fine-tuning", "fd": score_run(
            teacher_dir, teacher_config(scale, scale["teacher_steps"]), scorer, (n,),
            last.sampling.sampler, last.sampling.schedule, grids, "mmd_teacher")}
    return record


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", choices=sorted(SCALES), default="default")
    ap.add_argument("--teacher-workdir", default="")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--steps", type=int, default=None, help="steps of each student run")
    ap.add_argument("--pd-steps", type=int, default=None, help="steps of each PD stage")
    ap.add_argument("--teacher-steps", type=int, default=None)
    args = ap.parse_args(argv)
    scale = dict(SCALES[args.scale])
    args.steps = args.steps or scale["steps"]
    args.pd_steps = args.pd_steps or scale["pd_steps"]
    scale["teacher_steps"] = args.teacher_steps or scale["teacher_steps"]
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"--methods: unknown {m!r}; valid choices: {list(METHODS)}.")
    os.makedirs(os.path.join(args.out, "grids"), exist_ok=True)
    path = os.path.join(args.out, "few_step.json")
    result = json.load(open(path)) if os.path.exists(path) else {}
    result["meta"] = {"scale": args.scale, "steps": args.steps, "pd_steps": args.pd_steps,
                      "samples": scale["samples"], "features": "fmnist_cnn",
                      "devices": jax.device_count(), "platform": jax.devices()[0].platform,
                      **host_info()}
    teacher_dir = args.teacher_workdir or os.path.join(args.out, "runs", "teacher")
    tc = teacher_config(scale, scale["teacher_steps"])
    t_steps, t_wall = train_run(teacher_dir, tc)
    scorer = Scorer(tc, scale["samples"])
    if result.get("teacher", {}).get("train_steps") != t_steps:
        result["teacher"] = {"workdir": teacher_dir, "train_steps": t_steps, "wall_s": t_wall,
                             "sampler": "dpm_solver++_2m", "fd": score_run(
                                 teacher_dir, tc, scorer, scale.get("teacher_nfes", TEACHER_NFES),
                                 "dpm_solver++_2m", "karras", os.path.join(args.out, "grids"),
                                 "teacher")}
    done = {r["method"]: r for r in result.get("methods", [])}
    for m in methods:
        t0 = time.perf_counter()
        record = done.get(m)
        if record is None or record["train_steps"] != sum(
                c.training.n_steps for _, c in method_configs(
                    m, scale, args.steps, args.pd_steps, args.out, teacher_dir)):
            done[m] = run_method(m, scale, args, teacher_dir, scorer)
            done[m]["bench_wall_s"] = time.perf_counter() - t0
        # every record so far (methods of earlier calls too), in the order of METHODS
        result["methods"] = [done[k] for k in METHODS if k in done]
        json.dump(result, open(path, "w"), indent=2)
    few_step_report.plot(result, os.path.join(args.out, "few_step.png"))
    print(few_step_report.few_step_table(result))
    return result


if __name__ == "__main__":
    main()
