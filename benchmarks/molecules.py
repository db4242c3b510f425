"""Molecule generation quality: EDM's atom / molecule stability, validity, uniqueness and
connectivity (Hoogeboom et al. 2022; :mod:`diffax.metrics.molecules`) of a trained
molecules config, next to the data's own scores.

    python -m benchmarks.molecules --out DIR [--config configs/molecules/g2.py]
        [--workdir W] [--steps N] [--samplers ancestral,edm_heun] [--nfes 50,100]
        [--num-samples 256]

The config is trained through the runner into ``--workdir`` (default ``DIR/<config>``;
a workdir that already holds the final checkpoint is only restored, a stopped run
resumes), then ``--num-samples`` molecules are drawn for each (sampler, NFE) with the
EMA parameters, the atom counts from the training histogram, and scored. The data rows
score the training and test splits themselves (the reference a model is compared with).
Writes ``DIR/molecules.json`` (records with wall times) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

KEYS = ("atom_stability", "molecule_stability", "validity", "uniqueness", "connected")


def data_scores(config) -> list[dict]:
    """The metrics of the training and test splits of ``config``'s data set."""
    from diffax.metrics.molecules import molecule_metrics
    from experiments.tasks import get_task

    task = get_task(config.task.name, config)
    rows = []
    for split in ("train", "test"):
        ds = task.dataset(config, split)
        m = molecule_metrics(ds.positions, np.maximum(ds.types, 0), ds.node_mask,
                             ds.elements)
        rows.append({"source": f"data ({split})", "num_molecules": ds.num_examples,
                     **{k: float(m[k]) for k in KEYS}})
    return rows


def model_scores(config, workdir: str, samplers: list[str], nfes: list[int],
                 num_samples: int) -> tuple[list[dict], dict]:
    """Train (or restore) ``config`` in ``workdir``; one record per (sampler, NFE)."""
    import jax

    from diffax import training
    from experiments import runner

    summary = os.path.join(workdir, "train_summary.json")
    before = json.load(open(summary)) if os.path.exists(summary) else None
    if before is None or before["steps"] < config.training.n_steps:
        runner.train(config, workdir)  # resumes a stopped run
    train = json.load(open(summary))  # a restored run keeps its own training record
    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    rows = []
    for sampler in samplers:
        for nfe in nfes:
            fn = runner.make_sample_fn(exp, graphdef, num_samples=num_samples,
                                       sampler=sampler, nfe=nfe, with_nfe=True)
            t1 = time.perf_counter()
            x, spent = fn(state.buffers, params, jax.random.PRNGKey(config.sampling.seed))
            x = np.asarray(jax.device_get(x))
            wall = time.perf_counter() - t1
            cond = exp.task.sample_condition(exp.spec, num_samples)
            m = exp.task.extra_metrics(x, cond, exp.dataset)
            rows.append({"source": f"model ({sampler}, NFE {int(np.max(spent))})",
                         "sampler": sampler, "nfe": int(np.max(spent)),
                         "num_molecules": num_samples, "sample_wall_s_incl_compile": wall,
                         **{k: float(m[f"mol_{k}"]) for k in KEYS}})
            if "mol_charge_consistency" in m:  # with data.include_charges
                rows[-1]["charge_consistency"] = float(m["mol_charge_consistency"])
            print(json.dumps(rows[-1]), flush=True)
    return rows, train


def table(rows: list[dict]) -> str:
    head = "| source | molecules | " + " | ".join(k.replace("_", " ") for k in KEYS) + " |"
    lines = [head, "|" + " --- |" * (len(KEYS) + 2)]
    for r in rows:
        lines.append(f"| {r['source']} | {r['num_molecules']} | "
                     + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="configs/molecules/g2.py")
    p.add_argument("--workdir", default="")
    p.add_argument("--steps", type=int, default=0, help="0: the config's n_steps")
    p.add_argument("--samplers", default="ancestral,edm_heun")
    p.add_argument("--nfes", default="50,100")
    p.add_argument("--num-samples", type=int, default=256)
    a = p.parse_args()
    from experiments import runner

    config = runner.load_config(a.config)
    config.training.progress = False
    if a.steps:
        config.training.n_steps = a.steps
    name = os.path.splitext(os.path.basename(a.config))[0]
    workdir = a.workdir or os.path.join(a.out, name)
    os.makedirs(a.out, exist_ok=True)
    samplers = [s for s in a.samplers.split(",") if s]
    nfes = [int(n) for n in a.nfes.split(",") if n]
    rows, train = model_scores(config, workdir, samplers, nfes, a.num_samples)
    rows = data_scores(config) + rows
    record = {"config": a.config, "data": config.data.name,
              "steps": int(config.training.n_steps), "train": train, "rows": rows}
    with open(os.path.join(a.out, "molecules.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
