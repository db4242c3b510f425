"""Turn a network ``net(x, c, label=None, *, dropout_key=None)`` into a diffusion
``model_fn(x, t, **cond)`` with a declared prediction kind (beside
:mod:`diffax.predictions`, which converts between kinds; training knows neither).

Two families:

* ``"edm"``: Karras et al. (2022) preconditioning (Table 1), applied to x/alpha for any
  Gaussian process (``diffax.predictions.edm_precondition``); the network sees
  c_in x/alpha and c_noise = log(sigma/alpha)/4 and the model predicts x0.
* a prediction kind (``"eps"``, ``"x0"``, ``"v"``, ``"score"``, ``"velocity"``): the network
  output *is* that prediction; its time input is chosen by ``time_input``:
  ``"t"`` (the process time, e.g. t in [0, 1], as in DDPM/score_sde),
  ``"log_snr"`` (lambda(t), as in VDM) or ``"c_noise"`` (log(sigma/alpha)/4, as in EDM).
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from diffax import predictions
from diffax.processes import GaussianProcess

PARAMETERIZATIONS = ("edm", *predictions.KINDS)
TIME_INPUTS = ("t", "log_snr", "c_noise")

Net = Callable[..., jnp.ndarray]


def check_parameterization(parameterization: str, time_input: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {parameterization!r}; valid choices: "
                         f"{list(PARAMETERIZATIONS)}.")
    if time_input not in TIME_INPUTS:
        raise ValueError(f"unknown time_input {time_input!r}; valid choices: {list(TIME_INPUTS)}.")


def network_time(process: GaussianProcess, t: jnp.ndarray, time_input: str) -> jnp.ndarray:
    """The scalar the network is conditioned on at process time ``t``."""
    if time_input == "t":
        return jnp.asarray(t)
    if time_input == "log_snr":
        return process.log_snr(t)
    return 0.25 * (jnp.log(process.sigma(t)) - jnp.log(process.alpha(t)))


def model_kind(parameterization: str) -> str:
    """The prediction kind of a model with this parameterization ("edm" predicts x0)."""
    check_parameterization(parameterization, "t")
    return "x0" if parameterization == "edm" else parameterization


def make_model_fn(net: Net, process: GaussianProcess, parameterization: str = "edm", *,
                  time_input: str = "t", sigma_data: float = 0.5) -> tuple[Callable, str]:
    """Return ``(model_fn, kind)`` for samplers and losses."""
    check_parameterization(parameterization, time_input)
    if parameterization == "edm":
        return predictions.edm_precondition(net, process, sigma_data), "x0"

    def model_fn(x, t, **cond):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        return net(x, network_time(process, t, time_input).astype(x.dtype), **cond)

    return model_fn, parameterization
