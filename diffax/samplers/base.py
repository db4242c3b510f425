"""The one sampler signature, its output, and helpers every sampler shares.

Every sampler in :mod:`diffax.samplers` is a function

    sampler(model_fn, process, x_init, timesteps, *, prediction="eps", key=None,
            return_trajectory=False, **options) -> SampleOutput

* ``model_fn(x, t, **cond)``: the network; ``t`` has shape ``(B,)``. ``prediction``
  declares what it predicts (one of :data:`diffax.predictions.KINDS`); samplers
  convert only through :mod:`diffax.predictions`.
* ``process``: a :class:`diffax.processes.GaussianProcess`.
* ``x_init``: the starting state at ``timesteps[0]`` (usually a prior sample).
* ``timesteps``: 1-D array ``t_0 > t_1 > ... > t_N`` (see :mod:`.schedules`); the
  sampler takes N steps and returns the state at ``t_N``. Inversion samplers take an
  increasing array.
* ``key``: PRNG key, required by stochastic samplers.

Samplers precompute coefficient tables from ``timesteps`` and run a branch-free
``lax.scan``; they jit, vmap and differentiate. :class:`SampleOutput` reports the
exact number of model evaluations (NFE) and optionally the trajectory.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diffax import checks, predictions
from diffax.processes.base import GaussianProcess

Array = jax.Array
ModelFn = Callable[..., Array]


class SampleOutput(struct.PyTreeNode):
    """Result of a sampler: final state, exact NFE, optional trajectory.

    ``trajectory`` has shape ``(N + 1, *x.shape)`` (states at every timestep,
    ``x_init`` first) when requested, else ``None``.
    """

    x: Array
    trajectory: Array | None = None
    nfe: int = struct.field(pytree_node=False, default=0)


class AdaptiveSampleOutput(struct.PyTreeNode):
    """Result of an adaptive sampler (its steps depend on the data).

    ``x``: state at ``timesteps[-1]`` if ``success``, else where the solver stopped;
    ``trajectory``: states at every timestep (or None); ``nfe``: model evaluations
    actually spent (an int32 array, so it jits and vmaps); ``num_accepted`` /
    ``num_rejected``: trial steps; ``success``: whether the end time was reached within
    the solver's ``max_steps``.
    """

    x: Array
    trajectory: Array | None
    nfe: Array
    num_accepted: Array
    num_rejected: Array
    success: Array


def batch_time(t: Any, x: Array) -> Array:
    """Broadcast a scalar time to one time per example, shape ``(B,)``."""
    return jnp.full((x.shape[0],), t, dtype=x.dtype)


def predictor(model_fn: ModelFn, prediction: str, process: GaussianProcess,
              target: str, cond: dict | None = None) -> Callable[[Array, Array], Array]:
    """``f(x, t_scalar)`` evaluating the model once and returning kind ``target``."""
    predictions.check_kind(prediction)
    predictions.check_kind(target)
    cond = cond or {}

    def f(x, t):
        tb = batch_time(t, x)
        return predictions.convert(model_fn(x, tb, **cond), prediction, target, x, tb, process)

    return f


def x0_eps_predictor(model_fn: ModelFn, prediction: str, process: GaussianProcess,
                     cond: dict | None = None) -> Callable[[Array, Array], tuple[Array, Array]]:
    """``f(x, t_scalar) -> (x0, eps)`` from one model evaluation."""
    predictions.check_kind(prediction)
    cond = cond or {}

    def f(x, t):
        tb = batch_time(t, x)
        return predictions.to_x0_eps(prediction, model_fn(x, tb, **cond), x, tb, process)

    return f


def check_timesteps(timesteps: Any, process: GaussianProcess, *, increasing: bool = False,
                    min_len: int = 2, name: str = "sampler") -> Array:
    """Validate a 1-D time grid (when concrete) and return it as an array.

    Decreasing from t_0 to t_N for sampling (increasing for inversion), inside the
    process's [t_min, t_max] up to a small tolerance.
    """
    ts = jnp.asarray(timesteps)
    if ts.ndim != 1 or ts.shape[0] < min_len:
        raise ValueError(f"{name}: timesteps must be 1-D with at least {min_len} entries, "
                         f"got shape {ts.shape}.")
    c = checks.concrete(timesteps)
    if c is None:
        return ts
    d = np.diff(c)
    if increasing and not np.all(d > 0):
        raise ValueError(f"{name}: inversion timesteps must increase strictly; got {c}.")
    if not increasing and not np.all(d < 0):
        raise ValueError(f"{name}: timesteps must decrease strictly from t_max towards "
                         f"t_min (a decreasing grid t_0 > ... > t_N; use "
                         f"diffax.samplers.schedules); got {c}.")
    tol = 1e-6 * max(1.0, abs(process.t_max))
    if c.min() < process.t_min - tol or c.max() > process.t_max + tol:
        raise ValueError(f"{name}: timesteps span [{c.min()}, {c.max()}], outside the "
                         f"process interval [t_min={process.t_min}, t_max={process.t_max}].")
    return ts


def last_step_mask(n: int, denoise: bool, dtype) -> Array:
    """Per-step noise multipliers: ones, with the last set to 0 when ``denoise``."""
    mask = jnp.ones((n,), dtype)
    return mask.at[-1].set(0.0) if denoise else mask


def require_key(key: Any, name: str) -> Array:
    if key is None:
        raise ValueError(f"{name} is stochastic: pass key=jax.random.key(seed).")
    return key


def run_scan(step: Callable, carry: Any, xs: Any, x_of: Callable[[Any], Array],
             x_init: Array, return_trajectory: bool) -> tuple[Any, Array | None]:
    """``lax.scan`` a step ``(carry, xs_i) -> carry``; optionally stack ``x_of(carry)``.

    Returns ``(final_carry, trajectory or None)``; the trajectory starts with x_init.
    Each new carry is cast back to the dtypes of ``carry``, so float32 states stay
    float32 when the time grid or coefficient tables are float64 (x64 enabled).
    """
    dtypes = jax.tree.map(lambda a: jnp.asarray(a).dtype, carry)

    def body(c, inp):
        c = jax.tree.map(lambda a, d: a.astype(d), step(c, inp), dtypes)
        return c, (x_of(c) if return_trajectory else None)

    carry, traj = jax.lax.scan(body, carry, xs)
    if return_trajectory:
        traj = jnp.concatenate([x_init[None], traj], axis=0)
    return carry, traj
