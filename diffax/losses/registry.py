"""Losses by name, for configs: ``get_loss(name, process, **options)``."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from diffax.losses.base import LossFn, check_choice
from diffax.losses.ddpm import ddpm_simple_loss
from diffax.losses.denoising import denoising_loss, edm_loss
from diffax.losses.flow_matching import flow_matching_loss
from diffax.processes.base import GaussianProcess

LOSSES: dict[str, Callable[..., LossFn]] = {
    "dsm": denoising_loss,
    "edm": edm_loss,
    "ddpm_simple": ddpm_simple_loss,
    "flow_matching": flow_matching_loss,
}


def _keyword_options(factory: Callable) -> list[str] | None:
    """The keyword options ``factory`` accepts after ``process`` (None: any, **kwargs)."""
    params = list(inspect.signature(factory).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params]


def get_loss(name: str, process: GaussianProcess, **options: Any) -> LossFn:
    """Build the loss ``name`` ("dsm", "edm", "ddpm_simple", "flow_matching") for
    ``process``; ``options`` go to its factory, which validates them.

    Raises:
      ValueError: unknown name, unknown option or bad option value.
    """
    check_choice("get_loss", "loss", name, LOSSES)
    factory = LOSSES[name]
    accepted = _keyword_options(factory)
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"get_loss: unknown option(s) {unknown} for loss {name!r}; "
                             f"valid options: {accepted}.")
    return factory(process, **options)


__all__ = ["LOSSES", "get_loss"]
