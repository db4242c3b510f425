"""Inverse-problem solvers against the exact Gaussian-mixture posterior.

    python -m benchmarks.inverse --out DIR [--nfes 20,50,100,200] [--samples 1000]

Prior: a 3-component isotropic mixture in 8-D with the exact eps model (VPLinear).
Tasks: ``inpaint`` (observe half of the coordinates) and ``projection`` (a 4 x 8 Gaussian
matrix), both with measurement noise sigma_y = 0.1; the exact posterior is
``GaussianMixture.posterior``. For each method and step count N (a log-SNR grid) the
record gives the sliced-W2 between 1000 method samples and 1000 exact posterior samples,
with the two-sample noise floor and the prior's distance as references, the NFE and the
wall time of the jitted call (after compilation). Writes DIR/inverse.json and
DIR/inverse.png (distance against NFE per task).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from diffax.analytic import GaussianMixture
from diffax.inverse import Mask, RandomProjection, dense_matrix, get_solver
from diffax.metrics import sliced_wasserstein
from diffax.processes import VPLinear
from diffax.samplers import schedules

DIM, SIGMA_Y = 8, 0.1
# Options used for every task; chosen once on the 4-D test problem (tests/inverse).
METHODS = {
    "replacement": {},
    "repaint": {"n_resample": 4, "jump_length": 5},
    "dps": {"zeta": 0.3},
    "pigdm": {"noise_std": SIGMA_Y, "prior_variance": 0.16},
    "red_diff": {"noise_std": SIGMA_Y},
    "steered": {"step_size": 2.0},
}


def make_task(name: str, n: int):
    rng = np.random.default_rng(0)
    gm = GaussianMixture.isotropic([0.3, 0.3, 0.4], rng.normal(size=(3, DIM)) * 1.5, 0.4)
    if name == "inpaint":
        mask = jnp.asarray((np.arange(DIM) < DIM // 2).astype(np.float64))
        op = Mask(mask=mask)
    else:
        op = RandomProjection.create(jax.random.PRNGKey(0), DIM // 2, DIM, dtype=jnp.float64)
    A = dense_matrix(op, (DIM,), jnp.float64)
    x_true = gm.sample(jax.random.PRNGKey(11), 1)
    y1 = op(x_true) + SIGMA_Y * jax.random.normal(jax.random.PRNGKey(2), op(x_true).shape)
    rows = np.asarray(jnp.abs(A).sum(1) > 0)
    if name == "inpaint":
        y1 = y1 * mask
    post = gm.posterior(A[rows], SIGMA_Y**2, y1[0][rows])
    return gm, op, jnp.broadcast_to(y1, (n,) + y1.shape[1:]), post


def sw(a, b) -> float:
    return float(sliced_wasserstein(jax.random.PRNGKey(0), a, b))


def run(nfes: list[int], n: int) -> list[dict]:
    p = VPLinear()
    records = []
    for task in ("inpaint", "projection"):
        gm, op, y, post = make_task(task, n)
        ref = post.sample(jax.random.PRNGKey(3), n)
        floor = sw(post.sample(jax.random.PRNGKey(4), n), ref)
        prior = sw(gm.sample(jax.random.PRNGKey(4), n), ref)
        x_T = p.prior_sample(jax.random.PRNGKey(5), (n, DIM), jnp.float64)
        model = gm.model_fn("eps", p)
        for steps in nfes:
            ts = schedules.uniform_log_snr(p, steps)
            for method, kw in METHODS.items():
                if method == "repaint" and steps % kw["jump_length"]:
                    continue
                solver = get_solver(method)
                x0 = 0.1 * x_T if method == "red_diff" else x_T
                fn = jax.jit(lambda x, k, solver=solver, kw=kw: solver(
                    model, p, x, ts, operator=op, y=y, key=k, **kw))
                out = fn(x0, jax.random.PRNGKey(1))
                jax.block_until_ready(out.x)
                t0 = time.perf_counter()
                out = fn(x0, jax.random.PRNGKey(1))
                jax.block_until_ready(out.x)
                wall = time.perf_counter() - t0
                rec = {"method": method, "task": task, "steps": steps, "nfe": out.nfe,
                       "sliced_w2_to_exact_posterior": sw(out.x, ref), "noise_floor": floor,
                       "prior_distance": prior, "wall_s": wall, "options": kw}
                records.append(rec)
                print(f"{task:10s} {method:12s} steps {steps:4d} nfe {out.nfe:4d}  "
                      f"SW2 {rec['sliced_w2_to_exact_posterior']:.3f} (floor {floor:.3f}, "
                      f"prior {prior:.3f})  {wall * 1e3:8.1f} ms", flush=True)
    return records


def plot(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    tasks = sorted({r["task"] for r in records})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), sharey=True)
    for ax, task in zip(np.atleast_1d(axes), tasks):
        rs = [r for r in records if r["task"] == task]
        for method in METHODS:
            m = sorted((r for r in rs if r["method"] == method), key=lambda r: r["nfe"])
            if m:
                ax.plot([r["nfe"] for r in m], [r["sliced_w2_to_exact_posterior"] for r in m],
                        "o-", label=method)
        ax.axhline(rs[0]["noise_floor"], color="k", ls=":", label="two-sample noise floor")
        ax.axhline(rs[0]["prior_distance"], color="gray", ls="--", label="prior samples")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = sorted({r["nfe"] for r in rs})
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("NFE")
        ax.set_title(f"{task}, 8-D mixture prior, sigma_y = {SIGMA_Y}")
    np.atleast_1d(axes)[0].set_ylabel("sliced W2 to exact posterior samples")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--nfes", default="20,50,100,200")
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    os.makedirs(args.out, exist_ok=True)
    records = run([int(v) for v in args.nfes.split(",")], args.samples)
    dev = jax.devices()[0]
    meta = {"device": dev.device_kind, "platform": dev.platform, "jax": jax.__version__,
            "dim": DIM, "sigma_y": SIGMA_Y, "process": "VPLinear", "precision": "float64"}
    with open(os.path.join(args.out, "inverse.json"), "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    plot(records, os.path.join(args.out, "inverse.png"))


if __name__ == "__main__":
    main()
