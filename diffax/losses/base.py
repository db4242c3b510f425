"""The loss interface shared by every training objective, and its small helpers.

A loss is a pure function

    loss_fn(model_fn, batch, key) -> (loss, aux)

* ``model_fn(x_t, t, **cond)`` returns a prediction of the same shape as ``x_t``;
  ``t`` has shape ``(B,)``.
* ``batch`` is a dict with ``"x"`` of shape ``(B, ...)`` (float data in model space)
  and optional conditioning entries (e.g. ``"label"`` of shape ``(B,)``); every key
  but ``"x"`` and ``"loss_mask"`` is passed to ``model_fn`` as a keyword argument.
* ``batch["loss_mask"]`` (optional, broadcastable to ``x``'s shape, values in [0, 1])
  restricts the regression to the elements it marks: the imputation targets of CSDI
  (Tashiro et al. 2021), the real points of a padded set, the valid steps of a
  variable-length series. It never reaches the model (:data:`LOSS_MASK`).
* ``key`` is a PRNG key; the loss draws its own noise levels and noise from it.
* ``loss`` is a scalar; ``aux`` is a dict of scalars and per-example arrays (at least
  ``"loss"`` and ``"t"``).

The training layer binds parameters, e.g.
``lambda params, batch, key: loss_fn(lambda x, t, **c: apply(params, x, t, **c), batch, key)``.
Losses contain no Python control flow on traced values, so they jit, vmap and grad.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.processes.protocol import family_of

Array = jax.Array
ModelFn = Callable[..., Array]
LossFn = Callable[[ModelFn, dict, Array], tuple[Array, dict]]
# sample_t(key, batch_size, dtype) -> t of shape (batch_size,)
TimeSampler = Callable[[Array, int, Any], Array]
# weight_fn(t) -> per-example loss weight of shape t.shape
WeightFn = Callable[[Array], Array]
# the batch key of the element mask of the regression (never passed to the model)
LOSS_MASK = "loss_mask"


def check_process(process: Any, where: str) -> GaussianProcess:
    """Raise a ValueError unless ``process`` is a diffax ``GaussianProcess`` (the losses
    here are those of the ``"gaussian"`` family)."""
    if not isinstance(process, GaussianProcess):
        family = family_of(process)
        raise ValueError(
            f"{where}: process must be a diffax GaussianProcess (family 'gaussian': "
            f"VPLinear, VPCosine, DiscreteDDPM, SubVP, VE, EDM, RectifiedFlow, ...), got "
            f"{type(process).__name__}{f' of family {family!r}' if family else ''}."
        )
    return process


def split_options(where: str, options: Mapping[str, Any],
                  groups: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Distribute keyword ``options`` over named groups of ``{option: default}``.

    Returns one dict per group (defaults filled in, in the order of ``groups``); an
    option that no group accepts raises a ValueError listing the valid ones.
    """
    valid = sorted({name for defaults in groups.values() for name in defaults})
    unknown = sorted(set(options) - set(valid))
    if unknown:
        owners = ", ".join(groups)
        raise ValueError(
            f"{where}: unknown option(s) {unknown} for {owners}; valid options: {valid}."
        )
    return [{name: options.get(name, default) for name, default in defaults.items()}
            for defaults in groups.values()]


def split_batch(batch: Any, where: str) -> tuple[Array, dict]:
    """``(x0, cond)`` from a batch dict: ``x0 = batch["x"]``, ``cond`` = every other entry.

    Checks run on static information only (keys, shapes, dtypes), so they work under jit.
    """
    if not isinstance(batch, Mapping):
        raise ValueError(f"{where}: batch must be a dict with an 'x' entry, got "
                         f"{type(batch).__name__}.")
    if "x" not in batch:
        raise ValueError(f"{where}: batch has no 'x' entry (data of shape (B, ...)); got "
                         f"keys {sorted(batch)}.")
    x0 = jnp.asarray(batch["x"])
    if x0.ndim < 1 or x0.shape[0] < 1:
        raise ValueError(f"{where}: batch['x'] must have shape (B, ...) with B >= 1, got "
                         f"shape {x0.shape}.")
    checks.floating(where, "batch['x']", x0)
    cond = {k: v for k, v in batch.items() if k != "x"}
    return x0, cond


