"""Training throughput and model FLOPs utilisation (MFU) of the image configs.

    python -m benchmarks.training --out DIR
        [--config configs/image/fashion_mnist_edm.py,configs/image/fashion_mnist_dit.py]
        [--batch 64] [--steps 30] [--rounds 5] [--compute-dtype float32]
        [--set model.kwargs.hidden=768 ...]

For each config x batch x compute dtype the script builds the experiment exactly as
``experiments.main`` does (same network, loss, sharded jitted step), compiles the step
once (``compile_s``) and reads its FLOPs from XLA's cost analysis of the compiled
executable (``flops_per_step``; see :func:`compiled_flops` for what XLA counts). After
10 untimed warm-up steps it times ``rounds`` rounds, each of ``steps / rounds`` steps
and (on a CPU) of one matmul-peak measurement, their order alternating. With ``step_s``
the median over rounds,

    achieved FLOP/s = flops_per_step / step_s,        MFU = achieved FLOP/s / peak.

The peak is named in each record (``peak_name``): on a GPU/TPU the vendor's dense peak
for the compute dtype (:data:`VENDOR_PEAKS`); on a CPU the best float32 (or bfloat16)
``jnp.dot`` rate measured in the run (the sweep of ``benchmarks.matmul_peak`` before the
records and every interleaved round; run with one real CPU device, as the training step
is). The best, not the median, is this machine's capability: other processes on a
shared machine only lower a measurement, and they lower a large matmul more than they
lower a step (measured: the interleaved peak varied 3x under load 10 on 2 cores). The
records also keep ``mfu_best_round`` (fastest round) and ``mfu_same_load`` (median over
rounds of step rate / peak rate of the same round), and the load averages.

MFU in the sense of Chowdhery et al. (2022, "PaLM", appendix B) counts the model's
FLOPs; here the count is XLA's for the whole
step (forward, backward, optimizer, EMA). The optimizer and EMA add 0.1% (U-Net at
batch 64: 17.80 GFLOP per step against 17.78 for forward + backward alone).

Writes DIR/training.json ({"jax", "meta", "records"}; meta has the host, the load
averages before and after, the peak sweep), DIR/training.png and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time

import jax
import numpy as np

from benchmarks import matmul_peak, timing
from benchmarks.config_overrides import apply_overrides

# Dense (no sparsity) peak FLOP/s per compute dtype. "float32" is the peak that XLA's
# default float32 dot precision reaches: TF32 tensor cores on NVIDIA Hopper, bf16 passes
# on TPUs. NVIDIA H100 Tensor Core GPU datasheet (SXM5): FP32 67 TFLOPS, TF32 989 TFLOPS
# and BF16 1,979 TFLOPS "with sparsity", i.e. 494.5 and 989.5 dense; PCIe: FP32 51,
# TF32 756 / BF16 1,513 with sparsity. NVIDIA H200 datasheet: the same compute as the
# H100 SXM. Google Cloud TPU system architecture pages: bf16 peak per chip v4 275,
# v5e 197, v5p 459, v6e 918 TFLOPS.
VENDOR_PEAKS: dict[str, dict[str, tuple[float, str]]] = {
    "H100 PCIe": {"bfloat16": (756e12, "H100 PCIe bf16 dense (datasheet)"),
                  "float32": (378e12, "H100 PCIe tf32 dense (datasheet); fp32 SIMT 51e12")},
    "H100": {"bfloat16": (989e12, "H100 SXM bf16 dense (datasheet)"),
             "float32": (494.5e12, "H100 SXM tf32 dense (datasheet); fp32 SIMT 67e12")},
    "H200": {"bfloat16": (989e12, "H200 bf16 dense (datasheet, = H100 SXM)"),
             "float32": (494.5e12, "H200 tf32 dense (datasheet); fp32 SIMT 67e12")},
    "TPU v4": {d: (275e12, "TPU v4 bf16 (Cloud TPU docs)") for d in ("bfloat16", "float32")},
    "TPU v5 lite": {d: (197e12, "TPU v5e bf16 (Cloud TPU docs)")
                    for d in ("bfloat16", "float32")},
    "TPU v5": {d: (459e12, "TPU v5p bf16 (Cloud TPU docs)") for d in ("bfloat16", "float32")},
    "TPU v6 lite": {d: (918e12, "TPU v6e bf16 (Cloud TPU docs)")
                    for d in ("bfloat16", "float32")},
}
COMPUTE_DTYPES = ("float32", "bfloat16")


def vendor_peak(device_kind: str, compute_dtype: str) -> tuple[float, str] | None:
    """``(peak FLOP/s, name)`` of the first :data:`VENDOR_PEAKS` entry whose key occurs in
    ``device_kind`` (more specific keys first), or None for a device not in the table."""
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"vendor_peak: unknown compute dtype {compute_dtype!r}; valid: "
                         f"{COMPUTE_DTYPES}.")
    for key in sorted(VENDOR_PEAKS, key=len, reverse=True):
        if key in device_kind:
            return VENDOR_PEAKS[key][compute_dtype]
    return None


def compiled_flops(compiled) -> tuple[float, int]:
    """``(flops, while loops)`` of a compiled executable (``jitted.lower(...).compile()``).

    XLA's HloCostAnalysis counts two FLOPs per multiply-add of a dot or convolution (for
    a convolution only the taps that land on the input, not on padding), one per
    elementwise arithmetic op, and transcendental functions separately (not included).
    A while loop (``lax.scan``, ``fori_loop``) has its body counted once, whatever the
    trip count: the count of a step with loops is a lower bound, so the number of loops
    in the optimised HLO whose state holds floating-point arrays is returned alongside
    (tests/benchmarks/test_training_flops.py). Integer-only loops are left out: XLA:CPU
    keeps threefry's rounds (``jax.random``) rolled, and their integer ops are negligible
    (about 100 per random number, against about 1e8 FLOPs per image for these networks).
    """
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per program
        cost = cost[0]
    loops = 0
    for line in compiled.as_text().splitlines():
        head, sep, _ = line.partition(" while(")
        if sep and re.search(r"\b(f8\w*|bf16|f16|f32|f64|c64|c128)\[", head):
            loops += 1
    return float(cost["flops"]), loops


def mfu(flops_per_step: float, step_s: float, peak_flops: float) -> float:
    """Model FLOPs utilisation ``flops_per_step / step_s / peak_flops``."""
    return flops_per_step / step_s / peak_flops


def measure(config, steps: int, rounds: int, peak_size: int | None,
            warmup: int = 10) -> dict:
    """One record: compile, FLOPs, interleaved step / peak timing (module docstring)."""
    from diffax import nn, training
    from experiments import runner

    if steps % rounds:
        raise ValueError(f"measure: steps ({steps}) must be a multiple of rounds ({rounds}).")
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
    # The steps run through the jitted function (its C++ dispatch path, as in training);
    # lowering it again for the same shapes hits jax's compilation cache.
    flops, loops = compiled_flops(train_step.lower(state, batches[0]).compile())
    for i in range(1, warmup + 1):  # untimed: the first steps after a compile run slower
        state, metrics = train_step(state, batches[i])
    jax.block_until_ready(metrics["loss"])

    dev = jax.devices()[0]
    dtype = config.training.compute_dtype
    per_round = steps // rounds
    it = iter(range(warmup + 1, warmup + steps + 1))
    box = {"state": state}

    def run_steps():
        st = box["state"]
        for _ in range(per_round):
            st, m = train_step(st, batches[next(it)])
        box["state"], box["metrics"] = st, m
        return jax.block_until_ready(m["loss"])

    fns = {"steps": run_steps}
    if dev.platform == "cpu":
        fns["peak"] = matmul_peak.make_matmul(peak_size, dtype)
    _, walls = timing.interleaved_walls(fns, rounds)
    step_s = np.asarray(walls["steps"]) / per_round
    median_step = float(np.median(step_s))
    extra = {}
    if dev.platform == "cpu":  # the peak is set by cpu_peak() once the run is over
        peaks = matmul_peak.matmul_flops(peak_size) / np.asarray(walls["peak"])
        extra = {"peak_rounds_gflops": (peaks / 1e9).tolist(), "peak_size": peak_size,
                 "mfu_same_load": float(np.median(flops / step_s / peaks))}
    else:
        vp = vendor_peak(dev.device_kind, dtype)
        peak, peak_name = (vp if vp is not None else (float("nan"), "unknown device"))
        extra = {"peak_gflops": peak / 1e9, "peak_name": peak_name,
                 "mfu": mfu(flops, median_step, peak),
                 "mfu_best_round": mfu(flops, float(step_s.min()), peak)}
    return {"network": config.model.name, "device": dev.device_kind,
            "platform": dev.platform, "devices": jax.device_count(),
            "batch": config.data.batch_size, "num_params": nn.count_params(exp.network),
            "compute_dtype": dtype, "compile_s": compile_s,
            "flops_per_step": flops, "loops_in_step": loops,
            "step_s": median_step, "step_s_rounds": step_s.tolist(),
            "achieved_gflops": flops / median_step / 1e9, **extra,
            "steps_per_sec": 1.0 / median_step,
            "examples_per_sec": config.data.batch_size / median_step,
            "steps_timed": steps, "rounds": rounds, "warmup_steps": warmup,
            "final_loss": float(box["metrics"]["loss"])}


def cpu_peak(records: list[dict], sweep: dict[str, dict]) -> None:
    """Set ``peak_gflops``, ``peak_name``, ``mfu`` and ``mfu_best_round`` of the CPU
    ``records`` (in place) from the best matmul rate of the run for their compute dtype:
    the ``sweep`` (``{dtype: measure_peak(...)}``) and every interleaved round."""
    for r in records:
        dtype = r["compute_dtype"]
        rounds = [g for q in records if q["compute_dtype"] == dtype
                  for g in q["peak_rounds_gflops"]]
        best = max([sweep[dtype]["peak_gflops"], *rounds])
        r["peak_gflops"] = best
        r["peak_name"] = (f"measured {dtype} jnp.dot, best of the run (sweep "
                          f"{sorted(sweep[dtype]['per_size'])} and {len(rounds)} rounds)")
        r["mfu"] = mfu(r["flops_per_step"], r["step_s"], best * 1e9)
        r["mfu_best_round"] = mfu(r["flops_per_step"], min(r["step_s_rounds"]), best * 1e9)


def training_table(blob: dict) -> str:
    """Markdown table of a training.json: one row per network x batch x dtype."""
    head = ["network", "batch", "dtype", "GFLOP/step", "step (ms)", "achieved GFLOP/s",
            "peak GFLOP/s", "MFU", "MFU best round", "examples/s"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in blob["records"]:
        loop = "*" if r.get("loops_in_step") else ""
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['compute_dtype']} | "
            f"{r['flops_per_step'] / 1e9:.1f}{loop} | {r['step_s'] * 1e3:.0f} | "
            f"{r['achieved_gflops']:.1f} | {r['peak_gflops']:.1f} | {r['mfu']:.1%} | "
            f"{r.get('mfu_best_round', float('nan')):.1%} | "
            f"{r['examples_per_sec']:.0f} |")
    if any(r.get("loops_in_step") for r in blob["records"]):
        lines += ["", "\\* the step has floating-point while loops, whose bodies XLA's cost "
                  "analysis counts once: the FLOPs (and MFU) are lower bounds."]
    return "\n".join(lines)


def plot(records: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for key in sorted({(r["network"], r["compute_dtype"]) for r in records}):
        rs = sorted((r for r in records if (r["network"], r["compute_dtype"]) == key),
                    key=lambda r: r["batch"])
        b = [r["batch"] for r in rs]
        label = f"{key[0]} {key[1]}"
        axes[0].plot(b, [r["achieved_gflops"] for r in rs], "o-", label=label)
        axes[1].plot(b, [100 * r["mfu"] for r in rs], "o-", label=label)
    peaks = [r["peak_gflops"] for r in records]
    axes[0].axhline(np.median(peaks), color="k", ls="--", lw=1,
                    label=f"peak {np.median(peaks):.0f}")
    axes[0].set_ylabel("achieved GFLOP/s")
    axes[0].set_ylim(0, None)
    axes[1].set_ylabel("MFU (%)")
    axes[1].set_ylim(0, 100)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch")
        ax.legend(fontsize=7)
    r0 = records[0]
    fig.suptitle(f"train step, {r0['platform']} ({r0['device']}), peak: "
                 f"{r0['peak_name'].split(',')[0]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="configs/image/fashion_mnist_edm.py,"
                                       "configs/image/fashion_mnist_dit.py")
    p.add_argument("--batch", default="64", help="comma-separated batch sizes")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--compute-dtype", default="float32")
    p.add_argument("--peak-sizes", default="512,1024,2048",
                   help="CPU only: matmul sizes of the peak sweep")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every config (repeatable), e.g. "
                        "model.kwargs.hidden=768")
    a = p.parse_args()
    from experiments.runner import load_config

    os.makedirs(a.out, exist_ok=True)
    dtypes = a.compute_dtype.split(",")
    for d in dtypes:
        if d not in COMPUTE_DTYPES:
            raise ValueError(f"--compute-dtype: unknown {d!r}; valid: {COMPUTE_DTYPES}.")
    dev = jax.devices()[0]
    meta = {"load_before": os.getloadavg(), "device": dev.device_kind,
            "platform": dev.platform, "devices": jax.device_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), **timing.host_info()}
    peak_sizes = {}
    if dev.platform == "cpu" and jax.device_count() > 1:
        print(f"warning: {jax.device_count()} CPU devices (XLA_FLAGS="
              f"{meta['xla_flags']!r}); the matmul peak runs on one of them and the step on "
              "all, so the MFU is not comparable. Unset the device-count flag.", flush=True)
    if dev.platform == "cpu":
        sweep = {d: matmul_peak.measure_peak(
            tuple(int(v) for v in a.peak_sizes.split(",")), 3, d) for d in dtypes}
        meta["peak_sweep"] = sweep
        peak_sizes = {d: s["best_size"] for d, s in sweep.items()}
    records = []
    for path in a.config.split(","):
        for batch in (int(v) for v in a.batch.split(",")):
            for dtype in dtypes:
                config = apply_overrides(load_config(path), a.set)
                config.data.batch_size = batch
                config.training.compute_dtype = dtype
                rec = {"config": path, "overrides": a.set, **measure(config, a.steps, a.rounds,
                                                 peak_sizes.get(dtype))}
                records.append(rec)
                print(json.dumps({k: v for k, v in rec.items() if "rounds" not in k}),
                      flush=True)
    if dev.platform == "cpu":
        cpu_peak(records, meta["peak_sweep"])
    meta["load_after"] = os.getloadavg()
    blob = {"jax": jax.__version__, "meta": meta, "records": records}
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(blob, f, indent=2)
    plot(records, os.path.join(a.out, "training.png"))
    print(training_table(blob))
    print(f"wrote {a.out}/training.json and {a.out}/training.png")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
