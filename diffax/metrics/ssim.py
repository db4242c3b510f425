"""Structural similarity (SSIM; Wang, Bovik, Sheikh & Simoncelli 2004, "Image Quality
Assessment: From Error Visibility to Structural Similarity", eq. 13) and PSNR, in JAX.

For each 11x11 Gaussian window (std 1.5, normalised weights w) of images x and y,

    SSIM = (2 mu_x mu_y + C1) (2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (s_x^2 + s_y^2 + C2)),

with the weighted local means mu, variances s^2 and covariance s_xy, C1 = (K1 L)^2,
C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03 and L the data range. The score of an image is the
mean over the windows that fit inside it ("valid" positions) and over channels.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks

Array = jax.Array


def gaussian_window(size: int = 11, std: float = 1.5) -> np.ndarray:
    """The normalised 1-D Gaussian weights of the separable SSIM window."""
    r = np.arange(size) - (size - 1) / 2
    w = np.exp(-0.5 * (r / std) ** 2)
    return w / w.sum()


def _filter(x: Array, w: Array) -> Array:
    """Separable 'valid' filtering of (B, H, W, C) along H and W."""
    k = w.shape[0]
    h = sum(w[i] * x[:, i:x.shape[1] - k + 1 + i] for i in range(k))
    return sum(w[i] * h[:, :, i:h.shape[2] - k + 1 + i] for i in range(k))


def ssim(x: Array, y: Array, data_range: Any = 1.0, *, window: int = 11, std: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> Array:
    """Per-image SSIM of (B, H, W, C) batches ``x`` and ``y`` (module docstring), shape (B,)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim: x and y must be (B, H, W, C) batches of equal shape, got "
                         f"{x.shape} and {y.shape}.")
    checks.positive_int("ssim", "window", window)
    if min(x.shape[1:3]) < window:
        raise ValueError(f"ssim: images {x.shape[1:3]} are smaller than the window {window}.")
    checks.positive("ssim", "data_range", data_range, skip_traced=True)
    dtype = jnp.result_type(x.dtype, jnp.float32)
    x, y = x.astype(dtype), y.astype(dtype)
    w = jnp.asarray(gaussian_window(window, std), dtype)
    mx, my = _filter(x, w), _filter(y, w)
    sxx = _filter(x * x, w) - mx**2
    syy = _filter(y * y, w) - my**2
    sxy = _filter(x * y, w) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.mean(axis=(1, 2, 3))


def psnr(x: Array, y: Array, data_range: Any = 1.0) -> Array:
    """Per-example PSNR 10 log10(L^2 / MSE) in dB of batches ``x`` against ``y``."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"psnr: x and y must be batches of equal shape, got {x.shape} and "
                         f"{y.shape}.")
    mse = jnp.mean((x - y) ** 2, axis=tuple(range(1, x.ndim)))
    return 10.0 * jnp.log10(data_range**2 / jnp.maximum(mse, 1e-30))


__all__ = ["gaussian_window", "psnr", "ssim"]
