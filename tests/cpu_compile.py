"""The XLA flags of the test run on CPU, for this process (tests/conftest.py) and for the
subprocesses and notebook kernels the tests start with a device count of their own.

The test programs are small, so compiling them costs more than running them (a cold
``make test``, 2026-12-07: 54% of the in-process test time was XLA's backend compile, 12%
lowering to MLIR, 5% tracing; 17,189 compiles). Two flags make the compile cheaper; they
change how fast the code runs, not what it computes (no fast-math):

* ``--xla_cpu_use_fusion_emitters=false``: XLA:CPU's elemental fusion emitter instead of
  the MLIR fusion emitters. Compile time of eight representative programs (a U-Net
  training step, a CSDI gradient, six float64 samplers; ``python -m
  benchmarks.xla_compile_flags``, docs/benchmarks/xla_compile_flags_cpu/): 9.66 s ->
  7.91 s with the second flag (medians of two runs, 2026-12-08), outputs equal to 10
  digits; user CPU of six compile-heavy test modules with empty caches 383 s -> 348 s.
  Five comparisons of two different XLA programs rounded differently and were set from
  their bounds (tests/nn/test_unet.py, tests/objectives/test_consistency_grid.py,
  tests/experiments/test_sharded_sampling.py, tests/experiments/test_multihost_cli.py,
  tests/experiments/tasks/test_anomaly_task.py; the comments give both measurements).
  benchmarks/xla_compile_flags.py measures these flags as its "suite" variant
  (tests/benchmarks/test_xla_compile_flags.py keeps the two lists equal).
* ``--xla_llvm_disable_expensive_passes=true``: skip LLVM's expensive optimisation passes
  (alone, with the MLIR emitters: user CPU -3% to -7% on five compile-heavy modules, -21%
  on the sampler conformance tests; 2026-12-07). Neutral on top of the first flag.

Neither ``--xla_backend_optimization_level=0`` (changed float64 results) nor
``--xla_cpu_opt_preset=CPU_OPT_PRESET_FAST_COMPILE`` (slower) is used;
``--xla_cpu_parallel_codegen_split_count=1`` compiles 60% slower."""

from __future__ import annotations

CPU_COMPILE_FLAGS = ("--xla_cpu_use_fusion_emitters=false",
                     "--xla_llvm_disable_expensive_passes=true")


def with_compile_flags(flags: str) -> str:
    """``flags`` with every compile flag of this module that it does not set yet."""
    missing = [f for f in CPU_COMPILE_FLAGS if f.split("=")[0] not in flags]
    return " ".join([flags, *missing]).strip()


def xla_flags(devices: int | None = None) -> str:
    """``XLA_FLAGS`` for a CPU subprocess: the compile flags, and ``devices`` simulated host
    devices if given (None: JAX's default of one)."""
    count = "" if devices is None else f"--xla_force_host_platform_device_count={devices}"
    return with_compile_flags(count)
