"""The PFGM++ objective: one network trained as the denoiser of a PFGM++ process (Xu et
al., 2023, "PFGM++: Unlocking the Potential of Physics-Inspired Generative Models").

The sibling of :mod:`diffax.objectives.denoising` for the ``"pfgmpp"`` family. The paper
reuses EDM's design after the alignment ``r = sigma sqrt(D)`` (Sec. 4, Appendix C): the
network ``F`` is wrapped in EDM's preconditioning in sigma (Karras et al., 2022, Table 1),

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x; c_noise(sigma)),

(the PFGM++ process has no alpha: its time *is* sigma), and trained with
:func:`diffax.losses.pfgmpp.pfgmpp_loss` (EDM's weighting and log-normal sigma, the PFGM++
kernel instead of Gaussian noise). The trained model predicts ``"x0"``; the PFGM++
sampler (:mod:`diffax.samplers.pfgmpp`) integrates the field it defines.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import losses
from diffax.losses.pfgmpp import check_pfgmpp_process
from diffax.predictions import edm_scalings
from diffax.processes.base import broadcast_to_x

PARAMETERIZATIONS = ("edm", "x0")
TIME_INPUTS = ("t", "c_noise")


def pfgmpp_precondition(net: Callable, sigma_data: float = 0.5) -> Callable:
    """EDM's preconditioning in sigma: ``denoiser(x, sigma, **cond)`` (kind ``"x0"``)
    from a raw network ``net(x_in, c_noise, **cond)`` (module docstring)."""

    def denoiser(x, sigma, **cond):
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, sigma_data)
        f = net(broadcast_to_x(c_in, x) * x, c_noise.astype(x.dtype), **cond)
        return broadcast_to_x(c_skip, x) * x + broadcast_to_x(c_out, x) * f

    return denoiser


def _direct(net: Callable, time_input: str) -> Callable:
    def model_fn(x, sigma, **cond):
        sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
        c = sigma if time_input == "t" else 0.25 * jnp.log(sigma)
        return net(x, c, **cond)

    return model_fn


@dataclasses.dataclass(frozen=True)
class PFGMPPObjective:
    """Train ``net`` so that its denoiser minimises the PFGM++ loss (an objective of
    ``diffax.training.objective`` without auxiliary state)."""

    loss_fn: Callable
    process: Any
    parameterization: str = "edm"
    time_input: str = "t"
    sigma_data: float = 0.5

    @property
    def kind(self) -> str:
        """The prediction kind of the trained model: always ``"x0"`` (the denoiser)."""
        return "x0"

    def model_fn(self, net: Callable) -> Callable:
        """The denoiser ``model_fn(x, sigma, **cond)`` of a network ``net(x, c, **cond)``."""
        if self.parameterization == "edm":
            return pfgmpp_precondition(net, self.sigma_data)
        return _direct(net, self.time_input)

    def init(self, params: Any) -> tuple:
        return ()

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        model = self.model_fn(lambda x, c, **cond: net(params, x, c, **cond))
        return self.loss_fn(model, batch, key)

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def pfgmpp_objective(process: Any, *, loss: str = "pfgmpp", loss_kwargs: dict | None = None,
                     parameterization: str = "edm", time_input: str = "t",
                     sigma_data: float = 0.5) -> PFGMPPObjective:
    """The PFGM++ objective of ``process`` (a :class:`~diffax.processes.PFGMPP`).

    Args:
      loss: a loss of the ``"pfgmpp"`` family (``"pfgmpp"``).
      loss_kwargs: its options (``p_mean``, ``p_std``); ``sigma_data`` is the model's.
      parameterization: ``"edm"`` (preconditioned, as in the paper) or ``"x0"`` (the
        network is the denoiser; its time input ``"t"`` = sigma or ``"c_noise"`` =
        log(sigma)/4).
      sigma_data: EDM's data scale, shared by the preconditioning and the loss weight.
    """
    where = "pfgmpp_objective"
    check_pfgmpp_process(process, where)
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"{where}: parameterization {parameterization!r} is not available "
                         f"for PFGM++ (the model is a denoiser); valid choices: "
                         f"{list(PARAMETERIZATIONS)}.")
    if time_input not in TIME_INPUTS:
        raise ValueError(f"{where}: time_input {time_input!r}; valid choices: "
                         f"{list(TIME_INPUTS)} (sigma itself or EDM's log(sigma)/4).")
    options = dict(loss_kwargs or {})
    if options.setdefault("sigma_data", sigma_data) != sigma_data:
        raise ValueError(f"{where}: loss.kwargs.sigma_data={options['sigma_data']} differs "
                         f"from model.sigma_data={sigma_data}; sigma_data is stated once, "
                         f"in the model (drop it from loss.kwargs).")
    return PFGMPPObjective(losses.get_loss(loss, process, **options), process,
                           parameterization, time_input, sigma_data)


__all__ = ["PARAMETERIZATIONS", "PFGMPPObjective", "pfgmpp_objective", "pfgmpp_precondition"]
