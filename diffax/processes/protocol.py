"""The minimal interface every forward process shares, whatever its state space.

A forward (corruption) process takes data ``x0`` at time ``t_min`` towards a simple
prior at ``t_max``. Generic code (training loops, likelihood bookkeeping, samplers'
initialisation) needs only

* its time range ``[t_min, t_max]``,
* a draw from the marginal ``q(x_t | x0)`` (:meth:`Process.sample_marginal`),
* a draw from the prior ``p(x_{t_max})`` (:meth:`Process.prior_sample`) and its
  log-density (:meth:`Process.prior_log_prob`),
* its *family*, a string that says which predictions, losses and samplers apply.

Families:

* ``"gaussian"``: :class:`~diffax.processes.GaussianProcess`,
  ``x_t = alpha(t) x0 + sigma(t) eps`` (VP, sub-VP, VE, EDM, rectified flow, discrete
  DDPM schedules). Their losses and samplers use alpha and sigma.
* ``"pfgmpp"``: :class:`~diffax.processes.PFGMPP`, the heavy-tailed PFGM++ kernel
  (Xu et al., 2023). It has no alpha/sigma description, so Gaussian losses and samplers
  do not apply; its own loss, objective and sampler are registered as ``"pfgmpp"`` and
  ``"pfgmpp_heun"``.
* ``"discrete"`` (reserved): discrete-state processes (masking / uniform transition
  matrices, Austin et al., 2021, "Structured Denoising Diffusion Models in Discrete
  State-Spaces") will be a sibling family with their own predictions, losses and
  samplers.

Registries (:data:`diffax.processes.PROCESSES`, :data:`diffax.losses.LOSSES`, the
sampler table) record each entry's family and refuse a mismatch
(:meth:`diffax.registry.Registry.check_family`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

Array = jax.Array

GAUSSIAN = "gaussian"
PFGMPP_FAMILY = "pfgmpp"
DISCRETE = "discrete"
FAMILIES = (GAUSSIAN, PFGMPP_FAMILY, DISCRETE)


@runtime_checkable
class Process(Protocol):
    """A forward process (see the module docstring). Structural: any object with these
    members is a ``Process``; ``isinstance(p, Process)`` checks that they exist."""

    family: str
    """Which predictions, losses and samplers apply (one of :data:`FAMILIES`)."""
    t_min: float
    """Start of the time range (the data end; truncation for continuous time)."""
    t_max: float
    """End of the time range (the prior end)."""

    def sample_marginal(self, key: Array, x0: Any, t: Any) -> tuple[Array, Array]:
        """Draw ``x_t ~ q(x_t | x0)`` at times ``t`` (a scalar or one per example);
        returns ``(x_t, noise)``, the noise that made it (``eps`` for Gaussian
        processes, ``x_t - x0`` for PFGM++)."""
        ...

    def prior_sample(self, key: Array, shape: tuple[int, ...], dtype: Any = ...) -> Array:
        """Draw from the prior at ``t_max``; ``shape = (B, ...)``."""
        ...

    def prior_log_prob(self, z: Any) -> Array:
        """Log-density of the prior per example, shape ``(B,)``."""
        ...


def family_of(process: Any) -> str | None:
    """The family of ``process`` (``None`` if it declares none)."""
    return getattr(process, "family", None)


__all__ = ["DISCRETE", "FAMILIES", "GAUSSIAN", "PFGMPP_FAMILY", "Process", "family_of"]
