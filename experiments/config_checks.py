"""Validation of experiment configs: every mistake is reported with the field's dotted
name, the bad value and what is allowed, before any data is loaded or compiled.

Names (process, dataset, network, loss, sampler, schedule) are checked against the
library registries, which raise with the list of valid choices."""

from __future__ import annotations

import math
import os

import jax.numpy as jnp
import ml_collections

from diffax import parameterization, training
from diffax.samplers import SAMPLERS, schedules

COMPUTE_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}  # config name -> compute dtype
REQUIRED = ("seed", "task", "data", "process", "model", "loss", "optim", "training", "sampling",
            "eval")


def _fail(field: str, value, allowed: str) -> None:
    raise ValueError(f"config.{field}={value!r} is invalid: {allowed}.")


def _positive_int(config, field: str) -> None:
    value = config
    for part in field.split("."):
        value = value[part]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        _fail(field, value, "expected a positive integer")


def _numbers(tree, prefix: str = ""):
    """(dotted field, float) for every float in a config, nested lists included."""
    items = tree.items() if hasattr(tree, "items") else enumerate(tree)
    for key, value in items:
        field = f"{prefix}.{key}" if hasattr(tree, "items") else f"{prefix}[{key}]"
        field = field.lstrip(".")
        if isinstance(value, float):
            yield field, value
        elif hasattr(value, "items") or isinstance(value, (list, tuple)):
            yield from _numbers(value, field)


def _check_optim(o: ml_collections.ConfigDict) -> None:
    """The optimizer's numbers: a NaN or negative learning rate would otherwise surface as a
    non-finite loss at step 1."""
    if not (isinstance(o.learning_rate, (int, float)) and math.isfinite(o.learning_rate)
            and o.learning_rate > 0):
        _fail("optim.learning_rate", o.learning_rate, "expected a finite number > 0")
    if not isinstance(o.warmup_steps, int) or isinstance(o.warmup_steps, bool) \
            or o.warmup_steps < 0:
        _fail("optim.warmup_steps", o.warmup_steps, "expected an integer >= 0")
    if not 0.0 <= o.final_lr_fraction <= 1.0:
        _fail("optim.final_lr_fraction", o.final_lr_fraction, "expected a fraction in [0, 1]")
    for field in ("grad_clip", "weight_decay"):
        value = o[field]
        if not (math.isfinite(value) and value >= 0):
            _fail(f"optim.{field}", value, "expected a finite number >= 0 (0 disables it)")


