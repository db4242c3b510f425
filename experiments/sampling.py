"""Sampling functions of a built experiment (:func:`experiments.runner.build`): a jitted
sampler call with the task's conditioning, classifier-free guidance and optionally the
sampler's last states, split over the devices and hosts of a mesh, and held-out examples
to plot next to samples."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from diffax import training
from diffax.training import host_arrays
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


class SampleFn:
    """A sampler call of :func:`make_sample_fn`; ``fn(buffers, params, key, condition=None)``
    returns the samples as a NumPy array on every host (``(samples, nfe spent)`` when built
    ``with_nfe``), :meth:`sharded` the global jax arrays before the padding is cut."""

    def __init__(self, run: Callable, mesh: Mesh, num_samples: int, default: dict,
                 with_nfe: bool, keep_states: int):
        self.mesh, self.num_samples = mesh, num_samples
        self.padded = host_arrays.padded_count(num_samples, mesh)
        self.with_nfe, self.keep_states = with_nfe, keep_states
        self._run = run
        self._default = self._place(default)

    def _place(self, condition: dict) -> dict:
        for name, value in condition.items():
            rows = np.shape(value)[0] if np.ndim(value) else None
            if rows != self.num_samples:
                raise ValueError(f"sample_fn: condition {name!r} has {rows} rows; it needs "
                                 f"num_samples={self.num_samples} (one per sample).")
        return host_arrays.global_rows(condition, self.mesh, self.padded)

    def sharded(self, buffers, params, key: jax.Array, condition: dict | None = None
                ) -> tuple[jax.Array, jax.Array]:
        """``(x, nfe)``: ``x`` (padded, ...) (or (k, padded, ...) for ``keep_states=k``)
        split along the mesh's "data" axis, rows ``num_samples..padded-1`` the padding;
        ``nfe`` replicated."""
        return self._run(*self._args(buffers, params, key, condition))

    def lower(self, buffers, params, key: jax.Array, condition: dict | None = None):
        """The jitted program lowered for these arguments (``.compile().cost_analysis()``
        gives the work per device)."""
        return self._run.lower(*self._args(buffers, params, key, condition))

    def _args(self, buffers, params, key, condition) -> tuple:
        buffers, params, key = host_arrays.on_mesh((buffers, params, key), self.mesh)
        cond = self._default if condition is None else self._place(dict(condition))
        return buffers, params, key, cond

    def __call__(self, buffers, params, key: jax.Array, condition: dict | None = None):
        x, spent = host_arrays.to_host(self.sharded(buffers, params, key, condition))
        x = x[:self.num_samples] if self.keep_states == 1 else x[:, :self.num_samples]
        return (x, spent) if self.with_nfe else x


def make_sample_fn(exp: Experiment, graphdef: nnx.GraphDef, *, num_samples: int,
                   sampler: str | None = None, nfe: int | None = None,
                   schedule: str | None = None, guidance_scale: float | None = None,
                   labels: np.ndarray | None = None, with_nfe: bool = False,
                   keep_states: int = 1, mesh: Mesh | None = None) -> SampleFn:
    """A jitted ``fn(buffers, params, key, condition=None) -> samples`` using the config's
    sampler (overridable); ``with_nfe=True`` returns ``(samples, nfe spent)`` (adaptive
    samplers report what they spent). ``keep_states=k > 1`` returns the sampler's last
    k states (k, num_samples, ...) instead, the final sample last. ``condition`` (arrays
    with ``num_samples`` rows, the same on every host) replaces the task's
    :meth:`~experiments.tasks.Task.sample_condition`: class-conditional models sample
    labels 0, 1, ..., cycling (or ``labels``), with classifier-free guidance when
    ``guidance_scale != 1``.

    Sharding: the samples are split along the "data" axis of ``mesh`` (default
    :func:`diffax.training.make_mesh`, every device of every host; on a mesh with a "model"
    axis, rows go over "data" only). Parameters stay as placed on ``mesh`` (replicated, or
    FSDP-sharded) or are replicated onto it; the key is replicated. The initial noise is
    drawn for ``num_samples`` rows and, when that count does not split over the data axis,
    padded to the next multiple by repeating the last row (condition rows likewise); the
    padding is cut off before the samples are returned. Random draws do not depend on the
    sharding (``jax_threefry_partitionable``), so a mesh of any size gives the samples of
    one device for the same key, up to float rounding of the different XLA programs. The
    result is a NumPy array, the same on every host (:func:`host_arrays.to_host`);
    ``fn.sharded(...)`` gives the global arrays before the cut.
    """
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
    mesh = training.make_mesh() if mesh is None else mesh
    padded = host_arrays.padded_count(num_samples, mesh)
    rows = host_arrays.rows_sharding(mesh)
    out_rows = rows if keep_states == 1 else host_arrays.rows_sharding(mesh, axis=1)

    @functools.partial(jax.jit, out_shardings=(out_rows, training.sharding.replicated(mesh)))
    def run(buffers, params, key, cond):
        model_fn = exp.model_fn(lambda x, c, **kw: apply(params, buffers, x, c, **kw))
        if "label" in cond and scale != 1.0:
            model_fn = classifier_free_guidance(model_fn, scale, {"label": exp.num_classes})
        k_init, k_solve = jax.random.split(key)
        x_init = exp.process.prior_sample(k_init, (num_samples, *exp.data_shape))
        x_init = jax.lax.with_sharding_constraint(host_arrays.pad_rows(x_init, padded), rows)
        kwargs = {"key": k_solve} if info.stochastic else {}
        if keep_states > 1:
            kwargs["return_trajectory"] = True
        out = solve(model_fn, exp.process, x_init, timesteps, prediction=exp.kind, cond=cond,
                    **kwargs)
        if keep_states > 1:
            return jax.vmap(exp.task.from_model)(out.trajectory[-keep_states:]), out.nfe
        return exp.task.from_model(out.x), out.nfe

    default = exp.task.sample_condition(exp.spec, num_samples, labels)
    return SampleFn(run, mesh, num_samples, default, with_nfe, keep_states)


__all__ = ["SampleFn", "data_reference", "make_sample_fn"]
