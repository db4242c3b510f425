"""The two moves of the inverse-problem loops, for loops that draw their own noise.

* :func:`renoise_prediction`, the DDIM step from t to s < t (Song, Meng & Ermon, 2021,
  eq. 12) read as its definition: re-noise the prediction x0_hat to time s, keeping a
  share of eps_hat and adding fresh noise z,

      x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,
      c = eta sigma_s sqrt(1 - e^{-h}),  h = lambda_s - lambda_t,

  (eta = 1: DDPM's ancestral step q(x_s | x_t, x0_hat); eta = 0: deterministic DDIM).
  The samplers of :mod:`diffax.samplers` draw their noise from ``split(key, N)`` inside
  their scan; DPS, RePaint and steered diffusion keep their published key streams
  (their outputs are pinned by benchmarks/golden/) and interleave steps with
  gradient moves and re-noising, so they take the step with a given draw ``z``.
* :func:`renoise_forward`, the forward transition q(x_t | x_s) from s to a later t:
  x_t = alpha_{t|s} x_s + sigma_{t|s} z, sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax.processes.base import GaussianProcess

Array = jax.Array


def renoise_prediction(process: GaussianProcess, x0: Array, eps: Array, t: Array, s: Array,
                       eta: Any, z: Array) -> Array:
    """The DDIM(eta) step t -> s from (x0_hat, eps_hat) at t and a normal draw z."""
    a_s, sigma_s = process.alpha(s), process.sigma(s)
    c = eta * sigma_s * jnp.sqrt(-jnp.expm1(process.log_snr(t) - process.log_snr(s)))
    return a_s * x0 + jnp.sqrt(jnp.maximum(sigma_s**2 - c**2, 0.0)) * eps + c * z


def renoise_forward(process: GaussianProcess, x_s: Array, s: Array, t: Array,
                    z: Array) -> Array:
    """A draw of x_t ~ q(x_t | x_s) for t > s (the jump back of RePaint's resampling)."""
    a = process.alpha(t) / process.alpha(s)
    var = process.sigma(t) ** 2 - a**2 * process.sigma(s) ** 2
    return a * x_s + jnp.sqrt(jnp.maximum(var, 0.0)) * z


__all__ = ["renoise_forward", "renoise_prediction"]
