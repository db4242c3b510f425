"""XLA:CPU compile time of representative diffax programs under sets of ``XLA_FLAGS``
(the flags of the test suite, tests/cpu_compile.py).

    python -m benchmarks.xla_compile_flags --out DIR [--repeats 2]

Each variant runs in a fresh process (XLA reads its flags once) without a persistent
compilation cache, variants interleaved ``repeats`` times. Per program it records the
lowering, compile and first-run seconds and a checksum of the outputs, so a flag that
changes what is computed shows up next to one that only changes how fast it compiles.
Writes DIR/xla_compile_flags.json and prints a table of the median compile seconds."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.timing import host_info

VARIANTS = {
    "default": "",
    "llvm_cheap": "--xla_llvm_disable_expensive_passes=true",
    "elemental_fusion": "--xla_cpu_use_fusion_emitters=false",
    "suite": "--xla_cpu_use_fusion_emitters=false --xla_llvm_disable_expensive_passes=true",
}


def _measure() -> dict:
    """Lower, compile and run each program once in this process."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    from diffax.analytic import GaussianMixture
    from diffax.losses import denoising_loss
    from diffax.nn import UNet
    from diffax.nn.csdi import CSDI
    from diffax.processes import EDM, VPLinear
    from diffax.samplers import registry, schedules

    out = {}

    def timed(name, f, *args):
        t0 = time.perf_counter()
        lowered = jax.jit(f).lower(*args)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        result = jax.block_until_ready(compiled(*args))
        t3 = time.perf_counter()
        checksum = sum(float(np.sum(np.asarray(v, np.float64))) for v in jax.tree.leaves(result))
        out[name] = dict(lower=t1 - t0, compile=t2 - t1, run=t3 - t2, checksum=checksum)

    # a U-Net training step (float32)
    graph, params = nnx.split(UNet(1, channels=8, channel_mult=(1, 2), rngs=nnx.Rngs(0)))
    loss = denoising_loss(EDM(), kind="x0", weighting="edm", time_sampling="lognormal",
                          sigma_data=0.5)
    tx = optax.adam(1e-3)

    def train_step(params, opt, x, key):
        def objective(p):
            net = nnx.merge(graph, p)
            return loss(lambda y, t: net(y, t), {"x": x}, key)[0]
        value, grads = jax.value_and_grad(objective)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, value

    x = jax.random.normal(jax.random.key(1), (8, 28, 28, 1))
    timed("unet_train_step", train_step, params, tx.init(params), x, jax.random.key(2))
    # a CSDI loss and gradient
    graph2, params2 = nnx.split(CSDI(3, channels=16, num_layers=2, num_heads=2,
                                     time_embed_dim=16, feature_embed_dim=4,
                                     diffusion_embed_dim=16, rngs=nnx.Rngs(0)))
    series = jax.random.normal(jax.random.key(3), (4, 24, 3))

    def csdi_loss(p, s):
        return jnp.mean((nnx.merge(graph2, p)(s, jnp.full((4,), 0.3)) - s) ** 2)

    timed("csdi_value_and_grad", jax.value_and_grad(csdi_loss), params2, series)
    # float64 samplers on a Gaussian-mixture oracle
    jax.config.update("jax_enable_x64", True)
    gm = GaussianMixture.create(np.array([0.5, 0.5]), np.array([[-1.0, 0.5], [1.0, 1.0]]),
                                np.stack([np.eye(2) * 0.2, np.eye(2) * 0.3]))
    process = VPLinear()
    model = gm.model_fn("eps", process)
    t0, t1 = (float(process.t_from_log_snr(v)) for v in (-7.0, 9.0))
    x_init = jax.random.normal(jax.random.key(0), (32, 2), jnp.float64)
    ts = schedules.uniform_log_snr(process, 24, t0, t1)
    for name in ("dpm_solver++_3m", "unipc_bh2_3", "dpm_solver_3s", "deis_tab_3", "edm_heun",
                 "euler_maruyama"):
        sampler = registry.get_sampler(name)
        timed(name, lambda y, s=sampler: s(model, process, y, ts, key=jax.random.key(5)).x,
              x_init)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure()))
        return {}
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, flags in VARIANTS.items():
            env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
            env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=flags)
            done = subprocess.run([sys.executable, "-m", "benchmarks.xla_compile_flags",
                                   "--out", args.out, "--child"], env=env, check=True,
                                  capture_output=True, text=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    programs = list(runs["default"][0])
    summary = {name: {p: statistics.median(r[p]["compile"] for r in rs) for p in programs}
               for name, rs in runs.items()}
    result = dict(host=host_info(), variants=VARIANTS, runs=runs, median_compile_s=summary)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "xla_compile_flags.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("| program | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---|" * len(VARIANTS))
    for p in [*programs, "total"]:
        cells = [sum(summary[n].values()) if p == "total" else summary[n][p] for n in VARIANTS]
        print(f"| {p} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return result


if __name__ == "__main__":
    main()
