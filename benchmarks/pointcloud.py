"""Point-cloud generation on the "shapes" set: per-class MMD / COV / 1-NNA (Chamfer and
EMD) of a trained class-conditional set transformer next to the data's own floor, the
renders, and how the denoiser's cost grows with the number of points.

    python -m benchmarks.pointcloud --out DIR [--configs shapes] [--steps N]
        [--num-points 128] [--eval-per-class 8] [--speed-points 128,256,512,1024]

Quality: each config of ``configs/pointcloud/`` is trained once through the runner
(``--steps``, default the config's ``training.n_steps``) at ``--num-points`` points (a
stopped run resumes from ``DIR/<config>``), then sampled and
evaluated (``--eval-per-class`` generated and held-out clouds per class, the config's
sampler). The record holds every class's metrics and floor (training clouds against the
same held-out clouds), their means, the sampling wall time per cloud and the training
wall time. Speed: one network evaluation (the config's width, random weights) of a batch
of 8 clouds as the number of points grows (attention is quadratic), after compilation,
median of 3.

Writes DIR/pointcloud.json and DIR/<config>_samples.png; prints the tables.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import time

from benchmarks.timing import median_wall


def quality(name: str, steps: int | None, num_points: int, eval_per_class: int,
            out: str) -> dict:
    from experiments import runner

    config = runner.load_config(f"configs/pointcloud/{name}.py")
    steps = steps or config.training.n_steps
    config.training.n_steps = steps
    config.training.ckpt_every = steps
    config.training.progress = False
    config.data.kwargs["num_points"] = num_points
    config.data.kwargs["num_eval_per_class"] = eval_per_class
    classes = len(config.data.kwargs.get("classes", range(6)))
    config.eval.num_samples = eval_per_class * classes
    config.sampling.num_samples = config.sampling.grid_size = 2 * classes
    workdir = os.path.join(out, name)
    t0 = time.perf_counter()
    runner.train(config, workdir)
    train_s = time.perf_counter() - t0
    runner.sample(config, workdir)
    png = sorted(glob.glob(os.path.join(workdir, "samples", "*.png")))[-1]
    shutil.copy(png, os.path.join(out, f"{name}_samples.png"))
    results = runner.evaluate(config, workdir)
    entry = results["samples"][0]
    with open(os.path.join(workdir, "train_summary.json")) as f:
        train = json.load(f)
    return {"config": name, "num_points": num_points, "train_steps": steps,
            "train_wall_s": train_s, "final_train_loss": train["final_loss"],
            "test_loss": results["test_loss"], "num_params": train["num_params"],
            "sampler": entry["sampler"], "nfe": entry["nfe"],
            "sampling_s_per_cloud": entry["wall_s"] / config.eval.num_samples,
            **entry["pointcloud"], "renders": f"{name}_samples.png"}


def speed(points: list[int], hidden: int, depth: int, heads: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from diffax.nn import PointTransformer

    net = PointTransformer(3, hidden=hidden, depth=depth, heads=heads, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(net)
    fn = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x, jnp.zeros(x.shape[0])))
    rows = []
    for n in points:
        x = jax.random.normal(jax.random.PRNGKey(0), (8, n, 3))
        jax.block_until_ready(fn(state, x))  # compile
        _, wall = median_wall(lambda: jax.block_until_ready(fn(state, x)), repeats=3)
        rows.append({"num_points": n, "batch": 8, "forward_s": wall,
                     "forward_ms_per_cloud": 1e3 * wall / 8})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--configs", default="shapes")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: the config's training.n_steps)")
    p.add_argument("--num-points", type=int, default=128)
    p.add_argument("--eval-per-class", type=int, default=8)
    p.add_argument("--speed-points", default="128,256,512,1024")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import jax

    payload = {"device": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
               "quality": [], "speed": []}
    path = os.path.join(args.out, "pointcloud.json")
    for name in args.configs.split(","):
        payload["quality"].append(quality(name, args.steps, args.num_points,
                                          args.eval_per_class, args.out))
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
    from experiments import runner

    m = runner.load_config(f"configs/pointcloud/{args.configs.split(',')[0]}.py").model.kwargs
    payload["speed"] = speed([int(n) for n in args.speed_points.split(",") if n], m.hidden,
                             m.depth, m.heads)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    for q in payload["quality"]:
        print(f"\n{q['config']} ({q['num_points']} points, {q['train_steps']} steps, "
              f"{q['sampling_s_per_cloud']:.3f} s/cloud sampling)")
        print(f"{'class':10s} {'':6s} " + " ".join(f"{k:>9s}" for k in
                                                   q["mean_over_classes"]["model"]))
        for cls, c in {**q["per_class"], "mean": q["mean_over_classes"]}.items():
            for side in ("model", "data_floor"):
                print(f"{cls:10s} {side[:6]:6s} " + " ".join(f"{v:9.4f}" for v in
                                                            c[side].values()))
    for r in payload["speed"]:
        print(f"{r['num_points']:6d} points: {r['forward_ms_per_cloud']:.2f} ms per cloud "
              "per network evaluation")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
