"""The two models of benchmarks/csdi_reference.py on the shared windows: diffax (trained
with ``experiments.runner.train``, draws from ``experiments.evaluation.conditional_draws``)
and the reference CSDI (ermongroup/CSDI, run in its own interpreter through
benchmarks/csdi_reference_adapter.py at the same width, steps, batch and samples).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np

from benchmarks.csdi_reference_data import score

HERE = os.path.dirname(os.path.abspath(__file__))
#: diffax's CSDI keyword -> the adapter's (CSDI's config) name
CSDI_NAMES = {"channels": "channels", "num_layers": "layers", "num_heads": "nheads",
              "diffusion_embed_dim": "diffusion_embedding_dim",
              "time_embed_dim": "timeemb", "feature_embed_dim": "featureemb"}


# ---- 2. diffax --------------------------------------------------------------------------

def train_diffax(config, workdir: str, reuse: bool) -> dict:
    from experiments import runner

    summary_path = os.path.join(workdir, "train_summary.json")
    if reuse and os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        if summary["steps"] == config.training.n_steps:
            print(f"[csdi_reference] reusing diffax training in {workdir}", flush=True)
            return summary
    runner.train(config, workdir)
    with open(summary_path) as f:
        return json.load(f)


def data_coordinates(task, samples: np.ndarray, batch: dict, cond: dict) -> np.ndarray:
    """Draws in the model's window coordinates (the task's per-window context scaling,
    ``config.task.scaling``) back in the data's normalised ones, as the task's
    ``summarize`` maps them before scoring (checked against its scores below)."""
    return task._unscale(samples, batch, cond)


def impute_diffax(config, workdir: str, data: dict, runs) -> list[dict]:
    """Draws for every held-out window from ``experiments.evaluation.conditional_draws``
    (the loop of ``conditional_metrics``: same chunks, condition keys and sampler keys,
    compilation outside the timing); each run's scores and, as a check, the task's own
    scores of the same draws."""
    from diffax import training
    from experiments import evaluation, runner

    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    test = runner.build(config, split=config.eval.split)
    total, draws = test.dataset.num_examples, int(config.eval.draws)
    results = []
    for sampler, nfe in runs:
        chunks, summaries, wall, spent, row = [], [], 0.0, 0, 0
        for c in evaluation.conditional_draws(exp, test, graphdef, state, params, sampler,
                                              nfe):
            n = c.samples.shape[1]
            assert np.array_equal(np.asarray(c.condition["cond_mask"]),
                                  data["test_cond_mask"][row:row + n])
            row += n
            wall += c.wall_s
            spent = max(spent, c.nfe)
            summaries.append(exp.task.summarize(c.samples, c.batch, c.condition,
                                                test.dataset))
            chunks.append(data_coordinates(exp.task, c.samples, c.batch, c.condition))
        assert row == total
        samples = np.concatenate(chunks, axis=1)
        np.savez_compressed(os.path.join(workdir, f"samples_{sampler}_nfe{spent}.npz"),
                            samples=samples.astype(np.float32))
        task_scores = exp.task.score(summaries, test.dataset)
        results.append({"method": "diffax", "sampler": sampler, "nfe": spent,
                        "draws": draws, "impute_wall_s": wall,
                        "imputations_per_s": draws * total / max(wall, 1e-9),
                        **score(samples, data),
                        "task_score": {k: task_scores[k] for k in ("crps", "mae", "rmse")}})
        print(f"[csdi_reference] diffax {sampler} NFE {spent}: "
              f"{json.dumps(results[-1])}", flush=True)
    return results


# ---- 3. reference CSDI ------------------------------------------------------------------

def run_csdi(args, config, data_path: str, outdir: str, steps: int) -> dict:
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "samples.npz")
    info_path = os.path.join(outdir, "samples.json")
    if not (args.reuse and os.path.exists(info_path)):
        width = {CSDI_NAMES[k]: int(v) for k, v in config.model.kwargs.items()
                 if k in CSDI_NAMES}
        cmd = [args.csdi_python, os.path.join(HERE, "csdi_reference_adapter.py"),
               "--data", data_path, "--out", out, "--csdi-path", args.csdi_path,
               "--steps", str(steps), "--batch-size", str(config.data.batch_size),
               "--samples", str(args.samples), "--eval-batch-size",
               str(config.data.batch_size), "--width", json.dumps(width),
               "--seed", str(args.seed)]
        print("[csdi_reference] " + " ".join(cmd), flush=True)
        with open(os.path.join(outdir, "log.txt"), "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT,
                           env={"OMP_WAIT_POLICY": "PASSIVE",  # no spinning on a busy CPU
                                **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}})
    with open(info_path) as f:
        info = json.load(f)
    with np.load(out) as f:
        info["samples_array"] = f["samples"]
    return info