def compute_dtype(x: Array):
    """The dtype the loss is computed in: that of ``x``, at least float32."""
    return jnp.promote_types(x.dtype, jnp.float32)


def per_example_mse(pred: Array, target: Array) -> Array:
    """Mean over all but the leading axis of ``(pred - target)^2``; shape ``(B,)``."""
    sq = (pred - target) ** 2
    return jnp.mean(sq, axis=tuple(range(1, sq.ndim)))


def masked_mse(pred: Array, target: Array, mask: Array) -> tuple[Array, Array]:
    """``(mse_b, n_b)``: the mean of ``(pred - target)^2`` over the elements of example
    ``b`` that ``mask`` marks, and their count ``n_b = sum mask_b`` (an example with no
    marked element has ``mse_b = 0``)."""
    mask = jnp.broadcast_to(mask.astype(pred.dtype), pred.shape)
    axes = tuple(range(1, pred.ndim))
    count = jnp.sum(mask, axis=axes)
    total = jnp.sum(mask * (pred - target) ** 2, axis=axes)
    return total / jnp.maximum(count, 1.0), count


def check_prediction(pred: Any, x_t: Array, where: str) -> Array:
    """The model output as an array; a ValueError if its shape differs from ``x_t``'s."""
    pred = jnp.asarray(pred)
    if pred.shape != x_t.shape:
        raise ValueError(
            f"{where}: model_fn(x_t, t, **cond) returned shape {pred.shape}, expected the "
            f"shape of x_t {x_t.shape}."
        )
    return pred


def weighted_regression(model_fn: ModelFn, x_t: Array, t: Array, cond: dict,
                        target: Array, weight: Array, where: str,
                        extra_aux: Mapping[str, Array] | None = None) -> tuple[Array, dict]:
    """``mean_b w_b mean_dims (model_fn(x_t, t)_b - target_b)^2`` and its aux dict.

    With an element mask ``m = cond["loss_mask"]`` (removed from ``cond`` before the model
    is called) only marked elements count, normalised over the whole batch as CSDI does
    (Tashiro et al. 2021):

        loss = sum_b w_b sum_i m_bi (pred_bi - target_bi)^2 / sum_b sum_i m_bi,

    so every marked element weighs the same whatever its example's count; ``mse`` is then
    the per-example mean over marked elements.

    aux: ``loss`` (scalar), ``t``, ``weight``, ``mse`` (unweighted) and
    ``loss_per_example`` (all shape ``(B,)``), plus ``extra_aux``.
    """
    dtype = x_t.dtype
    cond = dict(cond)
    mask = cond.pop(LOSS_MASK, None)
    pred = check_prediction(model_fn(x_t, t, **cond), x_t, where)
    if mask is None:
        mse = per_example_mse(pred.astype(dtype), target.astype(dtype))
        per_example = weight.astype(dtype) * mse
        loss = jnp.mean(per_example)
    else:
        mask = jnp.asarray(mask)
        try:
            jnp.broadcast_shapes(mask.shape, x_t.shape)
        except ValueError:
            raise ValueError(f"{where}: batch['{LOSS_MASK}'] of shape {mask.shape} does not "
                             f"broadcast to x of shape {x_t.shape}.") from None
        mse, count = masked_mse(pred.astype(dtype), target.astype(dtype), mask)
        per_example = weight.astype(dtype) * mse
        loss = jnp.sum(per_example * count) / jnp.maximum(jnp.sum(count), 1.0)
    aux = {"loss": loss, "t": t, "weight": weight.astype(dtype), "mse": mse,
           "loss_per_example": per_example}
    if extra_aux:
        aux.update(extra_aux)
    return loss, aux
