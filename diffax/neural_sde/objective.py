"""The training objective of a stable neural SDE (``diffax.objectives.OBJECTIVES`` lists
it as ``"neural_sde"``), in the ``init / loss / update`` contract of
:mod:`diffax.training.objective`, so the runner's train step fits it unchanged.

The network is :class:`~diffax.neural_sde.network.NeuralSDENetwork`, called
``net(params, x, key, observed_mask=, time=)``: each step solves the SDE on a fresh
Brownian path drawn from the step's loss key. What is fitted follows from the batch that
the task's batch transform builds (the keys are static under ``jit``):

* ``target_mask`` present (interpolation, forecasting): the masked mean squared error
  ``sum m (f(x) - y)^2 / sum m`` of the ``"sequence"`` readout against ``target`` (or
  ``x``) on ``target_mask`` (Oh, Lim & Kim 2024, Sec. 4.2-4.3);
* otherwise ``label`` (classification): the mean cross-entropy
  ``-log softmax(f(x))_y`` of the ``"final"`` readout (Sec. 4.1).

The model never reads ``x`` where ``observed_mask`` is 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from diffax.neural_sde.training import masked_mse


@dataclasses.dataclass(frozen=True)
class NeuralSDEObjective:
    """Cross-entropy (``label``) or masked MSE (``target_mask``) of one SDE solve per
    step; no auxiliary state (module docstring)."""

    def init(self, params: Any) -> Any:
        return ()

    def loss(self, net, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        needed = {"x", "observed_mask", "time"}
        if not needed <= set(batch) or not ({"label", "target_mask"} & set(batch)):
            raise ValueError(f"neural_sde objective: the batch needs {sorted(needed)} and "
                             f"either 'label' (classification) or 'target_mask' "
                             f"(interpolation/forecasting); got {sorted(batch)}.")
        out = net(params, batch["x"], key, observed_mask=batch["observed_mask"],
                  time=batch["time"])
        if "target_mask" in batch:
            loss = masked_mse(out, batch.get("target", batch["x"]), batch["target_mask"])
            return loss, {"mse": loss}
        labels = batch["label"]
        loss = optax.softmax_cross_entropy_with_integer_labels(out, labels).mean()
        return loss, {"accuracy": (jnp.argmax(out, -1) == labels).mean()}

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def neural_sde_objective(process: Any = None) -> NeuralSDEObjective:
    """The ``neural_sde`` objective; ``process`` (the runner hands every objective its
    config's process) is unused: a neural SDE has no forward corruption."""
    del process
    return NeuralSDEObjective()


__all__ = ["NeuralSDEObjective", "neural_sde_objective"]
