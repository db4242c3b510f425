"""Stable neural SDEs (LSDE, LNSDE, GSDE) on irregularly subsampled real series.

    python -m benchmarks.neural_sde --out DIR [--tasks classification,interpolation,forecasting]
        [--classes lsde,lnsde,gsde] [--rates 0.3,0.5,0.7] [--train-steps 150] [--hidden 16]
        [--width 32] [--sde-steps 16] [--batch 32] [--cls-dataset ts:italy_power_demand]
        [--series-dataset ts:italy_power_demand] [--horizon 6] [--forecast-rates 0.0]
    python -m benchmarks.neural_sde --out DIR --runner-check --classes lnsde --rates 0.5 \
        [--seeds 0,1,2,3] [--tasks classification,interpolation]

Protocols (Oh, Lim & Kim, ICLR 2024, after Kidger et al. 2020):

* classification: in every train and test series, ``floor(rate * L)`` time steps are
  dropped at random, independently per channel (the same masks for every class); the
  model reads the final latent state; metric: test accuracy (the UCR/UEA split).
* interpolation: the same dropping on the series set; the model reconstructs the
  dropped values ("sequence" readout; fresh masks at every training step, fixed masks
  for the test split); metric: MSE on the dropped observed values (normalised units).
* forecasting: the model sees the first ``L - horizon`` steps (after dropping
  ``forecast-rate`` of them) and predicts the last ``horizon``; metric: MSE there.

Baselines on the same masks: majority class (classification); the linear interpolation
through the kept values, which is the controlled path's own value channel
(interpolation); the last kept value and the zero forecast (the training mean;
forecasting).

Writes DIR/neural_sde.json ({"meta", "records"}; a record: task, dataset, method
(class or baseline), missing_rate, metric, value, wall_s: training plus evaluation,
includes_compile: whether wall_s includes the jit compilation (the first run of each
class and readout; later runs reuse it), train_steps) and DIR/neural_sde.png. With
``--runner-check`` it instead runs the same protocol through ``experiments.main``'s runner
(task ``ts_neural_sde``, configs/timeseries/neural_sde_italy_power_demand*.py) and this
script for every seed and writes DIR/neural_sde_runner_check.json. Small defaults run in a few minutes on a CPU;
raise --train-steps/--hidden/--sde-steps for larger runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks.timing import host_info
from diffax.data import get_dataset
from diffax.neural_sde import (StableNeuralSDE, classification_loss, drop_observations,
                               fill_missing, fit, forecast_mask, predict, reconstruction_loss)


def _split(name: str, split: str) -> dict:
    ds = get_dataset(name, split)
    return ds.get(np.arange(ds.num_examples))


def _drop(mask: np.ndarray, rate: float, seed: int) -> np.ndarray:
    if rate == 0.0:
        return mask
    return np.asarray(drop_observations(jnp.asarray(mask), rate, jax.random.key(seed)))


_COMPILED: set = set()


def _first(kind: str, readout: str) -> bool:
    """True the first time a (class, readout) structure is trained (jit compilation)."""
    new = (kind, readout) not in _COMPILED
    _COMPILED.add((kind, readout))
    return new


def _model(kind, in_ch, out, args, readout):
    return StableNeuralSDE(kind, in_ch, out, hidden=args.hidden, width=args.width,
                           steps=args.sde_steps, readout=readout,
                           rngs=nnx.Rngs(args.seed))


def _minibatch(data: dict, size: int, seed: int) -> dict:
    n = len(data["x"])
    idx = np.random.default_rng(seed).choice(n, min(size, n), replace=False)
    return {k: v[idx] for k, v in data.items()}


def _masked_mse(pred, target, mask) -> float:
    return float(np.sum(mask * (pred - target) ** 2) / max(mask.sum(), 1.0))


def _fit_and_record(args, records: list, row: dict, kind: str, readout: str,
                    channels: tuple[int, int], loss, batch_fn, test: dict, metric_fn,
                    shown: str) -> None:
    """Train a ``kind`` model with ``readout`` (``channels`` = (in, out)) on
    ``batch_fn``'s minibatches, predict on ``test``, and append a record: ``row``
    (task, dataset, missing_rate, metric) with the method, ``metric_fn(prediction)``,
    the mean of the last 10 losses, the wall time and whether it included compiling;
    print it with the value formatted by ``shown``."""
    start = time.perf_counter()
    model = _model(kind, *channels, args, readout)
    losses = fit(model, loss, batch_fn, steps=args.train_steps,
                 key=jax.random.key(args.seed), learning_rate=args.lr)
    value = metric_fn(predict(model, test, jax.random.key(args.seed + 7)))
    records.append(dict(task=row["task"], dataset=row["dataset"], method=kind,
                        missing_rate=row["missing_rate"], metric=row["metric"], value=value,
                        final_loss=float(np.mean(losses[-10:])),
                        wall_s=time.perf_counter() - start,
                        includes_compile=_first(kind, readout), train_steps=args.train_steps))
    print(f"{row['task']} {row['dataset']} {kind} rate={row['missing_rate']}: "
          f"{shown.format(value)} ({records[-1]['wall_s']:.0f} s)", flush=True)


def classification(args, records: list) -> None:
    train, test = _split(args.cls_dataset, "train"), _split(args.cls_dataset, "test")
    k = train["x"].shape[-1]
    classes = int(max(train["label"].max(), test["label"].max())) + 1
    majority = np.bincount(train["label"], minlength=classes).argmax()
    for rate in args.rates:
        tr = dict(train, observed_mask=_drop(train["observed_mask"], rate, args.seed))
        te = dict(test, observed_mask=_drop(test["observed_mask"], rate, args.seed + 1))
        tr["x"] = tr["x"] * tr["observed_mask"]
        te["x"] = te["x"] * te["observed_mask"]
        records.append(dict(task="classification", dataset=args.cls_dataset,
                            method="majority", missing_rate=rate, metric="accuracy",
                            value=float((test["label"] == majority).mean()), wall_s=0.0))
        for kind in args.classes:
            _fit_and_record(
                args, records, dict(task="classification", dataset=args.cls_dataset,
                                    missing_rate=rate, metric="accuracy"),
                kind, "final", (k, classes), classification_loss,
                lambda i: _minibatch(tr, args.batch, 1000 * args.seed + i), te,
                lambda logits: float((logits.argmax(-1) == te["label"]).mean()), "acc={:.3f}")


def _linear_fill(x, mask, times) -> np.ndarray:
    f = jax.jit(jax.vmap(fill_missing))
    return np.asarray(f(jnp.asarray(x), jnp.asarray(mask), jnp.asarray(times)))


def _reconstruction(args, records, task, train, test, rates, make_masks) -> None:
    """Train a "sequence" model per class and rate; ``make_masks(mask, rate, seed)``
    returns (input mask, target mask)."""
    k = train["x"].shape[-1]
    for rate in rates:
        inp, target = make_masks(test["observed_mask"], rate, args.seed + 1)
        te = dict(test, x=test["x"] * inp, observed_mask=inp)
        filled = _linear_fill(te["x"], inp, te["time"])
        base = {"linear_interp" if task == "interpolation" else "last_value": filled,
                "zero": np.zeros_like(filled)}
        for name, pred in base.items():
            records.append(dict(task=task, dataset=args.series_dataset, method=name,
                                missing_rate=rate, metric="mse",
                                value=_masked_mse(pred, test["x"], target), wall_s=0.0))

        def batch_fn(i, rate=rate):
            b = _minibatch(train, args.batch, 1000 * args.seed + i)
            m_in, m_tg = make_masks(b["observed_mask"], rate, 10_000 + i)
            return dict(x=b["x"] * m_in, observed_mask=m_in, time=b["time"],
                        target_mask=m_tg, target=b["x"])

        for kind in args.classes:
            _fit_and_record(
                args, records, dict(task=task, dataset=args.series_dataset,
                                    missing_rate=rate, metric="mse"),
                kind, "sequence", (k, k), reconstruction_loss, batch_fn, te,
                lambda pred: _masked_mse(pred, test["x"], target), "mse={:.4f}")


def series_tasks(args, records: list) -> None:
    train, test = _split(args.series_dataset, "train"), _split(args.series_dataset, "test")
    train.pop("label", None)
    test.pop("label", None)

    def interp_masks(mask, rate, seed):
        kept = _drop(mask, rate, seed)
        return kept, mask * (1 - kept)

    def forecast_masks(mask, rate, seed):
        ctx = np.asarray(forecast_mask(jnp.asarray(mask), args.horizon))
        return _drop(ctx, rate, seed), mask - np.asarray(forecast_mask(jnp.asarray(mask),
                                                                       args.horizon))

    if "interpolation" in args.tasks:
        _reconstruction(args, records, "interpolation", train, test, args.rates, interp_masks)
    if "forecasting" in args.tasks:
        _reconstruction(args, records, "forecasting", train, test, args.forecast_rates,
                        forecast_masks)


COLORS = {"lsde": "C0", "lnsde": "C1", "gsde": "C2", "majority": "0.5",
          "linear_interp": "0.3", "last_value": "0.3", "zero": "0.6"}


def plot(records: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in ("classification", "interpolation", "forecasting")
             if any(r["task"] == t for r in records)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in records if r["task"] == task]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        rates = sorted({r["missing_rate"] for r in rows})
        for j, method in enumerate(methods):
            pts = sorted((r["missing_rate"], r["value"]) for r in rows if r["method"] == method)
            x, y = zip(*pts)
            model = method in ("lsde", "lnsde", "gsde")
            color = COLORS.get(method, f"C{3 + j}")
            if len(rates) == 1:
                ax.bar(j, y[0], color=color, label=method)
            else:
                ax.plot(x, y, "o-" if model else "x--", color=color, label=method)
        if len(rates) == 1:
            ax.set_xticks(range(len(methods)), methods, fontsize=8)
            ax.set_xlabel(f"missing rate {rates[0]}")
        else:
            ax.set_xlabel("missing rate")
        ax.set_title(f"{task} ({rows[0]['dataset']})")
        ax.set_ylabel(rows[0]["metric"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


RUNNER_CONFIGS = {"classification": "configs/timeseries/neural_sde_italy_power_demand.py",
                  "interpolation":
                      "configs/timeseries/neural_sde_italy_power_demand_interpolation.py"}


def runner_check(args) -> dict:
    """The same protocol through ``experiments.main``'s runner (task ``ts_neural_sde``)
    and through this script, for each seed of ``--seeds``: one class (the first of
    ``--classes``), the first rate, the configs' sizes (this script's defaults). Writes
    DIR/neural_sde_runner_check.json: per task, the values of both per seed, their means
    and sample standard deviations."""
    from experiments import runner

    kind, rate = args.classes[0], args.rates[0]
    out = {}
    for task, path in RUNNER_CONFIGS.items():
        if task not in args.tasks:
            continue
        script, through_runner = [], []
        for seed in args.seeds:
            records: list = []
            sub = argparse.Namespace(**{**vars(args), "seed": seed, "classes": [kind],
                                        "rates": [rate], "tasks": [task]})
            (classification if task == "classification" else series_tasks)(sub, records)
            script.append(next(r["value"] for r in records if r["method"] == kind))
            config = runner.load_config(path)
            config.seed, config.task.missing_rate = seed, rate
            config.model.kwargs.update(kind=kind, hidden=args.hidden, width=args.width,
                                       steps=args.sde_steps)
            config.data.batch_size, config.optim.learning_rate = args.batch, args.lr
            config.training.n_steps, config.training.progress = args.train_steps, False
            workdir = os.path.join(args.out, "runs", f"{task}_{kind}_seed{seed}")
            runner.train(config, workdir)
            through_runner.append(runner.evaluate(config, workdir)["neural_sde"]
                                  ["value_first_draw"])
            print(f"{task} seed {seed}: script {script[-1]:.4f}, runner "
                  f"{through_runner[-1]:.4f}", flush=True)
        out[task] = {"sde": kind, "missing_rate": rate, "seeds": list(args.seeds),
                     "script": script, "runner": through_runner,
                     **{f"{name}_{stat}": fn(np.asarray(v))
                        for name, v in (("script", script), ("runner", through_runner))
                        for stat, fn in (("mean", lambda a: float(np.mean(a))),
                                         ("std", lambda a: float(np.std(a, ddof=1))
                                          if len(a) > 1 else None))}}
    with open(os.path.join(args.out, "neural_sde_runner_check.json"), "w") as f:
        json.dump({"meta": dict(vars(args), **host_info()), "tasks": out}, f, indent=1)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--tasks", default="classification,interpolation,forecasting")
    p.add_argument("--classes", default="lsde,lnsde,gsde")
    p.add_argument("--rates", default="0.3,0.5,0.7")
    p.add_argument("--forecast-rates", default="0.0")
    p.add_argument("--cls-dataset", default="ts:italy_power_demand")
    p.add_argument("--series-dataset", default="ts:italy_power_demand")
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--train-steps", type=int, default=150)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--sde-steps", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runner-check", action="store_true",
                   help="compare with the same runs through experiments.main's runner "
                        "(one class, one rate, every seed of --seeds)")
    p.add_argument("--seeds", default="0,1,2,3")
    args = p.parse_args(argv)
    args.tasks = args.tasks.split(",")
    args.classes = args.classes.split(",")
    args.rates = [float(r) for r in args.rates.split(",")]
    args.forecast_rates = [float(r) for r in args.forecast_rates.split(",")]
    args.seeds = [int(x) for x in args.seeds.split(",")]
    os.makedirs(args.out, exist_ok=True)
    if args.runner_check:
        return runner_check(args)
    records: list = []
    start = time.perf_counter()
    if "classification" in args.tasks:
        classification(args, records)
    series_tasks(args, records)
    meta = dict(vars(args), **host_info(), backend=jax.default_backend(),
                total_wall_s=time.perf_counter() - start)
    out = {"meta": meta, "records": records}
    with open(os.path.join(args.out, "neural_sde.json"), "w") as f:
        json.dump(out, f, indent=1)
    plot(records, os.path.join(args.out, "neural_sde.png"))
    return out


if __name__ == "__main__":
    main()
