"""Sampler benchmark: accuracy against the exact PF-ODE and per-step overhead.

    python -m benchmarks.samplers --out DIR [--nfes 5,10,20,50] [--samplers "s_pndm,unipc*"]
        [--quick] [--resume]

Writes ``DIR/samplers.json`` (one record per problem, sampler and NFE) and
``DIR/samplers.png`` (error against NFE), and prints a table. Records are written as
they finish and the exact reference is cached in DIR, so ``--resume`` continues a
killed run with the same settings.

Accuracy (float64). Problems: a 2-D and a 64-D Gaussian mixture with the exact
eps-model under the discrete DDPM schedule (betas = linspace(1e-4, 0.02, 1000),
continuous-time with piecewise-linear log-alpha). All samplers start from the same
seeded prior noise; ``rmse_to_exact`` is the RMS distance per dimension to the exact
PF-ODE endpoint from that noise (adaptive Dopri8, rtol=atol=1e-10), with
``median_err_to_exact`` (median over samples of the per-sample RMS error) and
``mode_flip_rate`` (share of samples that end in another mixture component than their
exact endpoint: a few such trajectories dominate the RMSE in 64-D). Stochastic
samplers have no such target: their record has ``rmse_to_exact = null`` and
``sw2_to_data``, the sliced Wasserstein-2 distance to exact data samples (reported
for every sampler).

Overhead (float32). ``overhead_ratio = wall(sampler) / (NFE * wall(one jitted
evaluation of a small MLP denoiser))`` on a batch of 4096; 1.0 is the physical limit
of a sampler that does nothing but call the network. ``scan_ratio`` divides instead by
the wall time of a bare ``lax.scan`` of NFE network calls (same dispatch, no sampler
arithmetic), isolating the sampler's own cost. Timing runs on the problems named by
``--timing-dims`` (default both; the MLP is sized to the data, so the 64-D network is
the costlier one), with the median of 3 runs after a warm-up call.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import functools
import json
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.timing import host_info, median_wall  # noqa: E402
from diffax.analytic import GaussianMixture  # noqa: E402
from diffax.metrics import sliced_wasserstein  # noqa: E402
from diffax.processes import DiscreteDDPM  # noqa: E402
from diffax.samplers import SAMPLERS, pf_ode_reference, sampler_info, schedules  # noqa: E402

EXCLUDE_PREFIXES = ("dpm_solver_adaptive",)  # adaptive NFE is not a budget


def make_problem(dim: int, seed: int = 0) -> GaussianMixture:
    rng = np.random.default_rng(seed)
    k = 4
    means = rng.normal(size=(k, dim)) * 1.2
    covs = []
    for _ in range(k):
        a = rng.normal(size=(dim, dim)) / np.sqrt(dim)
        covs.append(0.25 * a @ a.T + 0.05 * np.eye(dim))
    return GaussianMixture.create(rng.dirichlet(np.full(k, 3.0)), means, np.stack(covs))


def mlp_init(key, dim: int, width: int = 256, depth: int = 3, dtype=jnp.float32):
    sizes = [dim + 16] + [width] * depth + [dim]
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (m, n), dtype) / np.sqrt(m), jnp.zeros((n,), dtype))
            for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(params, x, t):
    freqs = jnp.exp(jnp.linspace(0.0, 6.0, 8, dtype=x.dtype))
    emb = jnp.concatenate([jnp.sin(t[:, None] * freqs), jnp.cos(t[:, None] * freqs)], -1)
    h = jnp.concatenate([x, emb], -1)
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


@contextlib.contextmanager
def _float32():
    """Time in float32 (what users run): x64 off inside, restored after."""
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", True)


def _time(fn, *args, repeats: int = 3) -> float:
    """Median wall time of ``fn(*args)`` after one warm-up (compiling) call."""
    jax.block_until_ready(fn(*args))
    return median_wall(lambda: jax.block_until_ready(fn(*args)), repeats)[1]


def sampler_names(patterns: list[str] | None = None) -> list[str]:
    """The benchmarked samplers (all but EXCLUDE_PREFIXES), or those matching any of the
    shell-style ``patterns`` (``"unipc*"``, ``"s_pndm"``); a pattern that matches none
    is an error naming the valid names."""
    names = [n for n in sorted(SAMPLERS) if not n.startswith(EXCLUDE_PREFIXES)]
    if not patterns:
        return names
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise ValueError(f"--samplers: {pat!r} matches no benchmarked sampler; valid "
                             f"names: {names}.")
    return [n for n in names if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]


def run(out_dir: str, nfes: list[int], dims: list[int], batch: int, timing_batch: int,
        seed: int, schedule: str, timing_dims: tuple[int, ...] = (2, 64),
        ref_rtol: float = 1e-10, resume: bool = False,
        samplers: list[str] | None = None) -> list[dict]:
    names = sampler_names(samplers)  # fails early on a pattern that matches nothing
    os.makedirs(out_dir, exist_ok=True)
    process = DiscreteDDPM.linear(1000, 1e-4, 0.02)
    meta = {"device": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
            "jax": jax.__version__, "process": "DiscreteDDPM.linear(1000, 1e-4, 0.02)",
            "batch_accuracy": batch, "batch_timing": timing_batch, "seed": seed,
            "schedule": schedule, "timing_dims": list(timing_dims),
            "reference": f"diffrax Dopri8, rtol=atol={ref_rtol:g}, float64", "reference_wall_s": {},
            **host_info()}
    records = _resumable_records(out_dir, meta) if resume else []
    done = {(r["problem"], r["sampler"], r["steps"]) for r in records}
    for dim in dims:
        gmm = make_problem(dim, seed)
        model = gmm.model_fn("eps", process)
        k_noise, k_data, k_sw, k_mlp, k_run = jax.random.split(jax.random.PRNGKey(seed), 5)
        x_T = process.prior_sample(k_noise, (batch, dim), jnp.float64)
        t_ref = time.perf_counter()
        cache = os.path.join(out_dir, f"reference_gmm{dim}d_b{batch}_s{seed}_r{ref_rtol:g}.npy")
        if os.path.exists(cache):  # the exact solve is the slow part: computed once per setup
            exact = jnp.asarray(np.load(cache))
        else:
            exact = jax.jit(lambda x: pf_ode_reference(model, process, x, process.t_max,
                                                       process.t_min, solver="dopri8",
                                                       rtol=ref_rtol, atol=ref_rtol).x)(x_T)
            np.save(cache, np.asarray(jax.block_until_ready(exact)))
        # a cached reference keeps the wall time of the run that computed it
        meta["reference_wall_s"].setdefault(f"gmm{dim}d", time.perf_counter() - t_ref)
        print(f"gmm{dim}d reference: {meta['reference_wall_s'][f'gmm{dim}d']:.1f} s", flush=True)
        data = gmm.sample(k_data, batch)
        exact_comp = jnp.argmax(gmm.responsibilities(exact), -1)  # once per problem

        with _float32():
            params = mlp_init(k_mlp, dim)
            mlp = lambda x, t: mlp_apply(params, x, t)  # noqa: E731
            x_tim = jax.random.normal(jax.random.PRNGKey(seed), (timing_batch, dim), jnp.float32)
            t_tim = jnp.full((timing_batch,), 0.5, jnp.float32)
            mlp_jit = jax.jit(mlp)

        for name in names:
            info = sampler_info(name)
            for nfe_budget in nfes:
                steps = info.steps_for_nfe(nfe_budget)
                if info.nfe(steps) > nfe_budget or steps < 1:
                    continue
                ts = schedules.get_schedule(schedule, process, steps)
                if (f"gmm{dim}d", name, steps) in done:
                    continue
                rec = {"problem": f"gmm{dim}d", "sampler": name, "nfe": None,
                       "nfe_budget": nfe_budget, "steps": steps, "schedule": schedule}
                try:
                    run_fn = jax.jit(lambda x, ts, key, m: info(m, process, x, ts,
                                                                prediction="eps", key=key),
                                     static_argnums=3)
                    out = run_fn(x_T, ts, k_run, model)
                    rec["nfe"] = out.nfe
                    if info.stochastic:
                        rec["rmse_to_exact"] = None
                    else:
                        rec.update(_endpoint_errors(gmm, out.x, exact, exact_comp))
                    rec["sw2_to_data"] = float(sliced_wasserstein(k_sw, out.x, data))
                    if dim not in timing_dims:
                        records.append(rec)
                        print(_row(rec), flush=True)
                        _write(out_dir, meta, records)
                        continue
                    with _float32():
                        ts32 = jnp.asarray(np.asarray(ts), jnp.float32)
                        key32 = jax.random.PRNGKey(seed + 1)
                        # Baselines are re-measured next to every sampler so that a change
                        # in machine load cannot skew the ratios.
                        eval_wall = _time(mlp_jit, x_tim, t_tim, repeats=10)
                        scan_wall = _time(_bare_scan, mlp, x_tim, ts32, out.nfe)
                        wall = _time(run_fn, x_tim, ts32, key32, mlp)
                    rec["wall_s"] = wall
                    rec["overhead_ratio"] = wall / (out.nfe * eval_wall)
                    rec["scan_ratio"] = wall / scan_wall
                except Exception as e:  # record, never hide, a failing sampler
                    rec["error"] = f"{type(e).__name__}: {e}"[:300]
                records.append(rec)
                print(_row(rec), flush=True)
                _write(out_dir, meta, records)  # incremental: a killed run keeps its rows
    _write(out_dir, meta, records)
    _plot(os.path.join(out_dir, "samplers.png"), records, dims)
    return records


def _endpoint_errors(gmm: GaussianMixture, x: jax.Array, exact: jax.Array,
                     exact_comp: jax.Array) -> dict:
    """RMSE per dimension to the exact endpoints, plus what lies behind it: the median
    over samples of the per-sample RMS error, and the share of samples whose most
    likely mixture component differs from their exact endpoint's ("mode flips": one
    flipped trajectory in 1000 adds about 0.04 to a 64-D RMSE on its own).
    ``exact_comp`` is the most likely component of each exact endpoint."""
    per_sample = jnp.sqrt(jnp.mean((x - exact) ** 2, axis=-1))
    flips = jnp.argmax(gmm.responsibilities(x), -1) != exact_comp
    return {"rmse_to_exact": float(jnp.sqrt(jnp.mean(per_sample ** 2))),
            "median_err_to_exact": float(jnp.median(per_sample)),
            "mode_flip_rate": float(jnp.mean(flips))}


def _resumable_records(out_dir: str, meta: dict) -> list[dict]:
    """The records of an earlier run into ``out_dir`` with the same settings (a run that
    was killed part-way); an earlier run with other settings is an error."""
    path = os.path.join(out_dir, "samplers.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        old = json.load(f)
    keys = ("process", "batch_accuracy", "batch_timing", "seed", "schedule", "timing_dims",
            "reference")
    diff = {k: (old["meta"].get(k), meta[k]) for k in keys if old["meta"].get(k) != meta[k]}
    if diff:
        raise ValueError(f"--resume: {path} was written with other settings "
                         f"(old, new): {diff}; use another --out.")
    meta["reference_wall_s"].update(old["meta"].get("reference_wall_s", {}))
    print(f"resuming: {len(old['records'])} records from {path}", flush=True)
    return list(old["records"])


def _write(out_dir: str, meta: dict, records: list[dict]) -> None:
    with open(os.path.join(out_dir, "samplers.json"), "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _bare_scan(model, x, ts, nfe):
    """NFE network calls in a lax.scan and nothing else: the sampler's lower bound."""
    def body(x, i):
        return x - 1e-3 * model(x, jnp.full((x.shape[0],), ts[0], x.dtype)), None
    return jax.lax.scan(body, x, jnp.arange(nfe))[0]


