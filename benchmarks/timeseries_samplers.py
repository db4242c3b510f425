"""Which sampler imputes best: one trained time-series model, every chosen sampler of the
registry at each NFE budget, scored on the same held-out windows and hidden values.

    python -m benchmarks.timeseries_samplers --out DIR [--config basic_motions_imputation]
        [--steps 1500] [--draws 16] [--nfes 10,20] [--samplers euler,ddim,...] [--windows N]
        [--set task.scaling=mean ...]

The config is trained once (``--steps``; a stopped run resumes from ``DIR/<config>``,
and a finished one is reused), then evaluated through the runner (``runner.evaluate``,
the task's CSDI protocol at ``task.missing_rate``) once per (sampler, NFE): CRPS over
CSDI's 19 quantiles, MAE and RMSE of the median draw, in data units, plus the imputations
per second of that sampling call. Every run uses the same evaluation key, so the hidden
values are the same across samplers; the draws differ only through the sampler.
Adaptive samplers run once and report the NFE they spent.

Writes DIR/timeseries_samplers.json, DIR/timeseries_samplers.png (CRPS against NFE per
sampler) and prints the table, best CRPS first.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

from benchmarks.config_overrides import apply_overrides

# one member per family: first-order ODE (euler, ddim), higher-order single/multistep ODE
# solvers, predictor-corrector, and the stochastic samplers (ancestral, reverse SDE, EDM's
# churn, SDE-DPM-Solver++), plus an adaptive one
DEFAULT_SAMPLERS = ("euler", "ddim", "edm_heun", "dpm_solver++_2m", "dpm_solver++_3m",
                    "dpm_solver++_2s", "deis_tab_3", "ipndm", "unipc_bh2_2", "ddim_eta1",
                    "ancestral", "euler_maruyama", "edm_heun_stochastic",
                    "sde_dpm_solver++_2m", "dpm_solver_adaptive_12")
METRICS = ("crps", "mae", "rmse")


def sweep(config_name: str, samplers: list[str], nfes: list[int], steps: int, draws: int,
          out: str, overrides: list[str], save=lambda records: None,
          windows: int = 0) -> list[dict]:
    """Train (or reuse) ``config_name`` in ``out/<config_name>``, then one record per
    (sampler, NFE) with the task's metrics on the first ``windows`` held-out windows (0:
    all, rounded up to whole batches); ``save(records)`` after each sampler."""
    from experiments import runner

    config = runner.load_config(f"configs/timeseries/{config_name}.py")
    config.training.n_steps = steps
    config.training.progress = False
    config.eval.draws = draws
    apply_overrides(config, overrides)
    if not config.task.get("missing_rate"):
        raise ValueError(f"config {config_name!r} is a {config.task.name!r} task; the sweep "
                         f"scores imputation (a config with task.missing_rate).")
    held_out = runner.build(config, split=config.eval.split).dataset.num_examples
    if windows:
        held_out = min(held_out, windows)
    config.eval.num_batches = -(-held_out // config.data.batch_size)  # the (first) windows
    workdir = os.path.join(out, config_name)
    t0 = time.perf_counter()
    runner.train(config, workdir)
    train_s = time.perf_counter() - t0
    records = []
    for sampler in samplers:
        config.eval.samplers = (sampler,)
        config.eval.nfes = tuple(nfes)
        for entry in runner.evaluate(config, workdir)["samples"]:
            records.append({
                "config": config_name, "dataset": config.data.name,
                "missing_rate": float(config.task.missing_rate),
                "scaling": config.task.get("scaling"), "sampler": entry["sampler"],
                "nfe": entry["nfe"], "adaptive": bool(entry.get("adaptive", False)),
                "draws": draws, "windows": entry["num_examples"],
                "targets": entry["num_targets"], "train_steps": steps, "train_s": train_s,
                "imputations_per_s": entry["imputations_per_s"],
                **{m: entry[m] for m in METRICS},
                "baselines": {k[len("baseline_"):]: {m: v[m] for m in METRICS}
                              for k, v in entry.items() if k.startswith("baseline_")}})
            print(f"  {entry['sampler']:24s} NFE {entry['nfe']:3d}: CRPS {entry['crps']:.4g}"
                  f"  MAE {entry['mae']:.4g}", flush=True)
        save(records)
    return records


def table(records: list[dict]) -> str:
    lines = ["| sampler | NFE | CRPS | MAE | RMSE | imputations/s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in sorted(records, key=lambda r: r["crps"]):
        lines.append(f"| {r['sampler']} | {r['nfe']}{' (adaptive)' if r['adaptive'] else ''} "
                     f"| {r['crps']:.4g} | {r['mae']:.4g} | {r['rmse']:.4g} "
                     f"| {r['imputations_per_s']:.3g} |")
    if records:
        base = records[0]["baselines"]
        lines += [f"| baseline {k} | - | {v['crps']:.4g} | {v['mae']:.4g} | {v['rmse']:.4g} | - |"
                  for k, v in sorted(base.items())]
    return "\n".join(lines)


def plot(records: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diffax.samplers import sampler_info

    fig, ax = plt.subplots(figsize=(7, 4))
    for sampler in dict.fromkeys(r["sampler"] for r in records):
        rs = sorted((r for r in records if r["sampler"] == sampler), key=lambda r: r["nfe"])
        stochastic = sampler_info(sampler).stochastic
        style = "s" if rs[0]["adaptive"] else ("o--" if stochastic else "o-")
        ax.plot([r["nfe"] for r in rs], [r["crps"] for r in rs], style, label=sampler, ms=4)
    if records:
        lin = records[0]["baselines"].get("linear_interpolation")
        if lin:
            ax.axhline(lin["crps"], color="k", lw=0.8, ls=":", label="linear interpolation")
    ax.set_xscale("log")
    ax.set_xlabel("NFE")
    ax.set_ylabel("CRPS (lower is better)")
    r0 = records[0] if records else {}
    ax.set_title(f"{r0.get('dataset', '')}, {r0.get('missing_rate', 0):.0%} missing, "
                 f"{r0.get('draws', '')} draws (dashed: stochastic)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="basic_motions_imputation")
    p.add_argument("--samplers", default=",".join(DEFAULT_SAMPLERS))
    p.add_argument("--nfes", default="10,20")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--draws", type=int, default=16)
    p.add_argument("--windows", type=int, default=0,
                   help="score the first N held-out windows (0: all)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="config override key=value (repeatable), e.g. task.scaling=mean")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "timeseries_samplers.json")

    def save(records):
        with open(path, "w") as f:
            json.dump({"device": str(jax.devices()[0]), "jax": jax.__version__,
                       "overrides": args.overrides, "records": records}, f, indent=1)

    records = sweep(args.config, args.samplers.split(","),
                    [int(n) for n in args.nfes.split(",")], args.steps, args.draws,
                    args.out, args.overrides, save, args.windows)
    print(table(records))
    plot(records, os.path.join(args.out, "timeseries_samplers.png"))
    best = min(records, key=lambda r: r["crps"])
    print(f"best CRPS: {best['sampler']} at NFE {best['nfe']} ({best['crps']:.4g}); "
          f"wrote {path}")


if __name__ == "__main__":
    main()
