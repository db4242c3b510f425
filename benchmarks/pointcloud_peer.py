"""diffax's point-cloud generation beside a peer: luost26/diffusion-point-cloud (Luo & Hu
2021, PyTorch) trained on the same "shapes" clouds at the same budget and scored with
diffax's metrics under diffax's protocol.

    python -m benchmarks.pointcloud_peer --out DIR [--classes torus,sphere] [--steps 600]
        [--batch-size 32] [--eval-per-class 32] [--num-points 128]
        [--peer-python /work/csdi_venv/bin/python]
        [--peer-path /work/peer_pc/diffusion-point-cloud] [--skip-peer] [--reuse]

The peer trains one unconditional model per category, so both sides do here. For each
class of ``--classes``:

1. diffax's config (``configs/pointcloud/shapes.py``) restricted to that class
   (``data.kwargs.classes``, an option of ``pc:shapes``: the normalisation statistics,
   training clouds and held-out clouds are that class's alone) and unconditional
   (``model.class_conditional=False``); the training clouds in model space (PointFlow's
   global normalisation) go to DIR/<class>/clouds.npz.
2. diffax trains (``experiments.runner.train``, the config's recipe at ``--steps`` x
   ``--batch-size``) and draws ``--eval-per-class`` clouds with the config's sampler
   (compiled first, then timed).
3. The peer trains on the same clouds for the same steps x batch (its own recipe
   otherwise, benchmarks/pointcloud_peer_adapter.py, in its own interpreter) and draws
   as many clouds (100 ancestral DDPM steps).
4. Both sample sets are scored by the same call, the task's own evaluation
   (``PointCloudTask.extra_metrics``: back to data units with the held-out split's
   statistics, MMD / COV / 1-NNA under Chamfer and exact EMD against the held-out
   clouds, next to the data floor); and, as a second view, under Luo & Hu's variant
   (every cloud in its own unit bounding box, ``bounding_box_normalize``). As a
   diagnostic of the peer's latent prior, its decoder's clouds for the first training
   clouds' own posterior means are scored the same way (``autoencoded_scores``).

Writes DIR/peer.json (both sides' metrics, wall times, recipes, versions),
DIR/<class>_samples.png (diffax row, peer row, data row) and prints a table.
docs/pointcloud.md ("A peer beside it") has the measured run and its reading.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_REPO = "luost26/diffusion-point-cloud"
PEER_COMMIT = "b037c5fb5c27ad016b1ebbe648275b0cffc6cf73"
METRIC_KEYS = ("mmd_cd", "cov_cd", "1nna_cd", "mmd_emd", "cov_emd", "1nna_emd")


def make_config(cls: str, *, steps: int, batch_size: int, num_points: int,
                num_per_class: int, eval_count: int, seed: int = 0):
    """diffax's shapes config for one class, unconditional, at the given sizes."""
    from diffax.data.pointcloud.shapes import SHAPE_CLASSES
    from experiments import runner

    if cls not in SHAPE_CLASSES:
        raise ValueError(f"pointcloud_peer: unknown class {cls!r}; choose from "
                         f"{SHAPE_CLASSES}.")
    c = runner.load_config("configs/pointcloud/shapes.py")
    c.seed = seed
    c.data.kwargs = dict(c.data.kwargs, num_points=num_points, num_per_class=num_per_class,
                         num_eval_per_class=eval_count, classes=(cls,))
    c.data.batch_size = batch_size
    c.model.class_conditional = False
    c.training.label_dropout = 0.0
    c.training.n_steps = steps
    c.training.ckpt_every = steps
    c.training.progress = False
    c.optim.warmup_steps = min(c.optim.warmup_steps, steps // 5)
    c.eval.num_samples = eval_count
    c.sampling.num_samples = c.sampling.grid_size = min(eval_count, 8)
    return c


def export_clouds(exp, path: str) -> dict:
    """The experiment's training clouds in model space to ``path`` (.npz ``train_x``),
    exactly the array diffax's pipeline batches from; returns their summary."""
    x = np.asarray(exp.dataset.points, np.float32)
    np.savez(path, train_x=x)
    return {"num_train": int(len(x)), "num_points": int(x.shape[1]),
            "model_space_std": float(x.std()), "model_space_mean": float(x.mean())}


def score(exp, samples: np.ndarray) -> dict:
    """``samples`` (G, P, 3, model space) scored as diffax's evaluation scores its own:
    ``"pointflow"`` is the task's ``extra_metrics`` record (model and data floor),
    ``"bbox"`` the same six metrics with every cloud in its own unit bounding box."""
    from diffax.data.pointcloud import bounding_box_normalize, to_evaluation_units
    from experiments.tasks.pointcloud import generation_scores

    config, task, train = exp.config, exp.task, exp.dataset
    record = task.extra_metrics(samples, {}, train)["pointcloud"]
    test = task.dataset(config, config.eval.split)
    ref = np.arange(test.num_examples)
    gen_u, ref_u = to_evaluation_units(np.asarray(samples, np.float64)[:len(ref)],
                                       test.points, test.normalizer.select(ref))
    floor_idx = np.arange(len(gen_u))
    floor_u = train.denormalize(train.points[floor_idx], floor_idx)
    bbox = generation_scores(*(bounding_box_normalize(a) for a in (gen_u, ref_u, floor_u)),
                             emd=config.task.get("emd", "exact"),
                             emd_points=int(config.task.get("emd_points", 0)),
                             seed=config.seed)
    (_, pf), = record["per_class"].items()
    return {"pointflow": {k: pf[k] for k in ("model", "data_floor")}, "bbox": bbox,
            "num_generated": pf["num_generated"], "num_reference": pf["num_reference"]}


def run_diffax(config, workdir: str, reuse: bool) -> dict:
    """Train (or reuse a finished run in ``workdir``) and draw ``eval.num_samples``
    clouds with the config's sampler: compile call first, then the timed call."""
    import jax

    from diffax import training
    from diffax.training import host_arrays
    from experiments import runner

    cpu_path = os.path.join(workdir, "train_cpu_s.json")
    if not (reuse and os.path.exists(os.path.join(workdir, "train_summary.json"))):
        cpu0 = time.process_time()  # every thread of this process (XLA's included)
        runner.train(config, workdir)
        with open(cpu_path, "w") as f:
            json.dump({"train_cpu_s": time.process_time() - cpu0}, f)
    with open(os.path.join(workdir, "train_summary.json")) as f:
        summary = json.load(f)
    cpu = json.load(open(cpu_path)) if os.path.exists(cpu_path) else {"train_cpu_s": None}
    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    fn = runner.make_sample_fn(exp, graphdef, num_samples=config.eval.num_samples,
                               with_nfe=True, mesh=host_arrays.mesh_of(state))
    key = jax.random.PRNGKey(config.sampling.seed)
    t0 = time.perf_counter()
    jax.block_until_ready(fn(state.buffers, params, key))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x, nfe = jax.device_get(fn(state.buffers, params, key))
    wall = time.perf_counter() - t0
    x = np.asarray(x)
    np.save(os.path.join(workdir, "samples.npy"), x)
    return {"exp": exp, "samples": x, "record": {
        "train_steps": summary["steps"], "batch_size": config.data.batch_size,
        "train_wall_s": summary["wall_s"], **cpu, "final_train_loss": summary["final_loss"],
        "num_params": summary["num_params"], "sampler": config.sampling.sampler,
        "nfe": int(np.max(nfe)), "sample_wall_s": wall, "sample_compile_s": compile_s,
        "sampling_s_per_cloud": wall / len(x)}}


def run_peer(args, data_path: str, out_dir: str, steps: int, num_samples: int) -> dict:
    """The peer in its own interpreter (benchmarks/pointcloud_peer_adapter.py)."""
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "samples.npy")
    info_path = os.path.join(out_dir, "samples.json")
    if not (args.reuse and os.path.exists(info_path)):
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        subprocess.run([args.peer_python, os.path.join(HERE, "pointcloud_peer_adapter.py"),
                        "--data", data_path, "--out", out, "--peer-path", args.peer_path,
                        "--steps", str(steps), "--batch-size", str(args.batch_size),
                        "--num-samples", str(num_samples), "--threads",
                        str(args.peer_threads)], check=True, env=env)
    with open(info_path) as f:
        info = json.load(f)
    return {"samples": np.load(out), "record": info,
            "autoencoded": np.load(os.path.join(out_dir, "samples_autoencoded.npy"))}