def _row(r: dict) -> str:
    if "error" in r:
        return f"{r['problem']:>8} {r['sampler']:<26} budget steps={r['steps']:<3} ERROR {r['error']}"
    rm = ("   -                     " if r["rmse_to_exact"] is None else
          f"{r['rmse_to_exact']:.2e} med={r['median_err_to_exact']:.2e} "
          f"flip={r['mode_flip_rate']:.3f}")
    if "wall_s" not in r:
        return f"{r['problem']:>8} {r['sampler']:<26} nfe={r['nfe']:<3} rmse={rm}  sw2={r['sw2_to_data']:.3f}"
    return (f"{r['problem']:>8} {r['sampler']:<26} nfe={r['nfe']:<3} rmse={rm}  "
            f"sw2={r['sw2_to_data']:.3f}  wall={r['wall_s'] * 1e3:7.2f}ms  "
            f"overhead={r['overhead_ratio']:.3f}  scan_ratio={r['scan_ratio']:.3f}")


def _plot(path, records, dims):
    """Top row: RMSE to the exact endpoints against NFE; bottom row: the median
    per-sample error, which mode flips (see ``_endpoint_errors``) do not dominate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("rmse_to_exact", "RMSE to exact PF-ODE endpoint"),
               ("median_err_to_exact", "median per-sample error")]
    fig, axes = plt.subplots(len(metrics), len(dims), figsize=(7 * len(dims) + 2.5, 11),
                             squeeze=False)
    for row, (key, label) in enumerate(metrics):
        for ax, dim in zip(axes[row], dims):
            rs = [r for r in records if r["problem"] == f"gmm{dim}d" and r.get(key)]
            for i, name in enumerate(sorted({r["sampler"] for r in rs})):
                pts = sorted((r["nfe"], r[key]) for r in rs if r["sampler"] == name)
                ax.loglog(*zip(*pts), marker="o", ms=3, label=name,  # 10 colours x 4 styles
                          linestyle=("-", "--", ":", "-.")[(i // 10) % 4])
            ax.set_xlabel("NFE")
            ax.set_ylabel(label)
            ax.set_title(f"{dim}-D Gaussian mixture, discrete DDPM schedule")
            ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center right")
    fig.tight_layout(rect=(0, 0, 1 - 2.3 / (7 * len(dims) + 2.5), 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description="diffax sampler benchmark")
    p.add_argument("--out", required=True)
    p.add_argument("--nfes", default="5,10,20,50")
    p.add_argument("--dims", default="2,64")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--timing-batch", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing-dims", default="2,64",
                   help="problems on which wall time and overhead are measured")
    p.add_argument("--schedule", default="uniform_log_snr",
                   choices=["uniform_log_snr", "uniform_time", "quadratic_time", "karras"])
    p.add_argument("--ref-rtol", type=float, default=1e-10,
                   help="rtol = atol of the exact Dopri8 reference solve")
    p.add_argument("--quick", action="store_true", help="2-D only, NFE 10 (smoke run)")
    p.add_argument("--samplers", default="",
                   help="comma-separated names or shell patterns (e.g. 's_pndm,unipc*'); "
                        "default: every registered sampler")
    p.add_argument("--resume", action="store_true",
                   help="keep the records of a killed run in --out and do only the rest")
    a = p.parse_args()
    nfes = [10] if a.quick else [int(v) for v in a.nfes.split(",")]
    dims = [2] if a.quick else [int(v) for v in a.dims.split(",")]
    run(a.out, nfes, dims, a.batch, a.timing_batch, a.seed, a.schedule,
        tuple(int(v) for v in a.timing_dims.split(",")), a.ref_rtol, resume=a.resume,
        samplers=[v for v in a.samplers.split(",") if v])
    print(f"wrote {a.out}/samplers.json and {a.out}/samplers.png")


if __name__ == "__main__":
    main()
