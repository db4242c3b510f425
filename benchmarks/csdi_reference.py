"""Cross-check of diffax's CSDI-style imputation against the reference CSDI
(ermongroup/CSDI, PyTorch) on the same windows, the same hidden values and the same
metrics.

    python -m benchmarks.csdi_reference --out DIR [--dataset ts:basic_motions] \
        [--steps 300] [--samples 16] [--width small|paper|config] [--protocol small|full] \
        [--csdi-python /work/csdi_venv/bin/python] [--csdi-path /work/csdi_ref]

1. Builds diffax's experiment (``configs/timeseries/basic_motions_imputation.py`` or
   ``co2_imputation.py``, sizes overridden through the config) and exports to
   DIR/windows.npz its training windows, its held-out windows, their observed masks and
   the evaluation masks the ``ts_imputation`` task draws (``eval_condition`` with the
   keys of ``experiments.evaluation.conditional_metrics``: chunks of ``data.batch_size``
   windows, key ``fold_in(PRNGKey(seed + 20000), chunk)``).
2. Trains diffax with ``experiments.runner.train`` (DIR/diffax) and imputes the held-out
   targets with ``experiments.evaluation.conditional_draws`` (the loop of
   ``conditional_metrics``: same sampler keys, compilation outside the timing) with
   its default sampler and NFE, and with the same sampler at 50 NFE (CSDI's 50 DDPM
   steps), plus any ``--extra-run sampler:nfe``.
3. Runs the reference CSDI in its own interpreter (``--csdi-python``) through
   benchmarks/csdi_reference_adapter.py, which imports CSDI from ``--csdi-path`` and
   trains it on the exported windows for the same number of optimizer steps and batch
   size, at the same width as diffax's network, then imputes with the same number of
   samples (50 ancestral DDPM steps).
4. Scores every set of samples with the same diffax functions
   (``diffax.metrics.crps_quantile_csdi``, ``masked_mae``, ``masked_rmse``, data units)
   on the same hidden values, and writes DIR/csdi_reference.json and a table.

Both models get CSDI's batch size (16) and the same network sizes: ``--width small``
(32 channels, 2 residual layers, 4 heads; the quick default), ``paper`` (CSDI's
config/base.yaml: 64, 4, 8) or ``config`` (whatever the diffax config says). The rest of
each method is its own: diffax's config (EDM, context scaling, optimizer, EMA, sampler),
CSDI's base.yaml (DDPM, Adam, MultiStepLR, 50 ancestral steps).
``--protocol full`` is CSDI's: 100 samples per window, the paper width and 200 epochs
(the number of steps follows from the training set size). See docs/csdi_reference.md.

Modules: this one (command line, config, report), ``csdi_reference_data`` (step 1 and
the scores of step 4) and ``csdi_reference_runs`` (steps 2 and 3).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import jax

from benchmarks.config_overrides import apply_overrides

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = {"ts:basic_motions": "configs.timeseries.basic_motions_imputation",
           "ts:co2": "configs.timeseries.co2_imputation"}
#: network sizes given to both models, in diffax's CSDI keywords: CSDI's config/base.yaml
#: ("paper", 0.41M parameters) and a quarter-size one for the quick CPU run ("small")
WIDTHS = {"paper": dict(channels=64, num_layers=4, num_heads=8, time_embed_dim=128,
                        feature_embed_dim=16, diffusion_embed_dim=128),
          "small": dict(channels=32, num_layers=2, num_heads=4, time_embed_dim=32,
                        feature_embed_dim=8, diffusion_embed_dim=64)}
CSDI_BATCH = 16  # CSDI's config/base.yaml train.batch_size
CSDI_NFE = 50  # CSDI's diffusion.num_steps (ancestral DDPM: one network call a step)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--dataset", default="ts:basic_motions", choices=sorted(CONFIGS))
    p.add_argument("--protocol", default="small", choices=("small", "full"),
                   help="full: CSDI's protocol (100 samples, width 64x4, batch 16, "
                        "200 epochs); flags given explicitly still win")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps of each model (small: 300; full: 200 epochs)")
    p.add_argument("--epochs", type=int, default=None,
                   help="set the steps as epochs x ceil(train windows / batch)")
    p.add_argument("--samples", type=int, default=None, help="small: 16; full: 100")
    p.add_argument("--batch-size", type=int, default=CSDI_BATCH,
                   help="training batch of both (CSDI's 16); also the evaluation chunk")
    p.add_argument("--width", default=None, choices=("small", "paper", "config"),
                   help="network sizes of both: 32 channels x 2 layers (small, default), "
                        "CSDI's 64 x 4 (paper, full protocol) or the diffax config's")
    p.add_argument("--missing-rate", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nfes", default=None,
                   help="NFE budgets of diffax's default sampler, comma separated "
                        "(default: the config's and CSDI's 50)")
    p.add_argument("--extra-run", action="append", default=[], metavar="SAMPLER:NFE",
                   help="another diffax sampler run, e.g. euler_maruyama:50")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="diffax config override, e.g. task.scaling=none (a Python "
                        "literal, else a string)")
    p.add_argument("--csdi-python", default="/work/csdi_venv/bin/python")
    p.add_argument("--csdi-path", default="/work/csdi_ref")
    p.add_argument("--skip-csdi", action="store_true", help="diffax only")
    p.add_argument("--reuse", action="store_true",
                   help="keep a finished diffax training and CSDI run found in DIR")
    args = p.parse_args(argv)
    full = args.protocol == "full"
    args.samples = args.samples or (100 if full else 16)
    args.width = args.width or ("paper" if full else "small")
    if args.epochs is None and args.steps is None:
        if full:
            args.epochs = 200
        else:
            args.steps = 300
    return args


def make_config(args):
    from experiments import runner

    c = runner.load_config(CONFIGS[args.dataset])
    c.seed = args.seed
    c.data.batch_size = args.batch_size
    if args.width != "config":
        c.model.kwargs.update(WIDTHS[args.width])
    c.task.missing_rate = args.missing_rate
    c.eval.draws = args.samples
    c.eval.num_batches = 1  # set to the whole held-out split by export_windows
    c.training.sample_every = 0
    c.training.progress = False
    apply_overrides(c, args.override)
    return c


def git_commit(path: str) -> str:
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--",
                                "diffax", "experiments", "configs"], capture_output=True,
                               text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---- 4. report --------------------------------------------------------------------------

def table(result: dict) -> str:
    head = ("| method | sampler | NFE | draws | CRPS | MAE | RMSE | train s | impute s "
            "| imputations/s |")
    lines = [head, "|" + "---|" * 10]
    for r in result["runs"]:
        lines.append(
            f"| {r['method']} | {r.get('sampler', '')} | {r.get('nfe', '')} | "
            f"{r.get('draws', '')} | {r['crps']:.4f} | {r['mae']:.4f} | {r['rmse']:.4f} | "
            + (f"{r['train_wall_s']:.0f} | " if "train_wall_s" in r else " | ")
            + (f"{r['impute_wall_s']:.1f} | {r['imputations_per_s']:.0f} |"
               if "impute_wall_s" in r else " |  |"))
    return "\n".join(lines)


def main(argv=None) -> dict:
    # imported here, after ``__main__`` has put the repository root on sys.path
    from benchmarks.csdi_reference_data import export_windows, score, score_point
    from benchmarks.csdi_reference_runs import CSDI_NAMES, impute_diffax, run_csdi, train_diffax

    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    config = make_config(args)
    load = os.getloadavg()
    t_start = time.perf_counter()

    data_path = os.path.join(args.out, "windows.npz")
    data = export_windows(config, data_path)
    n_train, length, k = data["train_x"].shape
    steps = args.steps or args.epochs * math.ceil(n_train / config.data.batch_size)
    config.training.n_steps = steps
    config.training.ckpt_every = steps
    config.training.log_every = max(1, min(config.training.log_every, steps // 10))
    config.optim.warmup_steps = min(config.optim.warmup_steps, steps // 5)

    workdir = os.path.join(args.out, "diffax")
    summary = train_diffax(config, workdir, args.reuse)
    nfes = ([int(n) for n in args.nfes.split(",")] if args.nfes
            else [int(config.sampling.nfe), CSDI_NFE])
    runs = [(config.sampling.sampler, n) for n in nfes]
    for spec in args.extra_run:
        name, nfe = spec.rsplit(":", 1)
        runs.append((name, int(nfe)))
    runs = list(dict.fromkeys(runs))
    diffax_runs = impute_diffax(config, workdir, data, runs)
    for r in diffax_runs:
        r["train_wall_s"] = summary["wall_s"]

    from diffax.baselines import timeseries as base
    x, cond = data["test_x"], data["test_cond_mask"]
    baseline_runs = [{"method": f"baseline: {name}", **score_point(fn(x, cond), data)}
                     for name, fn in (("mean", base.mean_impute),
                                      ("linear interpolation", base.linear_interpolate))]

    csdi_runs, csdi = [], None
    if not args.skip_csdi:
        csdi = run_csdi(args, config, data_path, os.path.join(args.out, "csdi"), steps)
        samples = csdi.pop("samples_array")
        csdi_runs = [{"method": "CSDI (reference)", "sampler": "ddpm ancestral",
                      "nfe": csdi["nfe"], "draws": csdi["samples"],
                      "train_wall_s": csdi["train_wall_s"],
                      "impute_wall_s": csdi["impute_wall_s"],
                      "imputations_per_s": csdi["imputations_per_s"],
                      **score(samples, data), "csdi_own_metrics": csdi["csdi_own_metrics"],
                      "heldout_loss_by_step": csdi.get("heldout_loss_by_step")}]

    target = data["test_target_mask"]
    import flax
    result = {
        "dataset": args.dataset, "protocol": args.protocol, "seed": args.seed,
        "windows": {"train": int(n_train), "test": int(len(x)), "length": int(length),
                    "channels": int(k)},
        "missing_rate": args.missing_rate, "overrides": list(args.override),
        "hidden_values": int(target.sum()),
        "hidden_fraction_of_observed": float(target.sum() / data["test_observed_mask"].sum()),
        "steps": {"diffax": int(summary["steps"]),
                  "csdi": int(csdi["steps"]) if csdi else None},
        "batch_size": int(config.data.batch_size), "samples": args.samples,
        "width": {"name": args.width, **{k_: int(v) for k_, v in
                                         config.model.kwargs.items() if k_ in CSDI_NAMES}},
        "num_params": {"diffax": int(summary["num_params"]),
                       "csdi": int(csdi["num_params"]) if csdi else None},
        "diffax_config": {"process": config.process.name, "loss": config.loss.name,
                          "scaling": config.task.get("scaling", "none"),
                          "train_strategy": config.task.train_strategy,
                          "learning_rate": config.optim.learning_rate,
                          "warmup_steps": config.optim.warmup_steps,
                          "ema_decays": list(config.training.ema_decays),
                          "schedule": config.sampling.schedule},
        "csdi_config": csdi["config"] if csdi else None,
        "runs": diffax_runs + csdi_runs + baseline_runs,
        "versions": {"diffax_commit": git_commit(ROOT), "jax": jax.__version__,
                     "flax": flax.__version__, "csdi_commit": git_commit(args.csdi_path),
                     "torch": csdi["torch"] if csdi else None,
                     "torch_threads": csdi["threads"] if csdi else None},
        "platform": {"jax": jax.devices()[0].platform, "cpus": os.cpu_count(),
                     "loadavg_at_start": [round(v, 2) for v in load]},
        "total_wall_s": time.perf_counter() - t_start,
    }
    with open(os.path.join(args.out, "csdi_reference.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"\n{args.dataset}: {n_train} train / {len(x)} held-out windows of ({length}, {k}), "
          f"{result['hidden_values']} hidden values (missing rate {args.missing_rate}), "
          f"{steps} steps, batch {config.data.batch_size}, {args.samples} samples, width "
          f"{args.width} (params diffax {summary['num_params']}, CSDI "
          f"{csdi['num_params'] if csdi else '-'})\n")
    print(table(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
