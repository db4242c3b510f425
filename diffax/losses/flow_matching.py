"""(Conditional) flow matching and rectified flow.

For the interpolant x_t = alpha(t) x0 + sigma(t) eps the conditional velocity is
u_t(x_t | x0, eps) = alpha'(t) x0 + sigma'(t) eps, and regressing a velocity model on
it,

    L_CFM = E_{t, x0, eps} || v_theta(x_t, t) - (alpha'(t) x0 + sigma'(t) eps) ||^2,

has the marginal velocity field E[u_t | x_t] (the probability-flow ODE drift) as its
minimiser (Lipman et al., 2023, "Flow Matching for Generative Modeling", Thm. 2;
Liu et al., 2023, "Flow Straight and Fast"; Albergo & Vanden-Eijnden, 2023). For the
default :class:`~diffax.processes.RectifiedFlow` (alpha = 1 - t, sigma = t) the target
is eps - x0. t is uniform by default; ``time_sampling="logit_normal"`` gives the
logit-normal times of Esser et al. (2024), "Scaling Rectified Flow Transformers".

This is :func:`diffax.losses.denoising_loss` with kind ``"velocity"``; the target comes
from ``diffax.predictions.from_x0_eps``.
"""

from __future__ import annotations

from typing import Any

from diffax.losses.base import LossFn
from diffax.losses.denoising import build_denoising_loss
from diffax.processes.base import GaussianProcess
from diffax.processes.rectified_flow import RectifiedFlow


def flow_matching_loss(process: GaussianProcess = RectifiedFlow(), *,
                       time_sampling: str = "uniform", weighting: str = "uniform",
                       **options: Any) -> LossFn:
    """``loss_fn(model_fn, batch, key)`` for a model predicting the velocity dx_t/dt.

    Args:
      process: the interpolant (default ``RectifiedFlow()``); any GaussianProcess works.
      time_sampling: see ``diffax.losses.time_sampling`` ("uniform", "logit_normal"
        with ``logit_mean``/``logit_std``, ...).
      weighting: see ``diffax.losses.weighting``; "uniform" is plain CFM.
      **options: time-sampling and weighting options (``t_min``, ``t_max``, ...).
    """
    return build_denoising_loss(process, "velocity", weighting, time_sampling, options,
                                where="flow_matching_loss")


__all__ = ["flow_matching_loss"]
