"""Consistency training (CT, iCT) and distillation (CD) on the exact oracle: how fast
each approaches the exact consistency function f* of a 1-D Gaussian mixture (issue 20).

    python -m benchmarks.consistency_oracle --out DIR [--steps 20000] [--seeds 0,1]
        [--methods cd,ict,ct]

The problem is the one of tests/objectives/test_consistency_distillation.py: the mixture
0.6 N(-1, 0.3^2) + 0.4 N(1.5, 0.5^2) on the EDM process, a 2-block MLP of width 64 through
the unchanged train step, Adam 1e-3, batch 256, float32. The error is the RMS over test
points x ~ p_sigma at the 17 Karras levels sigma_2..sigma_18 of an 18-level grid (16
each) of f_theta(x, sigma) - f*(x, sigma), with f* the adaptive (Dopri8, tolerance 1e-9)
solve of the exact PF-ODE to sigma_min, in float64.

* ``cd``: CM Alg. 2 with the exact denoiser as teacher, Heun steps, N = 18, mu = 0.95,
  squared l2. Its loss's minimiser is the discretised teacher's consistency function,
  0.028 from f* (the test's floor), so it stalls there.
* ``ict``: Song & Dhariwal (2024) with their defaults (``consistency_training``): the
  exponential curriculum N(k) from 10 to 1280 levels over ``--steps``, no EMA target,
  lognormal levels, lambda = 1/(sigma_{n+1} - sigma_n), pseudo-Huber c = 0.00054 sqrt(d).
* ``ct``: CM Alg. 3: the square-root curriculum (2 to 150 levels), EMA target mu(k) with
  mu0 = 0.9, uniform levels, squared l2.

CT needs no teacher: its target is a one-sample estimate of the CD target with the exact
score (CM Theorem 2), so it needs more steps, and as N(k) grows its discretisation floor
falls below CD's fixed 18-level one. Writes DIR/consistency_oracle.json (the error at
each checkpoint, per method and seed, and the wall time) and DIR/consistency_oracle.png
(error against training step, log-log), and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks.golden.common import x64_enabled
from benchmarks.timing import host_info
from diffax import training as tr
from diffax.analytic import GaussianMixture
from diffax.nn import MLP
from diffax.objectives import consistency_schedule as cs
from diffax.objectives.consistency import (consistency_distillation, consistency_training,
                                           ode_consistency_function)
from diffax.processes import EDM
from diffax.training.step import network_apply

METHODS = ("cd", "ict", "ct")
N_LEVELS, PER_LEVEL, BATCH = 18, 16, 256


def mixture() -> GaussianMixture:
    return GaussianMixture.create(np.array([0.6, 0.4]), np.array([[-1.0], [1.5]]),
                                  np.array([[[0.09]], [[0.25]]]))


def test_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, sigma, f*(x, sigma)): 16 marginal draws at each of sigma_2..sigma_18, f* in
    float64."""
    with x64_enabled(True):  # the exact references in float64
        p, gmm = EDM(), mixture()
        levels = cs.karras_level(jnp.arange(1, N_LEVELS + 1), N_LEVELS, p.t_min, p.t_max)
        keys = jax.random.split(jax.random.PRNGKey(5), N_LEVELS - 1)
        xs = jnp.concatenate([gmm.sample_marginal(k, PER_LEVEL, s, p)
                              for k, s in zip(keys, levels[1:])])
        ts = jnp.repeat(levels[1:], PER_LEVEL)
        exact = jax.jit(ode_consistency_function(gmm.model_fn("x0", p), p, prediction="x0",
                                                 rtol=1e-9, atol=1e-9))(xs, ts)
        return np.asarray(xs, np.float32), np.asarray(ts, np.float32), np.asarray(exact)


def cd_floor(points) -> float:
    """RMS distance of the discretised teacher's consistency function (CD's Heun steps
    chained down the 18-level grid, float64) to f*: what CD converges to."""
    xs, ts, exact = points
    with x64_enabled(True):  # the exact references in float64
        p, gmm = EDM(), mixture()
        x0 = gmm.model_fn("x0", p)
        objective = consistency_distillation(p, lambda params, x, t, **c: x0(x, t),
                                             sampler="edm_heun", num_levels=N_LEVELS)
        levels = cs.karras_level(jnp.arange(1, N_LEVELS + 1), N_LEVELS, p.t_min, p.t_max)
        idx = np.repeat(np.arange(2, N_LEVELS + 1), PER_LEVEL)
        step = jax.jit(lambda x, a, b: objective.teacher_step((), x, a, b, {}))
        chain = jnp.asarray(xs, jnp.float64)
        for j in range(N_LEVELS, 1, -1):
            moved = step(chain, jnp.full(idx.shape, levels[j - 1]),
                         jnp.full(idx.shape, levels[j - 2]))
            chain = jnp.where((idx >= j)[:, None], moved, chain)
        return float(np.sqrt(np.mean((np.asarray(chain) - exact) ** 2)))


