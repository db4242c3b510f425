"""The XLA flags of the test run on CPU, for this process (tests/conftest.py) and for the
subprocesses and notebook kernels the tests start with a device count of their own.

The test programs are small, so compiling them costs more than running them: skip LLVM's
expensive optimisation passes on CPU (user CPU of a cold-cache run of five compile-heavy
test modules: -3% to -7%; of the sampler conformance tests: -21%; 2026-12-07; neither
``--xla_backend_optimization_level=0`` nor ``--xla_cpu_opt_preset=CPU_OPT_PRESET_FAST_COMPILE``
compiled faster on top of it, and the first changed float64 results). It changes how fast
the code runs, not what it computes (no fast-math)."""

from __future__ import annotations

CPU_COMPILE_FLAG = "--xla_llvm_disable_expensive_passes=true"


def xla_flags(devices: int | None = None) -> str:
    """``XLA_FLAGS`` for a CPU subprocess: the compile flag, and ``devices`` simulated host
    devices if given (None: JAX's default of one)."""
    count = [] if devices is None else [f"--xla_force_host_platform_device_count={devices}"]
    return " ".join([CPU_COMPILE_FLAG, *count])
