"""Losses by name, for configs: ``get_loss(name, process, **options)``.

:data:`LOSSES` is a :class:`~diffax.registry.Registry` of loss factories
``factory(process, **options) -> loss_fn``; each entry records the process family it
applies to (``"gaussian"``, and ``"pfgmpp"`` for the PFGM++ loss; discrete-state losses
will be registered with ``family="discrete"``).
"""

from __future__ import annotations

from typing import Any, Callable

from diffax.losses.base import LossFn
from diffax.losses.ddpm import ddpm_simple_loss
from diffax.losses.denoising import denoising_loss, edm_loss
from diffax.losses.flow_matching import flow_matching_loss
from diffax.losses.pfgmpp import pfgmpp_loss
from diffax.processes.protocol import GAUSSIAN, PFGMPP_FAMILY, Process, family_of
from diffax.registry import Registry, check_options

LOSSES: Registry[Callable[..., LossFn]] = Registry("loss")
LOSSES.add("dsm", denoising_loss, family=GAUSSIAN)
LOSSES.add("edm", edm_loss, family=GAUSSIAN)
LOSSES.add("ddpm_simple", ddpm_simple_loss, family=GAUSSIAN)
LOSSES.add("flow_matching", flow_matching_loss, family=GAUSSIAN)
LOSSES.add("pfgmpp", pfgmpp_loss, family=PFGMPP_FAMILY)


def get_loss(name: str, process: Process, **options: Any) -> LossFn:
    """Build the loss ``name`` ("dsm", "edm", "ddpm_simple", "flow_matching"; "pfgmpp") for
    ``process``; ``options`` go to its factory, which validates their values.

    Raises:
      ValueError: unknown name (with the valid choices), a loss of another family than
        the process's (with the losses of the process's family), an option the factory
        does not accept (with the valid options) or a bad option value.
    """
    try:
        entry = LOSSES.entry(name)
    except ValueError as err:
        raise ValueError(f"get_loss: {err}") from None
    family = family_of(process)
    if family is not None and entry.family is not None and family != entry.family:
        raise ValueError(
            f"get_loss: loss {name!r} is for {entry.family} processes, but "
            f"{type(process).__name__} is a {family} process; losses for {family} "
            f"processes: {LOSSES.names(family)}.")
    check_options(f"get_loss: loss {name!r}", entry.obj, options, skip=1)
    return entry.obj(process, **options)


__all__ = ["LOSSES", "get_loss"]
