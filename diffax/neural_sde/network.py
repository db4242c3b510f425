"""A :class:`~diffax.neural_sde.model.StableNeuralSDE` behind the network calling
convention of :mod:`diffax.nn`, so that the runner builds, trains, checkpoints and
restores it like any other network (``diffax.nn.NETWORKS`` lists it as
``"stable_neural_sde"``).

Every diffax network is called ``net(x, c, **cond, dropout_key=None)``; for a diffusion
network ``c`` is the noise level. A neural SDE has no noise level: its randomness is the
Brownian path, so here ``c`` is the PRNG key that seeds the path (Oh, Lim & Kim, ICLR
2024, "Stable Neural Stochastic Differential Equations in Analyzing Irregular Time
Series Data")::

    out = net(x, key, observed_mask=mask, time=time)   # = StableNeuralSDE(x, mask, time, key=key)

The parameters are those of the wrapped model (``net.sde``), initialised with the same
``rngs`` in the same order as ``StableNeuralSDE(...)`` itself, so the same seed gives the
same initial network through the runner and through :func:`diffax.neural_sde.fit`.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx


class NeuralSDENetwork(nnx.Module):
    """``net(x, key, *, observed_mask, time, dropout_key=None)`` -> logits (B, out_dim)
    (readout ``"final"``) or values (B, L, out_dim) (readout ``"sequence"``).

    Args:
      kind: ``"lsde"``, ``"lnsde"`` or ``"gsde"`` (the SDE class).
      num_features: K, channels of the windows x (B, L, K).
      out_dim: classes (``"final"``) or output channels per step (``"sequence"``).
      **options: every other option of :class:`StableNeuralSDE` (hidden, width, depth,
        readout, head, interpolation, intensity, solver, steps, drift_bound, sigma_max,
        geometric).
    """

    def __init__(self, kind: str, num_features: int, out_dim: int, *, hidden: int = 32,
                 width: int = 64, depth: int = 2, readout: str = "final", head: str = "mlp",
                 interpolation: str = "cubic", intensity: bool = True, solver: str = "euler",
                 steps: int = 32, drift_bound: float = 5.0, sigma_max: float = 0.5,
                 geometric: str = "log", dtype: Any = None, rngs: nnx.Rngs):
        # imported here: diffax.nn imports this module to register the class, and the
        # model imports diffax.nn's layers (no import cycle whichever package comes first)
        from diffax.neural_sde.model import StableNeuralSDE

        self.sde = StableNeuralSDE(kind, num_features, out_dim, hidden=hidden, width=width,
                                   depth=depth, readout=readout, head=head,
                                   interpolation=interpolation, intensity=intensity,
                                   solver=solver, steps=steps, drift_bound=drift_bound,
                                   sigma_max=sigma_max, geometric=geometric, dtype=dtype,
                                   rngs=rngs)

    def __call__(self, x: jax.Array, key: jax.Array, *, observed_mask: jax.Array,
                 time: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        del dropout_key  # no dropout in this model
        return self.sde(x, observed_mask, time, key=key)

    def readout_path(self, x: jax.Array, key: jax.Array, *, observed_mask: jax.Array,
                     time: jax.Array) -> jax.Array:
        """The head applied to the latent at every solver time ``linspace(0, 1, steps +
        1)`` (steps + 1, B, out_dim): with readout ``"final"`` the last entry is the
        model's output (e.g. how the class logits evolve along one Brownian path)."""
        sde = self.sde
        return sde._head(sde.features(sde.latent(x, observed_mask, time, key=key)))


__all__ = ["NeuralSDENetwork"]