def table(result: dict) -> str:
    """Markdown rows: per class and protocol, diffax, the peer and the data floor."""
    head = "| class | protocol | side | " + " | ".join(METRIC_KEYS) + " |"
    lines = [head, "|" + "---|" * (3 + len(METRIC_KEYS))]
    for cls, r in result["classes"].items():
        for proto in ("pointflow", "bbox"):
            rows = [("diffax", r["diffax"]["scores"][proto]["model"]),
                    ("peer", r["peer"]["scores"][proto]["model"]) if "peer" in r else None,
                    ("data floor", r["diffax"]["scores"][proto]["data_floor"])]
            for side, s in filter(None, rows):
                lines.append(f"| {cls} | {proto} | {side} | "
                             + " | ".join(f"{s[k]:.4f}" for k in METRIC_KEYS) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--classes", default="torus,sphere")
    p.add_argument("--steps", type=int, default=600, help="both sides (the config's 600)")
    p.add_argument("--batch-size", type=int, default=32, help="both sides (the config's)")
    p.add_argument("--num-points", type=int, default=128)
    p.add_argument("--num-per-class", type=int, default=64, help="training clouds")
    p.add_argument("--eval-per-class", type=int, default=32,
                   help="held-out clouds, and clouds drawn by each side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peer-python", default="/work/csdi_venv/bin/python")
    p.add_argument("--peer-path", default="/work/peer_pc/diffusion-point-cloud")
    p.add_argument("--peer-threads", type=int, default=0, help="0: all cores")
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--reuse", action="store_true",
                   help="keep finished trainings found in DIR")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import jax

    from benchmarks.csdi_reference import git_commit
    from experiments.tasks.pointcloud import scatter_grid

    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    result = {"peer": {"repo": PEER_REPO, "commit": git_commit(args.peer_path),
                       "measured_at_commit": PEER_COMMIT},
              "budget": "same optimizer steps x batch for both sides",
              "steps": args.steps, "batch_size": args.batch_size,
              "num_points": args.num_points, "num_train_per_class": args.num_per_class,
              "num_eval_per_class": args.eval_per_class, "seed": args.seed,
              "versions": {"diffax_commit": git_commit(ROOT), "jax": jax.__version__},
              "platform": {"jax": jax.devices()[0].platform, "cpus": os.cpu_count(),
                           "loadavg_at_start": [round(v, 2) for v in os.getloadavg()]},
              "classes": {}}
    path = os.path.join(args.out, "peer.json")
    for cls in [c for c in args.classes.split(",") if c]:
        config = make_config(cls, steps=args.steps, batch_size=args.batch_size,
                             num_points=args.num_points, num_per_class=args.num_per_class,
                             eval_count=args.eval_per_class, seed=args.seed)
        workdir = os.path.join(args.out, cls)
        ours = run_diffax(config, os.path.join(workdir, "diffax"), args.reuse)
        exp = ours.pop("exp")
        data_path = os.path.join(workdir, "clouds.npz")
        entry = {"data": export_clouds(exp, data_path),
                 "diffax": {**ours["record"], "scores": score(exp, ours["samples"])}}
        rows = [ours["samples"][:4]]
        if not args.skip_peer:
            peer = run_peer(args, data_path, os.path.join(workdir, "peer"), args.steps,
                            args.eval_per_class)
            info = peer["record"]
            entry["peer"] = {**{k: info[k] for k in (
                "steps", "batch_size", "num_params", "train_wall_s", "train_cpu_s",
                "sample_wall_s",
                "sampling_s_per_cloud", "nfe", "losses", "recipe", "torch", "threads")},
                "latent": info["latent"],
                "sampler": "ddpm ancestral (the peer's FlowVAE.sample)",
                "scores": score(exp, peer["samples"]),
                # diagnostic: training clouds 0..G-1 decoded from their own posterior
                # means, scored like samples (their floor is those same clouds)
                "autoencoded_scores": score(exp, peer["autoencoded"])}
            result["versions"]["torch"] = info["torch"]
            rows.append(peer["samples"][:4])
        scatter_grid(np.concatenate(rows), os.path.join(args.out, f"{cls}_samples.png"),
                     exp.dataset.points[:4], titles=[f"diffax {cls}"] * 4
                     + [f"peer {cls}"] * (len(rows) - 1) * 4, max_clouds=8)
        entry["renders"] = f"{cls}_samples.png"
        result["classes"][cls] = entry
        result["platform"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
    print(table(result))
    print(f"-> {path}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