def objective_for(method: str, steps: int):
    p = EDM()
    if method == "cd":
        gmm = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), mixture())
        x0 = gmm.model_fn("x0", p)
        return consistency_distillation(p, lambda params, x, t, **c: x0(x, t),
                                        sampler="edm_heun", num_levels=N_LEVELS, decay=0.95)
    if method in ("ict", "ct"):
        return consistency_training(p, total_steps=steps, variant=method)
    raise ValueError(f"--methods: unknown {method!r}; valid choices: {list(METHODS)}.")


def checkpoints(steps: int) -> list[int]:
    """0, then about 4 per decade up to ``steps``."""
    grid = np.unique(np.round(np.logspace(1, np.log10(steps), 4 * int(np.log10(steps)))))
    return [0] + [int(s) for s in grid if s <= steps]


def run(method: str, seed: int, steps: int, points) -> dict:
    """Train one method from one seed; its error at every checkpoint."""
    xs, ts, exact = points
    objective = objective_for(method, steps)
    net = MLP(1, hidden=64, depth=2, time_scale=100.0, rngs=nnx.Rngs(seed))
    tx = optax.adam(1e-3)
    graphdef, state = tr.create_train_state(net, tx, seed=seed, objective=objective)
    step = jax.jit(tr.make_train_step(graphdef, objective, tx))
    apply = network_apply(graphdef)

    @jax.jit
    def student(params, buffers):
        return objective.model_fn(lambda x, c: apply(params, buffers, x, c))(xs, ts)

    def error(params, buffers) -> float:
        f = np.asarray(student(params, buffers), np.float64)
        return float(np.sqrt(np.mean((f - exact) ** 2)))

    gmm = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), mixture())
    marks = checkpoints(steps)
    data_key = jax.random.PRNGKey(1000 + seed)
    errors, t0 = {}, time.perf_counter()
    chunk = 500  # data drawn 500 batches at a time (one dispatch, not one per step)
    for i in range(steps + 1):
        if i in marks:
            errors[str(i)] = error(state.params, state.buffers)
        if i < steps:
            if i % chunk == 0:
                data = gmm.sample(jax.random.fold_in(data_key, i // chunk),
                                  BATCH * chunk).astype(jnp.float32)
            j = i % chunk
            state, metrics = step(state, {"x": data[BATCH * j:BATCH * (j + 1)]})
    loss = float(metrics["loss"])
    if not np.isfinite(loss):
        raise FloatingPointError(f"{method} seed {seed}: the loss is {loss} at the end.")
    return {"method": method, "seed": seed, "steps": steps, "errors": errors,
            "wall_s": time.perf_counter() - t0}


def table(result: dict) -> str:
    runs = result["runs"]
    marks = sorted({int(k) for r in runs for k in r["errors"]})
    shown = [m for m in marks if m in (0, 100, 1000, 2000, 5000) or m == max(marks)]
    lines = ["| method | seeds | " + " | ".join(f"step {m}" for m in shown) + " | wall (s) |",
             "|---|---|" + "---|" * len(shown) + "---|"]
    for method in METHODS:
        rs = [r for r in runs if r["method"] == method]
        if not rs:
            continue
        cells = []
        for m in shown:
            v = [r["errors"][str(m)] for r in rs if str(m) in r["errors"]]
            cells.append(f"{np.mean(v):.3f} +- {np.std(v):.3f}" if v else "")
        wall = np.mean([r["wall_s"] for r in rs])
        lines.append(f"| {method} | {len(rs)} | " + " | ".join(cells) + f" | {wall:.0f} |")
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for j, method in enumerate(METHODS):
        for r in (r for r in result["runs"] if r["method"] == method):
            steps = [int(k) for k in r["errors"] if int(k) > 0]
            ax.loglog(steps, [r["errors"][str(s)] for s in steps], color=f"C{j}",
                      label=method if r["seed"] == result["seeds"][0] else None)
    ax.axhline(result["cd_floor"], color="grey", ls="--", lw=1,
               label="CD floor (18-level Heun teacher)")
    ax.set_xlabel("training step")
    ax.set_ylabel("RMS(f_theta - f*)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"--methods: unknown {m!r}; valid choices: {list(METHODS)}.")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.out, exist_ok=True)
    points = test_points()
    result = {"meta": {**host_info(), "batch": BATCH, "levels": N_LEVELS,
                       "points_per_level": PER_LEVEL},
              "seeds": seeds, "cd_floor": cd_floor(points), "runs": []}
    for method in methods:
        for seed in seeds:
            result["runs"].append(run(method, seed, args.steps, points))
            print(f"[consistency_oracle] {method} seed {seed}: "
                  f"{result['runs'][-1]['errors'][str(args.steps)]:.4f}", flush=True)
            with open(os.path.join(args.out, "consistency_oracle.json"), "w") as f:
                json.dump(result, f, indent=1)
    plot(result, os.path.join(args.out, "consistency_oracle.png"))
    print(table(result))
    return result


if __name__ == "__main__":
    main()
