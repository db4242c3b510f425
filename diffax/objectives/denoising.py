"""The denoising objective: one network, trained as a diffusion model of a Gaussian process.

A network ``net(x, c, **cond)`` becomes the model ``model_fn(x, t, **cond)`` of its
parameterization (``diffax.parameterization``: EDM preconditioning, or the network *is*
an eps / x0 / v / score / velocity prediction), and a loss of ``diffax.losses`` (denoising
score matching with any weighting and noise-level sampling, the EDM loss, DDPM's "simple"
loss, flow matching) is minimised. There is no auxiliary state.

Each fact is stated once: the loss's target kind follows from the parameterization
(``dsm``'s ``kind`` is derived, and a contradicting value is an error), and the EDM
``sigma_data`` of the preconditioning is the one the EDM loss and weighting use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

from diffax import losses
from diffax.objectives.parameterized import ParameterizedModel
from diffax.parameterization import check_parameterization, model_kind
from diffax.processes import GaussianProcess

# the prediction kind each loss trains, where the loss fixes it
_LOSS_KINDS = {"edm": "x0", "ddpm_simple": "eps", "flow_matching": "velocity"}


def loss_options(loss: str, options: dict, parameterization: str, sigma_data: float) -> dict:
    """``options`` for ``losses.get_loss(loss, ...)`` with the facts the model already
    states filled in (``kind``, ``sigma_data``); ValueError where they contradict it."""
    kind = model_kind(parameterization)
    options = dict(options)
    fixed = _LOSS_KINDS.get(loss)
    if fixed is not None and fixed != kind:
        raise ValueError(
            f"loss {loss!r} trains a {fixed!r} prediction, but model.parameterization="
            f"{parameterization!r} predicts {kind!r}; set model.parameterization="
            f"{'edm' if fixed == 'x0' else fixed!r} or choose loss 'dsm' (any kind).")
    if loss == "dsm":
        if options.setdefault("kind", kind) != kind:
            raise ValueError(
                f"loss.kwargs.kind={options['kind']!r} contradicts model.parameterization="
                f"{parameterization!r} (a {kind!r} model): the loss would regress the wrong "
                f"target. Drop loss.kwargs.kind (it is derived) or change the "
                f"parameterization.")
    uses_sigma_data = loss == "edm" or (loss == "dsm" and options.get("weighting") == "edm")
    if uses_sigma_data and parameterization == "edm":
        if options.setdefault("sigma_data", sigma_data) != sigma_data:
            raise ValueError(
                f"loss.kwargs.sigma_data={options['sigma_data']} differs from "
                f"model.sigma_data={sigma_data}; sigma_data is stated once, in the model "
                f"(drop it from loss.kwargs).")
    return options


@dataclasses.dataclass(frozen=True)
class DenoisingObjective(ParameterizedModel):
    """Train ``net`` so that ``model_fn(net)`` minimises ``loss_fn(model_fn, batch, key)``
    (an objective of ``diffax.training.objective`` without auxiliary state)."""

    loss_fn: Callable
    process: GaussianProcess
    parameterization: str = "edm"
    time_input: str = "t"
    sigma_data: float = 0.5

    def init(self, params: Any) -> tuple:
        return ()

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        model = self.model_fn(lambda x, c, **cond: net(params, x, c, **cond))
        return self.loss_fn(model, batch, key)

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def denoising_objective(process: GaussianProcess, *, loss: str = "dsm",
                        loss_kwargs: dict | None = None, parameterization: str = "edm",
                        time_input: str = "t", sigma_data: float = 0.5) -> DenoisingObjective:
    """Build the denoising objective of ``process`` with the loss named ``loss`` (options
    ``loss_kwargs``, completed and cross-checked by :func:`loss_options`)."""
    check_parameterization(parameterization, time_input)
    options = loss_options(loss, loss_kwargs or {}, parameterization, sigma_data)
    return DenoisingObjective(losses.get_loss(loss, process, **options), process,
                              parameterization, time_input, sigma_data)


__all__ = ["DenoisingObjective", "denoising_objective", "loss_options"]
