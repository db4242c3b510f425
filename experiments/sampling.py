"""Sampling functions of a built experiment (:func:`experiments.runner.build`): a jitted
sampler call with the task's conditioning, classifier-free guidance and optionally the
sampler's last states, and held-out examples to plot next to samples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax import training
from diffax.guidance import classifier_free_guidance
from diffax.samplers import get_sampler, sampler_info, schedules

if TYPE_CHECKING:
    from experiments.runner import Experiment


def data_reference(exp: Experiment, n: int) -> np.ndarray:
    """``n`` examples of the experiment's split (for plots next to samples)."""
    batches, rows, i = [], 0, 0
    while rows < n:
        batches.append(exp.pipeline.batch(i)["x"])
        rows += len(batches[-1])
        i += 1
    return np.concatenate(batches)[:n]


def make_sample_fn(exp: Experiment, graphdef: nnx.GraphDef, *, num_samples: int,
                   sampler: str | None = None, nfe: int | None = None,
                   schedule: str | None = None, guidance_scale: float | None = None,
                   labels: np.ndarray | None = None, with_nfe: bool = False,
                   keep_states: int = 1) -> Callable:
    """A jitted ``fn(buffers, params, key, condition=None) -> samples`` using the config's
    sampler (overridable); ``with_nfe=True`` returns ``(samples, nfe spent)`` (adaptive
    samplers report what they spent). ``keep_states=k > 1`` returns the sampler's last
    k states (k, num_samples, ...) instead, the final sample last. ``condition`` (arrays with ``num_samples`` rows)
    replaces the task's :meth:`~experiments.tasks.Task.sample_condition`: class-conditional
    models sample labels 0, 1, ..., cycling (or ``labels``), with classifier-free guidance
    when ``guidance_scale != 1``."""
    s = exp.config.sampling
    sampler = sampler or s.sampler
    nfe = nfe or s.nfe
    schedule = schedule or s.schedule
    scale = s.guidance_scale if guidance_scale is None else guidance_scale
    info = sampler_info(sampler)
    steps = info.steps_for_nfe(nfe)
    if keep_states > 1 and (info.adaptive or keep_states > steps + 1):
        raise ValueError(f"keep_states={keep_states}: sampler {sampler!r} "
                         + ("is adaptive (no fixed trajectory)" if info.adaptive else
                            f"takes {steps} steps at NFE {nfe} (at most {steps + 1} states)")
                         + "; lower the kept states or pick a fixed-step sampler / more NFE.")
    timesteps = schedules.get_schedule(schedule, exp.process, steps)
    solve = get_sampler(sampler, **dict(s.sampler_kwargs))
    apply = training.network_apply(graphdef)
    default = jax.tree.map(jnp.asarray, exp.task.sample_condition(exp.spec, num_samples, labels))

    @jax.jit
    def run(buffers, params, key, cond):
        model_fn = exp.model_fn(lambda x, c, **kw: apply(params, buffers, x, c, **kw))
        if "label" in cond and scale != 1.0:
            model_fn = classifier_free_guidance(model_fn, scale, {"label": exp.num_classes})
        k_init, k_solve = jax.random.split(key)
        x_init = exp.process.prior_sample(k_init, (num_samples, *exp.data_shape))
        kwargs = {"key": k_solve} if info.stochastic else {}
        if keep_states > 1:
            kwargs["return_trajectory"] = True
        out = solve(model_fn, exp.process, x_init, timesteps, prediction=exp.kind, cond=cond,
                    **kwargs)
        if keep_states > 1:
            return jax.vmap(exp.task.from_model)(out.trajectory[-keep_states:]), out.nfe
        return exp.task.from_model(out.x), out.nfe

    def sample_fn(buffers, params, key, condition: dict | None = None):
        cond = default if condition is None else jax.tree.map(jnp.asarray, condition)
        x, spent = run(buffers, params, key, cond)
        return (x, spent) if with_nfe else x

    return sample_fn


__all__ = ["data_reference", "make_sample_fn"]
