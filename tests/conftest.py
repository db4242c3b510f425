"""Test set-up: 8 simulated CPU devices, so sharding code is tested everywhere.

XLA_FLAGS must be set before jax is imported (STACK.md).
"""

import os
import tempfile

flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# XLA's cheaper compile on CPU (cpu_compile.py, measured there); subprocesses inherit it,
# or get it from cpu_compile.xla_flags where they set a device count of their own
from cpu_compile import with_compile_flags  # noqa: E402

if os.environ["JAX_PLATFORMS"] == "cpu":
    os.environ["XLA_FLAGS"] = with_compile_flags(os.environ["XLA_FLAGS"])
# Full float32 matrix products on every backend, in this process and every subprocess the
# tests start: on recent NVIDIA GPUs JAX's default (TF32) would break the float32
# tolerances measured against exact answers.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
# One persistent compilation cache for the test run, shared by both xdist workers and
# inherited by every subprocess and notebook kernel the tests start (they recompile the
# same toy programs); keyed by jax version, HLO and compile options, so it is safe to keep.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "diffax-test-jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Run a test in float64 (convergence-order and oracle tests)."""
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


# Modules whose tests take the longest (subprocesses, notebook kernels, network training,
# large compiles), longest first (a `--durations` run, 2026-12-07). `make test` distributes
# whole modules (each notebook is its own class scope) over two xdist workers in this order:
# `--dist loadscope --no-loadscope-reorder`; xdist's default reorder would sort scopes by
# their number of tests and leave one-test scopes such as the notebooks to the end, where
# one worker finishes a long scope alone while the other idles.
SLOW_MODULES_FIRST = (
    "tests/benchmarks/test_few_step_methods.py",
    "tests/experiments/tasks/test_anomaly_task.py",
    "tests/notebooks/test_notebooks.py",
    "tests/training/test_checkpointing.py",
    "tests/experiments/test_timeseries_runs.py",
    "tests/experiments/test_neural_sde_task.py",
    "tests/experiments/test_multihost_cli.py",
    "tests/experiments/test_runner.py",
    "tests/experiments/test_gcs_workdir.py",
    "tests/samplers/test_conformance.py",
    "tests/training/test_fsdp.py",
    "tests/experiments/tasks/test_molecules_likelihood.py",
    "tests/neural_sde/test_nsde_readout_grad.py",
    "tests/neural_sde/test_nsde_network.py",
    "tests/likelihood/test_pf_ode_likelihood.py",
    "tests/neural_sde/test_nsde_model.py",
    "tests/neural_sde/test_nsde_train_lnsde.py",
    "tests/inverse/test_mbir_fbp.py",
    "tests/neural_sde/test_nsde_train_gsde.py",
    "tests/experiments/test_main_cli.py",
    "tests/objectives/test_hyper_sd.py",
    "tests/experiments/test_cifar_recipes.py",
    "tests/objectives/test_lcm_guided.py",
    "tests/neural_sde/test_nsde_train_lsde.py",
    "tests/training/test_multihost.py",
    "tests/objectives/test_consistency_distillation.py",
    "tests/nn/test_unet.py",
    "tests/experiments/test_inverse_mode.py",
    "tests/guidance/test_classifier_free.py",
    "tests/likelihood/test_elbo.py",
    "tests/guidance/test_classifier_guidance.py",
    "tests/features/test_inception_v3.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {path: i for i, path in enumerate(SLOW_MODULES_FIRST)}

    def key(indexed):
        index, item = indexed
        path = os.path.relpath(str(item.path), str(config.rootpath))
        return rank.get(path, len(rank)), index

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
