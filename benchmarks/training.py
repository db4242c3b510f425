"""Training throughput of the default image config (Fashion-MNIST EDM U-Net).

    python -m benchmarks.training --out DIR [--config configs/image/fashion_mnist_edm.py]
        [--batch 64] [--steps 30] [--compute-dtype float32,bfloat16]

Builds the experiment exactly as ``experiments.main`` does (same network, loss,
sharded jitted step), times the first call (compile + one step) and then ``--steps``
steady-state steps on real batches after 10 untimed warm-up steps, and writes DIR/training.json with one record per
compute dtype: {"config", "device", "platform", "devices", "batch", "num_params",
"compile_s", "steps_per_sec", "examples_per_sec", "compute_dtype"} plus DIR/training.png.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

def measure(config, steps: int, warmup: int = 10) -> dict:
    from diffax import nn, training
    from experiments import runner

    exp = runner.build(config)
    mesh = training.make_mesh()
    tx, lr = runner._optimizer(config)
    graphdef, state = runner._initial_state(exp, tx)
    state = training.replicate(state, mesh)
    train_step = runner.jitted_train_step(exp, graphdef, tx, lr, mesh)
    batches = [training.shard_batch(exp.batch(i), mesh) for i in range(warmup + steps + 1)]
    t0 = time.perf_counter()
    state, metrics = train_step(state, batches[0])
    jax.block_until_ready(metrics["loss"])
    compile_s = time.perf_counter() - t0
    for i in range(1, warmup + 1):  # untimed: the first steps after a compile run slower
        state, metrics = train_step(state, batches[i])
    jax.block_until_ready(metrics["loss"])
    t0 = time.perf_counter()
    for i in range(warmup + 1, warmup + steps + 1):
        state, metrics = train_step(state, batches[i])
        if i % 8 == 0:
            jax.block_until_ready(metrics["loss"])
    jax.block_until_ready(metrics["loss"])
    wall = time.perf_counter() - t0
    dev = jax.devices()[0]
    return {"device": dev.device_kind, "platform": dev.platform, "devices": jax.device_count(),
            "batch": config.data.batch_size, "num_params": nn.count_params(exp.network),
            "compile_s": compile_s, "steps_per_sec": steps / wall,
            "examples_per_sec": steps * config.data.batch_size / wall,
            "compute_dtype": config.training.compute_dtype, "steps_timed": steps,
            "warmup_steps": warmup,
            "final_loss": float(metrics["loss"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="configs/image/fashion_mnist_edm.py")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--compute-dtype", default="float32,bfloat16")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    records = []
    for dtype in a.compute_dtype.split(","):
        from experiments.runner import load_config
        config = load_config(a.config)
        config.data.batch_size = a.batch
        config.training.compute_dtype = dtype
        rec = {"config": a.config, **measure(config, a.steps)}
        records.append(rec)
        print(json.dumps(rec), flush=True)
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump({"jax": jax.__version__, "records": records}, f, indent=2)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    labels = [f"{r['compute_dtype']}\n{r['platform']}" for r in records]
    ax.bar(labels, [r["examples_per_sec"] for r in records])
    ax.set_ylabel("examples / s")
    ax.set_title(f"{os.path.basename(a.config)}, batch {a.batch}")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "training.png"), dpi=100)
    print(f"wrote {a.out}/training.json and {a.out}/training.png")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
