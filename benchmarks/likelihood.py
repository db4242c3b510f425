"""PF-ODE likelihood: diffax (jitted diffrax solve) against a host-side scipy loop.

    python -m benchmarks.likelihood --out DIR [--workdir runs/default]
        [--config configs/image/fashion_mnist_edm.py] [--batch 8] [--rtol 1e-5]

The baseline is the score_sde recipe: ``scipy.integrate.solve_ivp(method="RK45")`` on
the host, calling a jitted velocity-and-divergence function once per stage and moving
the state between host and device each time. diffax solves the same augmented ODE
(same model, same data, same fixed Hutchinson probe or exact trace, same rtol/atol) in
one jitted ``diffrax.diffeqsolve`` with Dopri5 (RK45's tableau, the default) and Tsit5.

Problems:
* ``gmm8``: an 8-D Gaussian mixture with its exact eps (exact trace), VPLinear; the
  records also give the exact log-density.
* ``fmnist``: dequantized Fashion-MNIST test images, bits/dim with one Rademacher
  probe, under the model of ``--workdir`` (the ``make run`` checkpoint) when there is
  one, else the untrained network of ``--config`` (the record says which).

The methods are timed in ``--repeats`` interleaved rounds (each round runs every method
once, in rotated order), so that a slow spell of a shared machine hits all of them.
Writes DIR/likelihood.json ({"meta", "records"}; each record: problem, method, batch,
rtol, timing_repeats, wall_s (median over rounds), wall_s_rounds, compile_s, nfe,
value, unit, abs_diff_to_scipy, speedup_vs_scipy (median over rounds of the
per-round ratio)) and DIR/likelihood.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import host_info, interleaved_walls, paired_speedup
from diffax.likelihood import bits_per_dim, dequantize
from diffax.likelihood.pf_ode import divergence_fn, make_probes, solve_augmented_ode
from diffax.samplers.base import predictor


def scipy_solver(velocity_div, x: np.ndarray, t0: float, t1: float, rtol: float,
                 atol: float):
    """score_sde's host loop: RK45 over [x.ravel(), delta_logp], one jitted call per
    stage. Returns ``solve()`` (warmed up) giving ``(z, delta, nfe)``."""
    from scipy import integrate

    shape, b = x.shape, x.shape[0]
    f = jax.jit(velocity_div)
    nfe = [0]

    def rhs(t, y):
        nfe[0] += 1
        xs = jnp.asarray(y[:-b].reshape(shape), jnp.float32)
        v, div = f(xs, jnp.asarray(t, jnp.float32))
        return np.concatenate([np.asarray(v, np.float64).ravel(), np.asarray(div, np.float64)])

    jax.block_until_ready(f(jnp.asarray(x, jnp.float32), jnp.asarray(t0, jnp.float32)))  # warm
    y0 = np.concatenate([x.astype(np.float64).ravel(), np.zeros(b)])

    def solve():
        nfe[0] = 0
        sol = integrate.solve_ivp(rhs, (t0, t1), y0, rtol=rtol, atol=atol, method="RK45")
        return sol.y[:-b, -1].reshape(shape), sol.y[-b:, -1], nfe[0]

    return solve


def diffax_solver(velocity_div, x: np.ndarray, t0: float, t1: float, rtol: float,
                  atol: float, solver: str, jump_ts):
    """One jitted diffrax solve of the same ODE. Returns ``(solve, compile_s)``;
    ``solve()`` gives ``(z, delta, nfe)``."""
    @jax.jit
    def run(x):
        return solve_augmented_ode(velocity_div, x, t0, t1, solver=solver, rtol=rtol, atol=atol,
                                   jump_ts=jump_ts)

    xj = jnp.asarray(x, jnp.float32)
    t_start = time.perf_counter()
    jax.block_until_ready(run(xj))
    compile_s = time.perf_counter() - t_start

    def solve():
        z, delta, steps = jax.block_until_ready(run(xj))
        # Tsit5 and Dopri5 are FSAL: 6 new evaluations per step (+1 initial), accepted
        # or not.
        return np.asarray(z), np.asarray(delta), 6 * int(steps) + 1

    return solve, compile_s


def gmm_problem(batch: int):
    from diffax.analytic import GaussianMixture
    from diffax.processes import VPLinear

    d, k = 8, 4
    rng = np.random.default_rng(0)
    a = rng.normal(size=(k, d, d)) * 0.3
    gm = GaussianMixture.create(np.full(k, 1.0 / k), rng.normal(size=(k, d)),
                                a @ np.swapaxes(a, 1, 2) + 0.05 * np.eye(d), dtype=jnp.float32)
    process = VPLinear()
    x = np.asarray(gm.sample(jax.random.PRNGKey(1), batch))
    vel = predictor(gm.model_fn("eps", process), "eps", process, "velocity")
    exact = np.asarray(gm.log_prob(jnp.asarray(x), process.t_min, process))

    def value(z, delta):  # log p in nats per example
        return np.asarray(process.prior_log_prob(jnp.asarray(z))) + delta

    return dict(name="gmm8", process=process, x=x, vdiv=divergence_fn(vel, "exact", None),
                value=value, unit="nats", extra={"exact_log_prob": float(exact.mean()),
                                                 "divergence": "exact", "dim": d})


def fmnist_problem(batch: int, config_path: str, workdir: str | None):
    from diffax import training
    from experiments import runner

    config = runner.load_config(config_path)
    source = "untrained (no checkpoint)"
    if workdir and os.path.isdir(os.path.join(workdir, "checkpoints")):
        exp, graphdef, state = runner.restore(config, workdir)
        source = f"{workdir} step {int(state.step)}"
    else:
        exp = runner.build(config)
        tx, _ = runner._optimizer(config)
        graphdef, state = runner._initial_state(exp, tx)
    params = training.eval_params(state, config.sampling.params)
    apply = training.network_apply(graphdef)
    model_fn = exp.model_fn(lambda x, c, **kw: apply(params, state.buffers, x, c, **kw))
    test = runner.build(config, split="test")
    images = jnp.asarray(test.dataset.x[:batch])
    x = np.asarray(dequantize(jax.random.PRNGKey(0), images, dtype=jnp.float32))
    probes = make_probes(jax.random.PRNGKey(1), x.shape, 1, "rademacher", jnp.float32)
    vel = predictor(model_fn, exp.kind, exp.process, "velocity")
    d = math.prod(x.shape[1:])

    def value(z, delta):  # bits/dim per example
        lp = np.asarray(exp.process.prior_log_prob(jnp.asarray(z, jnp.float32))) + delta
        return np.asarray(bits_per_dim(lp, d))

    return dict(name="fmnist", process=exp.process, x=x, repeats=3,  # ~15 s per solve
                vdiv=divergence_fn(vel, "hutchinson", probes), value=value, unit="bits/dim",
                extra={"model": source, "divergence": "hutchinson (1 Rademacher probe)",
                       "dim": d})


def run_problem(prob: dict, rtol: float, repeats: int) -> list[dict]:
    """Both methods on one problem, timed in interleaved rounds (benchmarks.timing):
    ``wall_s`` is each method's median and ``speedup_vs_scipy`` the median over rounds
    of the per-round ratio."""
    p, x = prob["process"], prob["x"]
    t0, t1 = float(p.t_min), float(p.t_max)
    repeats = prob.get("repeats", repeats)
    fns = {"scipy_rk45_host_loop": scipy_solver(prob["vdiv"], x, t0, t1, rtol, rtol)}
    compile_s = {"scipy_rk45_host_loop": 0.0}
    for solver in ("dopri5", "tsit5"):
        fns[f"diffax_{solver}"], compile_s[f"diffax_{solver}"] = diffax_solver(
            prob["vdiv"], x, t0, t1, rtol, rtol, solver, p.kink_times())
    results, walls = interleaved_walls(fns, repeats)
    base_walls = walls["scipy_rk45_host_loop"]
    ref = prob["value"](*results["scipy_rk45_host_loop"][:2])
    base = {"problem": prob["name"], "batch": int(x.shape[0]), "rtol": rtol, "atol": rtol,
            "timing_repeats": repeats, "unit": prob["unit"], **prob["extra"]}
    records = []
    for method, (z, delta, nfe) in results.items():
        v = prob["value"](z, delta)
        records.append({**base, "method": method, "wall_s": float(np.median(walls[method])),
                        "wall_s_rounds": walls[method], "compile_s": compile_s[method],
                        "nfe": nfe, "value": float(v.mean()),
                        "abs_diff_to_scipy": float(np.max(np.abs(v - ref))),
                        "speedup_vs_scipy": paired_speedup(base_walls, walls[method])})
    return records


def report(records: list[dict]) -> None:
    for r in records:
        print(f"{r['problem']:7s} b{r['batch']:<4d} {r['method']:22s} {r['wall_s']:9.3f} s  "
              f"nfe {r['nfe']:5d}  {r['unit']} {r['value']:.4f}  "
              f"|diff| {r['abs_diff_to_scipy']:.2e}  speed-up {r['speedup_vs_scipy']:.1f}x",
              flush=True)


def plot(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({(r["problem"], r["batch"]) for r in records})
    fig, axes = plt.subplots(1, len(problems), figsize=(max(5 * len(problems), 7), 3.9))
    for ax, (prob, batch) in zip(np.atleast_1d(axes), problems):
        rs = [r for r in records if r["problem"] == prob and r["batch"] == batch]
        ax.bar([r["method"].replace("_", "\n", 1) for r in rs], [r["wall_s"] for r in rs],
               color=["tab:gray", "tab:blue", "tab:green"][: len(rs)])
        for i, r in enumerate(rs):
            ax.text(i, r["wall_s"], f"{r['wall_s']:.3g} s\n{r['speedup_vs_scipy']:.1f}x",
                    ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        top = max(r["wall_s"] for r in rs)
        ax.set_ylim(min(r["wall_s"] for r in rs) / 2, top * 3)
        ax.set_ylabel("wall time (s, log)")
        ax.set_title(f"{prob}, batch {batch}: {rs[0]['value']:.3f} {rs[0]['unit']}")
    fig.suptitle("PF-ODE likelihood: one jitted diffrax solve vs scipy RK45 host loop\n"
                 "(same ODE, data, probe, tolerance; speed-up = median per-round ratio)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default="runs/default")
    ap.add_argument("--config", default="configs/image/fashion_mnist_edm.py")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--gmm-batches", default="8,256",
                    help="comma-separated batch sizes for gmm8 (host overhead vs compute)")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--problems", default="gmm8,fmnist")
    ap.add_argument("--repeats", type=int, default=7,
                    help="interleaved timing rounds per problem (the U-Net problem: 3)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    records = []
    for name in args.problems.split(","):
        if name == "gmm8":
            probs = [gmm_problem(int(b)) for b in args.gmm_batches.split(",")]
        elif name == "fmnist":
            probs = [fmnist_problem(args.batch, args.config, args.workdir)]
        else:
            raise ValueError(f"--problems: unknown {name!r}; valid choices: ['fmnist', 'gmm8'].")
        for prob in probs:
            records += run_problem(prob, args.rtol, args.repeats)
            report(records[-3:])
    dev = jax.devices()[0]
    meta = {"device": dev.device_kind, "platform": dev.platform, "jax": jax.__version__,
            **host_info()}
    with open(os.path.join(args.out, "likelihood.json"), "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    plot(records, os.path.join(args.out, "likelihood.png"))


if __name__ == "__main__":
    main()
