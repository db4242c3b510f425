"""Noise-data couplings within a batch: minibatch optimal transport (OT-CFM) and
Immiscible diffusion (linear assignment, and its KNN variant).

A denoising or flow-matching loss pairs each data point x0_i with a noise draw eps_i.
The independent coupling draws them independently. The couplings here keep the same
marginals over the batch (every noise draw is used once) but choose *which* draw goes
with which image:

* **Minibatch OT** (Tong et al., 2023, "Improving and generalizing flow-based generative
  models with minibatch optimal transport", OT-CFM; Pooladian et al., 2023, "Multisample
  Flow Matching"): the permutation pi minimising the squared Euclidean cost

      pi = argmin_pi sum_i || x0_i - eps_{pi(i)} ||^2,

  solved exactly by :func:`diffax.metrics.assignment.linear_sum_assignment`. Since
  ``||x||^2`` and ``||eps||^2`` do not depend on pi, the assignment uses the equivalent
  cost ``-2 <x0_i, eps_j>`` (fewer cancellations in float32). As the batch grows the
  minibatch plan tends to the OT plan, so the rectified-flow velocity field of the
  coupled pairs tends to the (straight) displacement field of the OT map.
* **Immiscible diffusion** (Li et al., 2024, "Immiscible Diffusion: Accelerating
  Diffusion Training with Noise Assignment"): the same assignment of noise to images,
  used with any diffusion loss; ``"knn"`` is its cheap variant where each image draws
  ``k`` candidate noises and keeps the nearest one, ``eps_i = argmin_{z in {z_i^1..z_i^k}}
  ||x0_i - z||`` (independent across images, no assignment; ``k = 1`` is the
  independent coupling).

:func:`couple` applies a named coupling to ``(x0, eps)`` and is usable by any objective
inside its loss; :func:`coupling_transform` is the batch transform that writes the coupled
noise into the batch (for objectives that read it, e.g. reflow's batch mode);
:func:`coupled_loss` is the denoising / flow-matching regression of
:mod:`diffax.losses.denoising` with coupled noise, and :func:`coupled_objective` wraps it
as an objective (``ot_cfm``: ``RectifiedFlow`` + velocity; ``immiscible``: any process
and parameterization). Under data parallelism the assignment runs over the global batch.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import LossFn, ModelFn, compute_dtype, split_batch
from diffax.losses.denoising import dsm_objective, weighting_and_time_sampler
from diffax.metrics.assignment import linear_sum_assignment
from diffax.objectives.denoising import DenoisingObjective, loss_options
from diffax.parameterization import check_parameterization
from diffax.processes.base import GaussianProcess
from diffax.processes.rectified_flow import RectifiedFlow

Array = jax.Array
COUPLINGS = ("independent", "ot", "knn")


def _flat(x: Array) -> Array:
    return x.reshape(x.shape[0], -1)


def pairing_cost(x0: Array, eps: Array) -> Array:
    """The (B, B) squared Euclidean cost ``C[i, j] = ||x0_i - eps_j||^2`` (flattened
    examples)."""
    a, b = _flat(x0), _flat(eps)
    diff = a[:, None, :] - b[None, :, :]
    return jnp.sum(diff * diff, axis=-1)


def ot_assignment(x0: Array, eps: Array) -> Array:
    """The permutation ``pi`` (shape (B,), int32) minimising ``sum_i ||x0_i - eps_pi(i)||^2``
    exactly (Hungarian method; costs ``-2 <x0_i, eps_j>``, equivalent, see module)."""
    if x0.shape != eps.shape or x0.ndim < 1:
        raise ValueError(f"ot_assignment: x0 and eps must have the same shape (B, ...), got "
                         f"{x0.shape} and {eps.shape}.")
    dtype = jnp.promote_types(x0.dtype, jnp.float32)
    a, b = _flat(x0).astype(dtype), _flat(eps).astype(dtype)
    cost = -2.0 * (a @ b.T)
    return linear_sum_assignment(jax.lax.stop_gradient(cost))


def knn_noise(x0: Array, candidates: Array) -> tuple[Array, Array]:
    """Immiscible-KNN: for each image the nearest of its ``k`` candidate noises.

    ``candidates`` has shape ``(k, B, ...)``; returns ``(eps, index)`` with ``eps[i] =
    candidates[index[i], i]`` and ``index[i] = argmin_j ||x0_i - candidates[j, i]||``."""
    if candidates.ndim != x0.ndim + 1 or candidates.shape[1:] != x0.shape:
        raise ValueError(f"knn_noise: candidates must have shape (k,) + x0.shape = "
                         f"(k, {', '.join(map(str, x0.shape))}), got {candidates.shape}.")
    d2 = jnp.sum((candidates - x0[None]).reshape(candidates.shape[0], x0.shape[0], -1) ** 2,
                 axis=-1)
    index = jnp.argmin(d2, axis=0)
    eps = jnp.take_along_axis(candidates, index.reshape((1, -1) + (1,) * (x0.ndim - 1)),
                              axis=0)[0]
    return eps, index


def couple(coupling: str, x0: Array, key: Array, *, k: int = 4, dtype: Any = None) -> Array:
    """Draw standard normal noise for ``x0`` (B, ...) and couple it: returns ``eps`` with
    ``eps[i]`` the noise paired with ``x0[i]``.

    ``coupling``: ``"independent"`` (plain draws), ``"ot"`` (the exact minibatch
    assignment, :func:`ot_assignment`) or ``"knn"`` (nearest of ``k`` draws per image,
    :func:`knn_noise`)."""
    checks.choice("couple", "coupling", coupling, COUPLINGS)
    dtype = dtype or x0.dtype
    if coupling == "knn":
        checks.positive_int("couple", "k", k)
        candidates = jax.random.normal(key, (k,) + x0.shape, dtype)
        return knn_noise(jax.lax.stop_gradient(x0), candidates)[0]
    eps = jax.random.normal(key, x0.shape, dtype)
    if coupling == "independent":
        return eps
    return eps[ot_assignment(x0, eps)]


def coupling_transform(coupling: str = "ot", *, k: int = 4,
                       key_name: str = "noise") -> Callable[[dict, Array], dict]:
    """The batch transform ``transform(batch, key)`` (``make_train_step(...,
    batch_transform=...)``) that adds the coupled noise of ``batch["x"]`` as
    ``batch[key_name]``; with :func:`diffax.objectives.reflow.reflow_objective` in batch
    mode (``coupling=None``) it trains OT-CFM (``"ot"``) or its KNN variant."""
    checks.choice("coupling_transform", "coupling", coupling, COUPLINGS)
    checks.positive_int("coupling_transform", "k", k)

    def transform(batch: dict, key: Array) -> dict:
        x0 = jnp.asarray(batch["x"])
        dtype = compute_dtype(x0)
        return {**batch, key_name: couple(coupling, x0.astype(dtype), key, k=k, dtype=dtype)}

    return transform


def coupled_loss(process: GaussianProcess, *, kind: str, coupling: str = "ot", k: int = 4,
                 weighting: str = "uniform", time_sampling: str = "uniform",
                 **options: Any) -> LossFn:
    """The denoising regression of :func:`diffax.losses.denoising_loss` (same target,
    weighting and time sampling; ``kind="velocity"`` on ``RectifiedFlow`` is conditional
    flow matching) with the noise coupled to the batch by :func:`couple`.

    aux adds ``pairing_cost``: the batch mean of ``||x0_i - eps_i||^2`` per element."""
    where = "coupled_loss"
    checks.choice(where, "coupling", coupling, COUPLINGS)
    checks.positive_int(where, "k", k)
    weight_fn, sample_t = weighting_and_time_sampler(process, kind, weighting, time_sampling,
                                                     options, where=where)

    def loss_fn(model_fn: ModelFn, batch: dict, key: Array) -> tuple[Array, dict]:
        x0, cond = split_batch(batch, where)
        dtype = compute_dtype(x0)
        x0 = x0.astype(dtype)
        k_t, k_eps = jax.random.split(key)
        t = sample_t(k_t, x0.shape[0], dtype)
        eps = couple(coupling, x0, k_eps, k=k, dtype=dtype)
        cost = jnp.mean((x0 - eps) ** 2)
        return dsm_objective(model_fn, process, kind, x0, cond, t, eps, weight_fn(t),
                             where=where, extra_aux={"pairing_cost": cost})

    return loss_fn


def coupled_objective(process: GaussianProcess, *, coupling: str = "ot", k: int = 4,
                      loss_kwargs: dict | None = None, parameterization: str = "eps",
                      time_input: str = "t", sigma_data: float = 0.5) -> DenoisingObjective:
    """Immiscible diffusion (``coupling="ot"`` or ``"knn"``) for any process and
    parameterization: the denoising objective with :func:`coupled_loss`. ``loss_kwargs``
    take ``weighting``, ``time_sampling`` and their options (as ``loss="dsm"``)."""
    check_parameterization(parameterization, time_input)
    options = loss_options("dsm", loss_kwargs or {}, parameterization, sigma_data)
    kind = options.pop("kind")
    loss = coupled_loss(process, kind=kind, coupling=coupling, k=k, **options)
    return DenoisingObjective(loss, process, parameterization, time_input, sigma_data)


def ot_cfm_objective(process: GaussianProcess = RectifiedFlow(), *, loss_kwargs: dict | None = None,
                     time_input: str = "t") -> DenoisingObjective:
    """OT-CFM: flow matching (a velocity model) with the exact minibatch OT coupling."""
    return coupled_objective(process, coupling="ot", loss_kwargs=loss_kwargs,
                             parameterization="velocity", time_input=time_input)


__all__ = ["COUPLINGS", "couple", "coupled_loss", "coupled_objective", "coupling_transform",
           "knn_noise", "ot_assignment", "ot_cfm_objective", "pairing_cost"]
