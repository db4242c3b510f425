"""``--mode=inverse``: solve an inverse problem with a trained unconditional model.

Reads ``config.inverse`` (operator ``task``, method, NFE, options), restores the
checkpoint of ``workdir`` (trained with the same model config), measures the first
``num_images`` held-out examples (in model space, as the pipeline and the experiment's
task deliver them) with the operator and noise, reconstructs them with a
:mod:`diffax.inverse` solver, and writes a JSON with PSNR, measurement residual and wall
time, and the task's picture (:meth:`experiments.tasks.Task.inverse_pictures`; images:
``workdir/inverse/<task>_<method>_nfe<N>.png``, rows measurement, reconstruction, truth).
``inpaint_random`` fits data of any shape; ``inpaint_box`` and ``sr4`` need images.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from diffax import filesystem as fs
from diffax import inverse, training
from diffax.samplers import schedules

TASKS = ("inpaint_box", "inpaint_random", "sr4")


def make_operator(task: str, shape: tuple[int, ...], key: jax.Array):
    """The forward operator of ``task`` for examples of ``shape`` ((H, W, C) for the image
    operators ``inpaint_box`` and ``sr4``)."""
    if task not in TASKS:
        raise ValueError(f"inverse.task: unknown {task!r}; valid choices: {list(TASKS)}.")
    if task == "inpaint_random":  # 70% of the values are missing
        return inverse.Mask(mask=(jax.random.uniform(key, shape) > 0.7).astype(jnp.float32))
    if len(shape) != 3:
        raise ValueError(f"inverse.task={task!r} needs images (H, W, C), but the examples "
                         f"have shape {shape}; use inverse.task='inpaint_random'.")
    h, w, c = shape
    if task == "inpaint_box":  # the central half of the image is missing
        m = np.ones(shape, np.float32)
        m[h // 4: h - h // 4, w // 4: w - w // 4] = 0.0
        return inverse.Mask(mask=jnp.asarray(m))
    return inverse.Downsample(factor=4)


def _display_measurement(op, y: np.ndarray, shape) -> np.ndarray:
    """Measurements drawn in image space: masked pixels gray, low-res upsampled."""
    if isinstance(op, inverse.Mask):
        m = np.asarray(op.mask)
        return np.where(m > 0, y, 0.0)
    return np.asarray(op.pinv(jnp.asarray(y), shape))


def psnr(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-example PSNR in dB for data in [-1, 1] (peak-to-peak 2; images in model
    space)."""
    mse = np.mean((np.clip(x, -1, 1) - ref) ** 2, axis=tuple(range(1, x.ndim)))
    return 10 * np.log10(4.0 / np.maximum(mse, 1e-12))


def solve(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Run ``config.inverse`` on ``workdir``'s checkpoint; returns the metrics record."""
    from experiments import runner

    if "inverse" not in config:
        raise ValueError("--mode=inverse needs a config with an `inverse` section, e.g. "
                         "configs/image/fashion_mnist_inpaint.py or fashion_mnist_sr4.py.")
    inv = config.inverse
    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    apply = training.network_apply(graphdef)
    test = runner.build(config, split="test")
    n = inv.num_images
    truth = np.asarray(test.examples(np.arange(n))["x"], np.float32)
    key = jax.random.PRNGKey(inv.seed)
    k_op, k_noise, k_init, k_solve = jax.random.split(key, 4)
    op = make_operator(inv.task, truth.shape[1:], k_op)
    clean = op(jnp.asarray(truth))
    y = clean + inv.noise_std * jax.random.normal(k_noise, clean.shape)
    if isinstance(op, inverse.Mask):
        y = op(y)
    solver = inverse.get_solver(inv.method)
    timesteps = schedules.get_schedule(inv.schedule, exp.process, inv.nfe)
    options = inverse.solver_options(inv.method, inv.noise_std, inv.options)

    @jax.jit
    def run(params, key_init, key_solve):
        model_fn = exp.model_fn(lambda x, c, **kw: apply(params, state.buffers, x, c, **kw))
        x_init = inverse.initial_state(
            inv.method, exp.process.prior_sample(key_init, (n, *exp.data_shape)))
        return solver(model_fn, exp.process, x_init, timesteps, operator=op, y=y,
                      key=key_solve, prediction=exp.kind, **options)

    out = run(params, k_init, k_solve)
    jax.block_until_ready(out.x)
    t0 = time.perf_counter()
    out = run(params, k_init, k_solve)
    x = np.asarray(jax.block_until_ready(out.x))
    wall = time.perf_counter() - t0
    shown = _display_measurement(op, np.asarray(y), truth.shape[1:])
    name = f"{inv.task}_{inv.method}_nfe{out.nfe}"
    out_dir = fs.join(workdir, "inverse")
    picture = exp.task.inverse_pictures(shown, x, truth, fs.join(out_dir, name + ".png"))
    residual = np.asarray(jnp.sqrt(jnp.mean((op(jnp.asarray(x)) - y) ** 2)))
    record = {"task": inv.task, "method": inv.method, "nfe": out.nfe, "num_images": n,
              "noise_std": inv.noise_std, "options": options, "wall_s": wall,
              "psnr_db": float(psnr(x, truth).mean()),
              "psnr_measurement_db": float(psnr(shown, truth).mean()),
              "measurement_rmse": float(residual), "step": int(state.step),
              "png": fs.join(out_dir, name + ".png") if picture is not None else None}
    fs.write_json(fs.join(out_dir, name + ".json"), record, indent=1)
    print(f"[diffax] inverse: {json.dumps(record)}", flush=True)
    return record


__all__ = ["TASKS", "make_operator", "psnr", "solve"]
