"""The three stable classes of neural SDEs (Oh, Lim & Kim, ICLR 2024), as Itô SDEs
with diagonal noise built from a drift function ``gamma(t, z)`` and a time-only
diffusion ``sigma(t)`` (both return arrays of z's shape, or broadcastable to it):

* ``"lsde"``, Langevin-type:  ``dz = gamma(z~) dt + sigma(t) dW``
  (additive noise; the model gives the drift no time input besides the path X(t));
* ``"lnsde"``, linear noise:  ``dz = gamma(t, z~) dt + sigma(t) z dW``
  (multiplicative noise; with zero drift z is a martingale and 0 a fixed point);
* ``"gsde"``, geometric:      ``dz / z = gamma(t, z~) dt + sigma(t) dW``
  (z keeps the sign of z_0; ``log z`` has drift ``gamma - sigma^2 / 2``).

``z~ = zeta(t, z, X(t))`` is the latent combined with the controlled path (built by the
model, :mod:`diffax.neural_sde.model`); here ``gamma`` is any function of ``(t, z)``.

:func:`make_sde` returns an :class:`SDE`: the drift and diffusion of the *solver state*
``y`` and the maps between ``z`` and ``y``. The state is ``z`` itself except for the
GSDE with ``geometric="log"`` (the default), which is solved for ``y = log z`` (Itô:
``dy = (gamma - sigma^2/2) dt + sigma dW``): every discretisation then keeps ``z > 0``
exactly. ``geometric="direct"`` steps ``z`` itself (Euler-Maruyama can then cross 0
when ``sigma sqrt(dt)`` is large).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from diffax import checks

SDE_CLASSES = ("lsde", "lnsde", "gsde")
GEOMETRIC_MODES = ("log", "direct")

Drift = Callable[[jax.Array, jax.Array], jax.Array]      # gamma(t, z)
Diffusion = Callable[[jax.Array], jax.Array]              # sigma(t)


@dataclasses.dataclass(frozen=True)
class SDE:
    """An Itô SDE ``dy = drift(t, y) dt + diffusion(t, y) * dW`` (diagonal noise: the
    diffusion is elementwise and its i-th entry depends on ``y_i`` only), with
    ``y = to_state(z)`` and ``z = from_state(y)``."""

    kind: str
    drift: Callable[[jax.Array, jax.Array], jax.Array]
    diffusion: Callable[[jax.Array, jax.Array], jax.Array]
    to_state: Callable[[jax.Array], jax.Array]
    from_state: Callable[[jax.Array], jax.Array]


def _identity(z: jax.Array) -> jax.Array:
    return z


def _checked_log(z: jax.Array) -> jax.Array:
    c = checks.concrete(z)
    if c is not None and not (c > 0).all():
        raise ValueError("make_sde: the GSDE with geometric='log' needs z_0 > 0 "
                         f"(solved for log z), got min(z_0)={c.min()!r}.")
    return jnp.log(z)


def make_sde(kind: str, gamma: Drift, sigma: Diffusion, *, geometric: str = "log") -> SDE:
    """The SDE of class ``kind`` ("lsde", "lnsde" or "gsde") with drift ``gamma(t, z)``
    and time-dependent diffusion ``sigma(t)`` (see the module docstring)."""
    checks.choice("make_sde", "kind", kind, SDE_CLASSES)
    checks.choice("make_sde", "geometric", geometric, GEOMETRIC_MODES)

    def noise(t, z):
        return jnp.broadcast_to(sigma(t), z.shape).astype(z.dtype)

    if kind == "lsde":
        return SDE(kind, gamma, noise, _identity, _identity)
    if kind == "lnsde":
        return SDE(kind, gamma, lambda t, z: noise(t, z) * z, _identity, _identity)
    if geometric == "direct":
        return SDE(kind, lambda t, z: gamma(t, z) * z, lambda t, z: noise(t, z) * z,
                   _identity, _identity)

    def log_drift(t, y):
        return gamma(t, jnp.exp(y)) - 0.5 * noise(t, y) ** 2

    return SDE(kind, log_drift, noise, _checked_log, jnp.exp)
