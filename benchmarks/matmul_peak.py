"""Measured matmul peak of this machine's first JAX device, the denominator of a CPU MFU.

    python -m benchmarks.matmul_peak [--sizes 1024,2048,3072] [--repeats 5] [--dtype float32]

A square ``jnp.dot`` of ``n x n`` by ``n x n`` costs ``2 n^3`` FLOPs (one multiply and one
add per term of each of the ``n^2`` output entries). On a CPU, XLA runs one dot on all
cores of its device (Eigen's intra-op thread pool), so run this with the same device setup
as the workload whose MFU it serves: one real CPU device, not
``--xla_force_host_platform_device_count=8`` (eight simulated devices split the cores).
The peak is the best rate over a few sizes (each timed ``repeats`` times after a warm-up
call): small products do not fill the cores, very large ones leave the caches.

A measured peak is not the silicon's FMA peak (cores x clock x FMA units x SIMD width x 2);
it is what a well-tuned kernel of this XLA build reaches, which is the fair ceiling for a
training step compiled by the same XLA. On GPUs and TPUs MFU uses the vendor peak instead
(see ``benchmarks.training.VENDOR_PEAKS``).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def matmul_flops(n: int) -> int:
    """FLOPs of one ``n x n`` by ``n x n`` matrix product: ``2 n^3``."""
    return 2 * n ** 3


def make_matmul(n: int, dtype: str = "float32", seed: int = 0):
    """A zero-argument function that runs one jitted ``n x n`` product and blocks; its
    first call compiles. Inputs are random normal (no special-cased zeros or ones)."""
    if dtype not in DTYPES:
        raise ValueError(f"make_matmul: unknown dtype {dtype!r}; valid: {sorted(DTYPES)}.")
    if n < 1:
        raise ValueError(f"make_matmul: size must be >= 1, got {n}.")
    ka, kb = jax.random.split(jax.random.PRNGKey(seed))
    a = jax.random.normal(ka, (n, n), DTYPES[dtype])
    b = jax.random.normal(kb, (n, n), DTYPES[dtype])
    dot = jax.jit(jnp.dot)

    def run():
        return jax.block_until_ready(dot(a, b))

    run()  # compile and touch the memory
    return run


def measure_peak(sizes: tuple[int, ...] = (1024, 2048, 3072), repeats: int = 5,
                 dtype: str = "float32") -> dict:
    """Best matmul rate over ``sizes``: ``{"peak_gflops", "best_size", "dtype",
    "per_size": {n: best GFLOP/s}}``. Each size is timed ``repeats`` times; its rate is
    the fastest repeat (the one least disturbed by other processes)."""
    if not sizes or repeats < 1:
        raise ValueError(f"measure_peak: need sizes and repeats >= 1, got {sizes}, "
                         f"{repeats}.")
    per_size = {}
    for n in sizes:
        run = make_matmul(n, dtype)
        walls = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            walls.append(time.perf_counter() - t0)
        per_size[int(n)] = matmul_flops(n) / min(walls) / 1e9
    best = max(per_size, key=per_size.get)
    return {"peak_gflops": per_size[best], "best_size": best, "dtype": dtype,
            "per_size": per_size, "repeats": repeats}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,2048,3072")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    a = p.parse_args()
    rec = measure_peak(tuple(int(v) for v in a.sizes.split(",")), a.repeats, a.dtype)
    dev = jax.devices()[0]
    rec.update(device=dev.device_kind, platform=dev.platform, devices=jax.device_count())
    print(json.dumps(rec))
    print(f"peak {rec['peak_gflops']:.1f} GFLOP/s ({a.dtype}, n = {rec['best_size']}, "
          f"{rec['devices']} {rec['platform']} device(s))")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
