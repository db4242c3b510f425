"""Time-series imputation and forecasting quality against simple baselines, and the cost
of drawing imputations as windows grow longer and wider.

    python -m benchmarks.timeseries --out DIR [--steps 1500] [--draws 32]
        [--configs co2_imputation,basic_motions_imputation,co2_forecasting]
        [--rates 0.1,0.5,0.9] [--speed-draws 100] [--set task.scaling=standardize ...]

Quality: each config of ``configs/timeseries/`` is trained once (``--steps``) through the
runner and evaluated (``eval.draws`` imputations per held-out window, the config's
sampler) at every missing rate of CSDI's protocol (imputation; forecasting has one
horizon). One record per (config, missing rate, metric) holds diffax's value and every
baseline's on the same hidden values: CRPS (CSDI's 19 quantiles), MAE and RMSE of the
median, in data units.

Speed: a CSDI denoiser at its paper size (64 channels, 4 layers) with random weights
imputes a batch of 8 windows ``--speed-draws`` times each (CSDI draws 100) with
DPM-Solver++(2M) at NFE 20; imputations per second as the length L (K = 8) and the
channel count K (L = 48) grow. Timed after compilation, median of 3.

Writes DIR/timeseries.json, DIR/timeseries_quality.png, DIR/timeseries_speed.png and
prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.config_overrides import apply_overrides
from benchmarks.timing import median_wall

QUALITY_METRICS = ("crps", "mae", "rmse")


def quality(configs: list[str], rates: list[float], steps: int, draws: int,
            out: str, save=lambda records: None, overrides: tuple[str, ...] = ()
            ) -> list[dict]:
    """Train and score each config (a run that was stopped resumes from its checkpoints
    in ``out/<config>``); ``save(records)`` is called after each config. ``overrides``
    (``key=value``) change every config before training and are kept in the records."""
    from experiments import runner

    records = []
    for name in configs:
        config = apply_overrides(runner.load_config(f"configs/timeseries/{name}.py"),
                                 overrides)
        config.training.n_steps = steps
        config.training.progress = False
        config.eval.draws = draws
        held_out = runner.build(config, split=config.eval.split).dataset.num_examples
        config.eval.num_batches = -(-held_out // config.data.batch_size)  # the whole split
        config.eval.samplers = (config.sampling.sampler,)
        config.eval.nfes = (config.sampling.nfe,)
        workdir = os.path.join(out, name)
        t0 = time.perf_counter()
        runner.train(config, workdir)
        train_s = time.perf_counter() - t0
        forecasting = config.task.name == "ts_forecasting"
        for rate in ([None] if forecasting else rates):
            if rate is not None:
                config.task.missing_rate = rate
            (entry,) = runner.evaluate(config, workdir)["samples"]
            common = {"config": name, "dataset": config.data.name, "task": config.task.name,
                      "missing_rate": rate, "horizon": config.task.get("horizon"),
                      "windows": entry["num_examples"], "targets": entry["num_targets"],
                      "draws": draws, "sampler": entry["sampler"], "nfe": entry["nfe"],
                      "train_steps": steps, "train_s": train_s,
                      "imputations_per_s": entry["imputations_per_s"],
                      "overrides": list(overrides), "split": config.eval.split}
            for metric in QUALITY_METRICS:
                records.append({**common, "metric": metric, "diffax": entry[metric],
                                "baselines": {k[len("baseline_"):]: v[metric]
                                              for k, v in entry.items()
                                              if k.startswith("baseline_")}})
        save(records)
    return records


def speed(draws: int, lengths=(24, 48, 96, 192), channels=(1, 4, 16, 35)) -> list[dict]:
    from diffax import nn
    from diffax.parameterization import make_model_fn
    from diffax.processes import get_process
    from diffax.samplers import get_sampler, schedules
    from flax import nnx

    process = get_process("edm")
    solve = get_sampler("dpm_solver++_2m")
    timesteps = schedules.get_schedule("karras", process, 20)
    records = []
    for length, k in [(n, 8) for n in lengths] + [(48, c) for c in channels]:
        net = nn.get_network("csdi", num_features=k, rngs=nnx.Rngs(0))
        graphdef, state = nnx.split(net)
        rows = 8 * draws
        key = jax.random.PRNGKey(0)
        mask = (jax.random.uniform(key, (rows, length, k)) < 0.5).astype(jnp.float32)
        values = jax.random.normal(key, (rows, length, k)) * mask

        @jax.jit
        def impute(state, key):
            net = nnx.merge(graphdef, state)
            model_fn = make_model_fn(lambda x, c, **kw: net(x, c, **kw), process, "edm",
                                     time_input="c_noise", sigma_data=0.5)[0]
            x = process.prior_sample(key, (rows, length, k))
            return solve(model_fn, process, x, timesteps, prediction="x0",
                         cond={"cond_mask": mask, "cond_values": values}).x

        jax.block_until_ready(impute(state, key))
        _, wall = median_wall(lambda: jax.block_until_ready(impute(state, key)), 3)
        records.append({"length": length, "channels": k, "windows": 8, "draws": draws,
                        "nfe": 20, "wall_s": wall, "imputations_per_s": rows / wall,
                        "params": nn.count_params(net)})
        print(f"  L={length:4d} K={k:3d}: {rows / wall:8.1f} imputations/s", flush=True)
    return records


def plot(records: list[dict], speeds: list[dict], out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    crps = [r for r in records if r["metric"] == "crps"]
    if not crps:
        return plot_speed(speeds, out)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(crps)), 3.5))
    names = [f"{r['config']}\n{'h=%s' % r['horizon'] if r['missing_rate'] is None else r['missing_rate']}"
             for r in crps]
    methods = ["diffax"] + sorted({b for r in crps for b in r["baselines"]})
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        values = [r["diffax"] if m == "diffax" else r["baselines"].get(m, np.nan) for r in crps]
        ax.bar(np.arange(len(crps)) + j * width, values, width, label=m)
    ax.set_xticks(np.arange(len(crps)) + 0.4 - width / 2, names, fontsize=7)
    ax.set_ylabel("CRPS (CSDI, lower is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "timeseries_quality.png"), dpi=100)
    plt.close(fig)
    plot_speed(speeds, out)


def plot_speed(speeds: list[dict], out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if speeds:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        by_l = [r for r in speeds if r["channels"] == 8]
        by_k = [r for r in speeds if r["length"] == 48 and r not in by_l]
        for ax, rs, key in ((axes[0], by_l, "length"), (axes[1], by_k, "channels")):
            ax.loglog([r[key] for r in rs], [r["wall_s"] for r in rs], "o-")
            ax.set_xlabel(key)
            ax.set_ylabel("wall s, 8 windows x draws")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "timeseries_speed.png"), dpi=100)
        plt.close(fig)


def table(records: list[dict]) -> str:
    lines = ["| config | missing / horizon | metric | diffax | baselines |",
             "| --- | --- | --- | --- | --- |"]
    for r in records:
        rate = f"h={r['horizon']}" if r["missing_rate"] is None else f"{r['missing_rate']:.0%}"
        base = ", ".join(f"{k} {v:.4g}" for k, v in sorted(r["baselines"].items()))
        lines.append(f"| {r['config']} | {rate} | {r['metric']} | {r['diffax']:.4g} | {base} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--configs", default="co2_imputation,basic_motions_imputation,co2_forecasting")
    p.add_argument("--rates", default="0.1,0.5,0.9")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--draws", type=int, default=32)
    p.add_argument("--speed-draws", type=int, default=100)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every config, e.g. task.scaling=standardize or "
                        "eval.split=train (repeatable; it changes training too, so give a "
                        "fresh --out)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    def save(records, speeds=()):
        payload = {"device": str(jax.devices()[0]), "jax": jax.__version__,
                   "quality": records, "speed": list(speeds)}
        with open(os.path.join(args.out, "timeseries.json"), "w") as f:
            json.dump(payload, f, indent=1)

    configs = [c for c in args.configs.split(",") if c]  # --configs '': speed only
    records = quality(configs, [float(r) for r in args.rates.split(",")],
                      args.steps, args.draws, args.out, save, tuple(args.set))
    if records:
        print(table(records))
    speeds = [] if args.skip_speed else speed(args.speed_draws)
    save(records, speeds)
    plot(records, speeds, args.out)
    print(f"wrote {os.path.join(args.out, 'timeseries.json')}")


if __name__ == "__main__":
    main()
