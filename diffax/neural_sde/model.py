"""Stable neural SDE for irregular time series (Oh, Lim & Kim, ICLR 2024), flax.nnx.

For a batch of windows ``x`` (B, L, K) with ``observed_mask`` and ``time``:

    X(t)   = controlled path through the observations (:mod:`diffax.neural_sde.paths`),
             times mapped to [0, 1] per example
    z(0)   = W_0 X(0) + b_0                    (for the GSDE: z(0) = exp(W_0 X(0) + b_0) > 0)
    z~(t)  = W_z u + W_X X(t) [+ w_t t] + b    (zeta: the latent joined with the path;
                                                the time input only for LNSDE/GSDE;
                                                u = z, or log z for the log-mode GSDE)
    gamma  = drift_bound * tanh(MLP(ReLU(z~))) (bounded drift network)
    sigma(t) = sigma_max * sigmoid(MLP_sigma(t))  (one positive value per latent channel)
    dz     = class drift and diffusion from gamma, sigma (:mod:`~diffax.neural_sde.sde_classes`)
    output = head(u(1))                        (readout "final": classification)
           | head(u(t_i)) for every step i     (readout "sequence": interpolation/forecasting)

The bound on the drift is the authors' tanh clipping; on the unit time interval it needs
to be a few units (``drift_bound=5``) for the latent to move far enough to separate
classes (with bound 1 the tiny training test does not learn in 300 steps). The log-mode
GSDE hands log z (which it solves for) to zeta and to the head: the same information
as z, on a scale the networks can use.

The SDE is solved with fixed steps on [0, 1] (:func:`~diffax.neural_sde.solve.solve`);
the noise comes from the ``key`` argument, so a forward pass is a pure function of
(parameters, inputs, key): jit- and grad-able.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn.layers import linear
from diffax.neural_sde import paths
from diffax.neural_sde.sde_classes import GEOMETRIC_MODES, SDE_CLASSES, make_sde
from diffax.neural_sde.solve import SOLVERS, solve

READOUTS = ("final", "sequence")
HEADS = ("linear", "mlp")


class DriftNet(nnx.Module):
    """``gamma(t, u, X(t)) = bound * tanh(MLP(ReLU(W_u u + W_X X(t) [+ w_t t] + b)))``."""

    def __init__(self, hidden: int, path_channels: int, *, width: int, depth: int,
                 time_input: bool, bound: float = 5.0, dtype: Any = None, rngs: nnx.Rngs):
        self.time_input = time_input
        self.bound = bound
        extra = 1 if time_input else 0
        self.embed = linear(hidden + path_channels + extra, width, dtype=dtype, rngs=rngs)
        self.layers = nnx.List([linear(width, width, dtype=dtype, rngs=rngs)
                                for _ in range(depth - 1)])
        self.out = linear(width, hidden, dtype=dtype, rngs=rngs)

    def __call__(self, t: jax.Array, z: jax.Array, xt: jax.Array) -> jax.Array:
        parts = [z, xt]
        if self.time_input:
            parts.append(jnp.broadcast_to(jnp.asarray(t, z.dtype), z.shape[:-1] + (1,)))
        h = self.embed(jnp.concatenate(parts, axis=-1))
        for layer in self.layers:
            h = layer(jax.nn.relu(h))
        return self.bound * jnp.tanh(self.out(jax.nn.relu(h)))


class DiffusionNet(nnx.Module):
    """``sigma(t) = sigma_max * sigmoid(W_2 ReLU(W_1 t + b_1) + b_2)`` (hidden,), in
    (0, sigma_max); sigma_max/2 at initialisation (W_2 = 0)."""

    def __init__(self, hidden: int, *, width: int, sigma_max: float, dtype: Any = None,
                 rngs: nnx.Rngs):
        self.sigma_max = sigma_max
        self.fc1 = linear(1, width, dtype=dtype, rngs=rngs)
        self.fc2 = linear(width, hidden, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, t: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.fc1(jnp.reshape(jnp.asarray(t), (1,))))
        return self.sigma_max * jax.nn.sigmoid(self.fc2(h))


class StableNeuralSDE(nnx.Module):
    """LSDE / LNSDE / GSDE over a controlled path; ``model(x, mask, time, *, key)``.

    Args:
      kind: "lsde", "lnsde" or "gsde".
      in_channels: K, channels of x (B, L, K).
      out_dim: classes (readout "final") or output channels per step ("sequence").
      hidden: latent size of z.
      width, depth: drift MLP width and number of layers (>= 1).
      readout: "final" (z at the last time -> (B, out_dim)) or "sequence" (z at every
        step's time -> (B, L, out_dim)).
      head: "linear" or "mlp" (one hidden ReLU layer of ``hidden`` units).
      interpolation: "cubic" or "linear" controlled path; intensity: add observation counts.
      solver: "euler", "milstein" or "reversible_heun"; steps: solver steps on [0, 1].
      drift_bound: bound of |gamma| (tanh clipping).
      sigma_max: bound of the diffusion sigma(t).
      geometric: GSDE only, "log" (solve log z: z > 0 exactly) or "direct".
    """

    def __init__(self, kind: str, in_channels: int, out_dim: int, *, hidden: int = 32,
                 width: int = 64, depth: int = 2, readout: str = "final", head: str = "mlp",
                 interpolation: str = "cubic", intensity: bool = True,
                 solver: str = "euler", steps: int = 32, drift_bound: float = 5.0,
                 sigma_max: float = 0.5,
                 geometric: str = "log", dtype: Any = None, rngs: nnx.Rngs):
        w = "StableNeuralSDE"
        self.kind = checks.choice(w, "kind", kind, SDE_CLASSES)
        self.in_channels = checks.positive_int(w, "in_channels", in_channels)
        checks.positive_int(w, "out_dim", out_dim)
        checks.positive_int(w, "hidden", hidden)
        checks.positive_int(w, "width", width)
        checks.positive_int(w, "depth", depth)
        self.readout = checks.choice(w, "readout", readout, READOUTS)
        checks.choice(w, "head", head, HEADS)
        self.interpolation = checks.choice(w, "interpolation", interpolation,
                                           paths.INTERPOLATIONS)
        self.intensity = checks.boolean(w, "intensity", intensity)
        self.solver = checks.choice(w, "solver", solver, SOLVERS)
        self.steps = checks.positive_int(w, "steps", steps)
        drift_bound = checks.positive(w, "drift_bound", drift_bound)
        sigma_max = checks.positive(w, "sigma_max", sigma_max)
        self.geometric = checks.choice(w, "geometric", geometric, GEOMETRIC_MODES)
        c = 1 + in_channels * (2 if intensity else 1)
        self.initial = linear(c, hidden, dtype=dtype, rngs=rngs)
        self.drift = DriftNet(hidden, c, width=width, depth=depth,
                              time_input=kind != "lsde", bound=drift_bound, dtype=dtype,
                              rngs=rngs)
        self.diffusion = DiffusionNet(hidden, width=width, sigma_max=sigma_max, dtype=dtype,
                                      rngs=rngs)
        if head == "linear":
            self.head = nnx.List([linear(hidden, out_dim, dtype=dtype, rngs=rngs)])
        else:
            self.head = nnx.List([linear(hidden, hidden, dtype=dtype, rngs=rngs),
                                  linear(hidden, out_dim, dtype=dtype, rngs=rngs)])

    def _check(self, x, mask, time):
        w = "StableNeuralSDE"
        x = checks.float_batch(w, "x", x, min_ndim=3)
        checks.shape(w, "x", x, (None, None, self.in_channels))
        checks.shape(w, "mask", mask, x.shape)
        time = jnp.asarray(time, x.dtype)
        checks.shape(w, "time", time, x.shape[:2] if time.ndim == 2 else x.shape[1:2])
        return x, jnp.asarray(mask, x.dtype), time

    def latent(self, x: jax.Array, mask: jax.Array, time: jax.Array, *,
               key: jax.Array) -> jax.Array:
        """z on the solver grid ``linspace(0, 1, steps + 1)``: (steps + 1, B, hidden)."""
        x, mask, time = self._check(x, mask, time)
        path = paths.controlled_path(x, mask, time, interpolation=self.interpolation,
                                     intensity=self.intensity)

        def gamma(t, z):
            return self.drift(t, self.features(z), paths.evaluate(path, t))

        sde = make_sde(self.kind, gamma, self.diffusion, geometric=self.geometric)
        z0 = self.initial(paths.evaluate(path, 0.0))
        if self.kind == "gsde":
            z0 = jnp.exp(z0)
        return solve(sde, z0, key, steps=self.steps, solver=self.solver, save="grid")

    def features(self, z: jax.Array) -> jax.Array:
        """What zeta and the head see of z: log z for the log-mode GSDE, else z."""
        return jnp.log(z) if self.kind == "gsde" and self.geometric == "log" else z

    def _head(self, z: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.head):
            z = layer(jax.nn.relu(z) if i else z)
        return z

    def __call__(self, x: jax.Array, mask: jax.Array, time: jax.Array, *,
                 key: jax.Array) -> jax.Array:
        zs = self.features(self.latent(x, mask, time, key=key))
        if self.readout == "final":
            return self._head(zs[-1])
        tau = paths.unit_times(jnp.broadcast_to(time, x.shape[:2]).astype(zs.dtype))
        pos = tau * self.steps
        i = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, self.steps - 1)
        w = (pos - i)[..., None]
        zb = jnp.moveaxis(zs, 1, 0)                                   # (B, steps+1, H)
        lo = jnp.take_along_axis(zb, i[..., None], axis=1)
        hi = jnp.take_along_axis(zb, i[..., None] + 1, axis=1)
        return self._head((1 - w) * lo + w * hi)                     # (B, L, out_dim)
