"""Golden group ``train``: parameters and EMA after TRAIN_STEPS training steps of two
configs, trained by ``experiments.runner`` into a temporary workdir and read back with
``runner.restore`` (float32: x64 off, as ``make run`` trains)."""

from __future__ import annotations

import functools
import tempfile
from typing import Any

import numpy as np

from benchmarks.golden.common import Arrays, Case

TRAIN_STEPS = 50
TRAIN_CONFIGS = {"gmm2d": "configs/toy/gmm2d.py",
                 "fashion_mnist_edm": "configs/image/fashion_mnist_edm.py"}


def _path_name(path: tuple) -> str:
    """A pytree key path as ``a/b/0``."""
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _flatten(prefix: str, tree: Any) -> Arrays:
    """Every leaf of ``tree`` as an entry ``prefix/<path>``; two leaves with one name are
    a ValueError."""
    import jax
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
    out = {}
    for path, leaf in leaves:
        name = f"{prefix}/{_path_name(path)}"
        if name.endswith("/value"):  # an nnx Variable's array: named after its variable
            name = name[:-len("/value")]
        if name in out:
            raise ValueError(f"benchmarks.golden.train: two parameters flatten to {name!r}.")
        out[name] = np.asarray(leaf)
    return out


def _train(prefix: str, config_path: str) -> Arrays:
    """Train ``config_path`` for TRAIN_STEPS steps (no sample grids) into a temporary
    workdir and read the final checkpoint back through ``runner.restore``."""
    from diffax import training
    from experiments import runner
    config = runner.load_config(config_path)
    config.training.n_steps = TRAIN_STEPS
    config.training.sample_every = 0
    config.training.progress = False
    with tempfile.TemporaryDirectory(prefix="golden-train-") as workdir:
        runner.train(config, workdir)
        _, _, state = runner.restore(config, workdir)
        records = training.read_metrics(workdir)
    out = {f"{prefix}/step": np.asarray(int(state.step), np.int64),
           f"{prefix}/final_logged_loss": np.asarray(records[-1]["loss"], np.float64)}
    out.update(_flatten(f"{prefix}/params", state.params))
    out.update(_flatten(f"{prefix}/ema", state.ema))
    return out


def train_cases() -> list[Case]:
    """One float32 case per config of TRAIN_CONFIGS."""
    return [Case(f"train/{name}", functools.partial(_train, f"train/{name}", path), x64=False)
            for name, path in TRAIN_CONFIGS.items()]
