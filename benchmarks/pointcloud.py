"""Point-cloud generation on the "shapes" set: per-class MMD / COV / 1-NNA (Chamfer and
EMD) of a trained class-conditional set transformer next to the data's own floor, the
renders, and how the denoiser's cost grows with the number of points.

    python -m benchmarks.pointcloud --out DIR [--configs shapes] [--steps N]
        [--num-points 128] [--eval-per-class 32] [--speed-points 128,256,512,1024]
    python -m benchmarks.pointcloud --out DIR --floor-spread 8,16,32 [--resamplings 12]

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

Floor spread (``--floor-spread``, no model): how much the data floor's mean-over-classes
MMD / COV / 1-NNA move from the finite number of evaluation clouds alone. Each of
``--resamplings`` draws makes fresh, independent "shapes" train and test splits (dataset
seed 1000 + r, the benchmark's options) of n_max = the largest count per class; a count
n dividing n_max then yields n_max / n independent floors per draw (train block b of n
clouds against test block b), read off the same distance matrices. Reports, per count,
the mean and standard deviation over all those floors (``floor_spread.json``).
"""

from __future__ import annotations

import argparse
import functools
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


@functools.lru_cache(maxsize=None)
def _pairwise_fn(dist: str, batch: int):
    import jax

    from diffax.metrics.point_cloud_generation import _DISTANCES

    fn = _DISTANCES[dist]
    return jax.jit(lambda a, b: jax.lax.map(lambda p: fn(*p), (a, b), batch_size=batch))


def _symmetric_matrix(xs, dist: str, block: int = 32):
    """D[i, j] = dist(xs[i], xs[j]) from the upper triangle only (diagonal 0: 1-NNA and
    the metrics never read it)."""
    import numpy as np

    n = len(xs)
    iu, ju = np.triu_indices(n, 1)
    d = np.zeros((n, n))
    if len(iu):
        d[iu, ju] = np.asarray(_pairwise_fn(dist, min(block, len(iu)))(xs[iu], xs[ju]))
        d[ju, iu] = d[iu, ju]
    return d


def floor_draws(train, test, labels_train, labels_test, counts: list[int],
                emd_points: int = 0, seed: int = 0) -> dict:
    """Mean-over-classes floor metrics of one draw: ``{n: [scores of block b, ...]}`` for
    every count n (dividing the clouds per class), block b being train clouds
    ``b n .. (b + 1) n - 1`` of each class against the same test clouds; EMD (exact) on
    ``emd_points`` points chosen as the evaluation chooses them, Chamfer on all."""
    import numpy as np

    from diffax.metrics import set_distance_matrix
    from experiments.tasks.pointcloud import set_scores

    classes = np.unique(labels_test)
    n_max = int(np.sum(labels_test == classes[0]))
    if any(n < 1 or n_max % n for n in counts):
        raise ValueError(f"floor spread: every count must divide the {n_max} clouds per "
                         f"class, got {counts}.")
    n_pts = train.shape[1]
    pick = (np.sort(np.random.default_rng(seed).choice(n_pts, emd_points, replace=False))
            if 0 < emd_points < n_pts else slice(None))
    per_class = []
    for c in classes:
        t, r = train[labels_train == c][:n_max], test[labels_test == c]
        mats = {}
        for dist, suffix, sub in (("chamfer", "cd", slice(None)), ("emd", "emd", pick)):
            ts, rs = np.asarray(t[:, sub]), np.asarray(r[:, sub])
            mats[suffix] = {"gg": _symmetric_matrix(ts, dist), "rr": _symmetric_matrix(rs, dist),
                            "gr": np.asarray(set_distance_matrix(ts, rs, dist))}
        per_class.append(mats)
    out = {}
    for n in counts:
        out[n] = []
        for b in range(n_max // n):
            blk = slice(b * n, (b + 1) * n)
            scores = [{k: v for suffix, m in mats.items()
                       for k, v in set_scores({key: d[blk, blk] for key, d in m.items()},
                                              suffix).items()} for mats in per_class]
            out[n].append({k: float(np.mean([s[k] for s in scores])) for k in scores[0]})
    return out


def floor_spread(counts: list[int], resamplings: int, num_points: int,
                 emd_points: int = 0, out: str | None = None) -> dict:
    """The floor spread over ``resamplings`` independent draws (module docstring)."""
    import numpy as np

    from diffax.data.pointcloud.shapes import generate_shapes

    n_max = max(counts)
    draws: dict = {n: [] for n in counts}
    t0 = time.perf_counter()
    record: dict = {}
    for r in range(resamplings):
        train, lt = generate_shapes("train", num_per_class=n_max, num_points=num_points,
                                    seed=1000 + r)
        test, ls = generate_shapes("test", num_per_class=n_max, num_points=num_points,
                                   seed=1000 + r)
        for n, rows in floor_draws(train, test, lt, ls, counts, emd_points).items():
            draws[n] += rows
        record = {"num_points": num_points, "emd": "exact",
                  "emd_points": emd_points or "all", "resamplings": r + 1,
                  "wall_s": time.perf_counter() - t0, "load_avg": list(os.getloadavg()),
                  "counts": {str(n): {
                      "num_floors": len(rows),
                      "mean": {k: float(np.mean([x[k] for x in rows])) for k in rows[0]},
                      "std": {k: float(np.std([x[k] for x in rows], ddof=1))
                              if len(rows) > 1 else None for k in rows[0]},
                      "floors": rows} for n, rows in draws.items()}}
        if out:
            with open(os.path.join(out, "floor_spread.json"), "w") as f:
                json.dump(record, f, indent=1)
        print(f"draw {r + 1}/{resamplings}: {record['wall_s']:.0f} s", flush=True)
    return record


def spread_table(record: dict) -> str:
    """Markdown: per count, the floor's mean +- standard deviation of every metric."""
    counts = record["counts"]
    keys = list(next(iter(counts.values()))["mean"])
    lines = ["| clouds per class | floors | " + " | ".join(keys) + " |",
             "|---" * (len(keys) + 2) + "|"]
    for n, c in counts.items():
        cells = [f"{c['mean'][k]:.3f} +- {c['std'][k]:.3f}" if c["std"][k] is not None
                 else f"{c['mean'][k]:.3f}" for k in keys]
        lines.append(f"| {n} | {c['num_floors']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--configs", default="shapes")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: the config's training.n_steps)")
    p.add_argument("--num-points", type=int, default=128)
    p.add_argument("--eval-per-class", type=int, default=32,
                   help="generated and held-out clouds per class (docs/pointcloud.md: "
                        "1-NNA noise +-0.04 at 32, +-0.06 at 8)")
    p.add_argument("--speed-points", default="128,256,512,1024")
    p.add_argument("--floor-spread", default="",
                   help="counts per class, e.g. 8,16,32: measure only the data floor's "
                        "spread over resamplings (no model)")
    p.add_argument("--resamplings", type=int, default=12)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.floor_spread:
        from experiments import runner

        cfg = runner.load_config(f"configs/pointcloud/{args.configs.split(',')[0]}.py")
        record = floor_spread([int(n) for n in args.floor_spread.split(",") if n],
                              args.resamplings, args.num_points,
                              int(cfg.task.get("emd_points", 0)), args.out)
        print(spread_table(record))
        return
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
