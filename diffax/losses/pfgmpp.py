"""The PFGM++ training loss (Xu et al., 2023, "PFGM++: Unlocking the Potential of
Physics-Inspired Generative Models", Sec. 4 and Appendix C).

PFGM++ perturbs data ``y`` with its heavy-tailed kernel
``p_r(x | y) ~ 1 / (||x - y||^2 + r^2)^((N+D)/2)`` (:class:`diffax.processes.PFGMPP`)
and trains, after the alignment ``r = sigma sqrt(D)``, with EDM's recipe (Karras et al.,
2022, eq. 8 and Table 1):

    E_{sigma, y, x ~ p_{sigma sqrt(D)}(. | y)} [ lambda(sigma) ||D(x; sigma) - y||^2 ],
    ln sigma ~ N(p_mean, p_std^2),   lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2.

Its minimiser is the posterior mean ``D*(x; sigma) = E[y | x]`` under the PFGM++ kernel,
which is all the sampler needs: the normalised Poisson field in the augmented space
points along ``(x - E[y | x], r)`` (paper, Sec. 3), so the PFGM++ ODE
``dx/dr = E(x)_x / E(x)_r`` is ``dx/dr = (x - D*(x; r / sqrt(D))) / r``, i.e. EDM's
``dx/dsigma = (x - D*)/sigma`` in sigma (see :mod:`diffax.samplers.pfgmpp`). The paper
states the objective equivalently as regressing the field ``(x - y)/r`` (its eq. 7,
rescaled); with EDM's preconditioning the denoiser form above is what is trained.

As D -> infinity the kernel tends to N(y, sigma^2 I) and this loss to
:func:`diffax.losses.edm_loss` on the EDM process (tested).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import LossFn, ModelFn, compute_dtype, split_batch, weighted_regression
from diffax.processes.protocol import PFGMPP_FAMILY, family_of

Array = jax.Array


def check_pfgmpp_process(process: Any, where: str):
    """Raise a ValueError unless ``process`` is of the ``"pfgmpp"`` family."""
    family = family_of(process)
    if family != PFGMPP_FAMILY:
        raise ValueError(
            f"{where}: process must be a PFGM++ process (family {PFGMPP_FAMILY!r}: "
            f"diffax.processes.PFGMPP), got {type(process).__name__}"
            f"{f' of family {family!r}' if family else ''}; for Gaussian processes use the "
            f"'denoising' objective and its losses.")
    return process


def pfgmpp_loss(process: Any, *, sigma_data: float = 0.5, p_mean: float = -1.2,
                p_std: float = 1.2) -> LossFn:
    """The PFGM++ loss of the module docstring for ``process`` (a ``PFGMPP``).

    ``model_fn(x, sigma, **cond)`` must be the denoiser (kind ``"x0"``, time = sigma),
    e.g. :func:`diffax.objectives.pfgmpp.pfgmpp_precondition`. sigma is drawn
    log-normally and clipped to the process's ``[t_min, t_max]``.

    aux: ``loss``, ``t`` (= sigma), ``weight``, ``mse``, ``loss_per_example``.
    """
    where = "pfgmpp_loss"
    check_pfgmpp_process(process, where)
    checks.positive(where, "sigma_data", sigma_data)
    checks.finite(where, "p_mean", p_mean)
    checks.positive(where, "p_std", p_std)

    def loss_fn(model_fn: ModelFn, batch: dict, key: Array) -> tuple[Array, dict]:
        x0, cond = split_batch(batch, where)
        dtype = compute_dtype(x0)
        x0 = x0.astype(dtype)
        k_sigma, k_kernel = jax.random.split(key)
        log_s = p_mean + p_std * jax.random.normal(k_sigma, (x0.shape[0],), dtype)
        sigma = jnp.clip(jnp.exp(log_s), process.t_min, process.t_max).astype(dtype)
        x_t = process.sample_kernel(k_kernel, x0, sigma)
        weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
        return weighted_regression(model_fn, x_t, sigma, cond, x0, weight, where)

    return loss_fn


__all__ = ["check_pfgmpp_process", "pfgmpp_loss"]