def _check_grad_accum(config: ml_collections.ConfigDict) -> None:
    """``training.grad_accum_steps`` k: a positive integer dividing ``data.batch_size`` (the
    runner also checks batch_size % (k x devices) once the mesh is known)."""
    k = config.training.get("grad_accum_steps", 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        _fail("training.grad_accum_steps", k, "expected an integer >= 1 (1: no accumulation)")
    if config.data.batch_size % k:
        _fail("training.grad_accum_steps", k,
              f"data.batch_size={config.data.batch_size} must be a multiple of it (and of "
              f"it x the number of devices)")


def _check_mesh(config: ml_collections.ConfigDict) -> None:
    """``training.mesh_shape`` (data, model): data x model = the number of devices (data -1:
    all that the model axis leaves); ``training.fsdp_min_size`` >= 1. (The runner checks
    that ``data.batch_size`` splits over all devices: batch rows go over both axes.)"""
    import jax

    t = config.training
    shape = t.get("mesh_shape", (-1, 1))
    try:
        training.sharding.resolve_mesh_shape(tuple(shape), jax.device_count())
    except (TypeError, ValueError) as e:
        _fail("training.mesh_shape", shape, f"{e} (set model to 1 for data parallelism, "
              f"or e.g. (-1, 2) to shard parameters and optimizer state over pairs)")
    min_size = t.get("fsdp_min_size", training.sharding.DEFAULT_MIN_SHARD_SIZE)
    if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size < 1:
        _fail("training.fsdp_min_size", min_size, "expected an integer >= 1 (elements)")


def _check_profile_steps(t: ml_collections.ConfigDict) -> None:
    """``training.profile_steps``: () or (N, k) with 0 <= N, k >= 1 and N + k <= n_steps."""
    value = tuple(t.get("profile_steps", ()) or ())
    if not value:
        return
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if len(value) != 2 or not ints or value[0] < 0 or value[1] < 1 \
            or value[0] + value[1] > t.n_steps:
        _fail("training.profile_steps", value,
              f"expected () or (first_step, num_steps) with first_step >= 0, num_steps >= 1 "
              f"and first_step + num_steps <= training.n_steps={t.n_steps}")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError naming the first invalid field."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"config is missing sections {missing}; start from a defaults file "
                         f"in configs/ (e.g. configs/image/defaults.py).")
    for field in ("data.batch_size", "training.n_steps", "training.log_every",
                  "training.ckpt_every", "training.keep_checkpoints", "sampling.nfe",
                  "sampling.num_samples", "sampling.grid_size", "eval.num_samples",
                  "eval.num_batches"):
        _positive_int(config, field)
    for field, value in _numbers(config):
        if math.isnan(value):
            _fail(field, value, "NaN is not a valid setting; give a number")
    _check_optim(config.optim)
    from experiments.tasks import TASKS

    if config.task.name not in TASKS:
        _fail("task.name", config.task.name, f"choose one of {sorted(TASKS)}")
    t = config.training
    if t.compute_dtype not in COMPUTE_DTYPES:
        _fail("training.compute_dtype", t.compute_dtype, f"choose one of {list(COMPUTE_DTYPES)}")
    if t.nonfinite not in training.NONFINITE_POLICIES:
        _fail("training.nonfinite", t.nonfinite,
              f"choose one of {list(training.NONFINITE_POLICIES)}")
    if not 0.0 <= t.label_dropout < 1.0:
        _fail("training.label_dropout", t.label_dropout, "expected a probability in [0, 1)")
    _check_grad_accum(config)
    _check_mesh(config)
    _check_profile_steps(t)
    if "augment" in config:
        from experiments.tasks.image import augment_pipe

        augment_pipe(config)  # p and transform names: "config.augment is invalid: ..."
    if t.sample_every < 0:
        _fail("training.sample_every", t.sample_every, "expected >= 0 (0 disables grids)")
    m = config.model
    if m.parameterization not in parameterization.PARAMETERIZATIONS:
        _fail("model.parameterization", m.parameterization,
              f"choose one of {list(parameterization.PARAMETERIZATIONS)}")
    if m.time_input not in parameterization.TIME_INPUTS:
        _fail("model.time_input", m.time_input, f"choose one of {list(parameterization.TIME_INPUTS)}")
    s = config.sampling
    for field, name in [("sampling.sampler", s.sampler)] + [
            (f"eval.samplers[{i}]", n) for i, n in enumerate(config.eval.samplers)]:
        if name not in SAMPLERS:
            _fail(field, name, f"choose one of {sorted(SAMPLERS)}")
    from diffax.samplers import get_sampler

    get_sampler(s.sampler, **dict(s.sampler_kwargs))  # misspelt or refused options fail here
    if s.schedule not in schedules.SCHEDULES:
        _fail("sampling.schedule", s.schedule, f"choose one of {sorted(schedules.SCHEDULES)}")
    if s.params not in ("ema", "params") and not str(s.params).startswith("ema_"):
        _fail("sampling.params", s.params, "use 'ema', 'params' or 'ema_<decay>'")
    if any(n <= 0 for n in config.eval.nfes):
        _fail("eval.nfes", tuple(config.eval.nfes), "expected positive integers")
    from experiments.evaluation import FEATURES, METRICS

    e = config.eval
    bad = [m for m in e.metrics if m not in METRICS]
    if bad:
        _fail("eval.metrics", tuple(e.metrics), f"unknown {bad}; choose from {list(METRICS)}")
    if any(not isinstance(w, (int, float)) or w < 0 for w in e.get("guidance_scales", ())):
        _fail("eval.guidance_scales", tuple(e.guidance_scales),
              "expected non-negative numbers (0: unconditional, 1: conditional, > 1: guided)")
    if e.features not in FEATURES:
        _fail("eval.features", e.features, f"choose one of {list(FEATURES)}")
    if e.features == "inception_v3" and not e.inception_weights:
        _fail("eval.inception_weights", e.inception_weights,
              "features='inception_v3' needs a local .npz of converted weights "
              "(docs/features.md)")
    elif e.features == "inception_v3" and not os.path.isfile(e.inception_weights):
        _fail("eval.inception_weights", e.inception_weights,
              "no such file; convert pytorch-fid's weights with `python -m "
              "experiments.convert_inception_weights --src FILE.pth --out FILE.npz`")
    if e.likelihood_divergence not in ("auto", "exact", "hutchinson"):
        _fail("eval.likelihood_divergence", e.likelihood_divergence,
              "choose one of ['auto', 'exact', 'hutchinson']")
    if e.likelihood_num_examples < 0:
        _fail("eval.likelihood_num_examples", e.likelihood_num_examples, "expected >= 0")
    if not e.likelihood_rtol > 0:
        _fail("eval.likelihood_rtol", e.likelihood_rtol, "expected > 0")
