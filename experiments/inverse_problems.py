"""``--mode=inverse``: solve an image inverse problem with a trained unconditional model.

Reads ``config.inverse`` (task, method, NFE, options), restores the checkpoint of
``workdir`` (trained with the same model config), measures the first ``num_images`` test
images with the task's operator and noise, reconstructs them with a
:mod:`diffax.inverse` solver, and writes ``workdir/inverse/<task>_<method>_nfe<N>.png``
(rows: measurement, reconstruction, ground truth) and a JSON with PSNR, measurement
residual and wall time.
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
from diffax.data import save_image_grid
from diffax.samplers import schedules

TASKS = ("inpaint_box", "inpaint_random", "sr4")


def make_operator(task: str, shape: tuple[int, ...], key: jax.Array):
    """The forward operator of ``task`` for images of ``shape`` (H, W, C)."""
    h, w, c = shape
    if task == "inpaint_box":  # the central half of the image is missing
        m = np.ones(shape, np.float32)
        m[h // 4: h - h // 4, w // 4: w - w // 4] = 0.0
        return inverse.Mask(mask=jnp.asarray(m))
    if task == "inpaint_random":  # 70% of the pixels are missing
        return inverse.Mask(mask=(jax.random.uniform(key, shape) > 0.7).astype(jnp.float32))
    if task == "sr4":
        return inverse.Downsample(factor=4)
    raise ValueError(f"inverse.task: unknown {task!r}; valid choices: {list(TASKS)}.")


def _display_measurement(op, y: np.ndarray, shape) -> np.ndarray:
    """Measurements drawn in image space: masked pixels gray, low-res upsampled."""
    if isinstance(op, inverse.Mask):
        m = np.asarray(op.mask)
        return np.where(m > 0, y, 0.0)
    return np.asarray(op.pinv(jnp.asarray(y), shape))


def psnr(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB for images in [-1, 1] (peak-to-peak 2)."""
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
    truth = test.dataset.x[:n].astype(np.float32) / 127.5 - 1.0
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
    cols = min(n, 16)
    grid = np.concatenate([shown[:cols], np.clip(x[:cols], -1, 1), truth[:cols]])
    save_image_grid(grid, fs.join(out_dir, name + ".png"), nrow=cols, scale=4)
    residual = np.asarray(jnp.sqrt(jnp.mean((op(jnp.asarray(x)) - y) ** 2)))
    record = {"task": inv.task, "method": inv.method, "nfe": out.nfe, "num_images": n,
              "noise_std": inv.noise_std, "options": options, "wall_s": wall,
              "psnr_db": float(psnr(x, truth).mean()),
              "psnr_measurement_db": float(psnr(shown, truth).mean()),
              "measurement_rmse": float(residual), "step": int(state.step),
              "png": fs.join(out_dir, name + ".png")}
    fs.write_json(fs.join(out_dir, name + ".json"), record, indent=1)
    print(f"[diffax] inverse: {json.dumps(record)}", flush=True)
    return record


__all__ = ["TASKS", "make_operator", "psnr", "solve"]
