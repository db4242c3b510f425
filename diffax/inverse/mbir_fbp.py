"""Filtered back-projection (FBP) for the parallel-beam :class:`~diffax.inverse.Radon`
operator: the analytic baseline of sparse-view CT.

For projections p_theta(s) of f, the inversion formula (Kak & Slaney, "Principles of
Computerized Tomographic Imaging", 1988, ch. 3, eqs. 45 and 61) is

    f(x, y) = int_0^pi q_theta(x cos theta + y sin theta) d theta,   q_theta = p_theta * h,

with the band-limited ramp filter sampled at the detector spacing tau (Ram-Lak):
h[0] = 1 / (4 tau^2), h[n] = 0 for even n != 0, h[n] = -1 / (n pi tau)^2 for odd n, and
the convolution a discrete sum times tau. With K views evenly spaced over [0, pi) and
tau = 1 pixel, the angular integral becomes (pi / K) sum_k, and the sum of
back-projections sum_k q_k(...) is the adjoint A^T of the Radon operator applied to the
filtered sinogram (bilinear interpolation, as in its forward model):

    f_FBP = (pi / K) A^T (h * p).

The filter is applied by FFT on a zero-padded detector axis (length >= 2 N - 1, so the
circular convolution equals the linear one over the detector).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from diffax.inverse.operators import Radon

Array = jax.Array


def ramp_kernel(n: int) -> np.ndarray:
    """The Ram-Lak filter h[m] for m = -(n-1)..(n-1) at unit spacing (module docstring)."""
    m = np.arange(-(n - 1), n)
    h = np.zeros(m.shape)
    h[m == 0] = 0.25
    odd = m % 2 == 1
    h[odd] = -1.0 / (np.pi * m[odd]) ** 2
    return h


def ramp_filter(sinogram: Array) -> Array:
    """h * p along the detector (last) axis of (..., N) projections, linear convolution
    cropped to the N detector bins."""
    n = sinogram.shape[-1]
    size = 1 << math.ceil(math.log2(2 * n - 1))
    h = jnp.asarray(ramp_kernel(n), sinogram.dtype)
    # place h[m] at index m mod size (centre at 0) for a circular convolution
    kernel = jnp.zeros((size,), sinogram.dtype).at[jnp.arange(-(n - 1), n) % size].set(h)
    fp = jnp.fft.rfft(sinogram, n=size, axis=-1) * jnp.fft.rfft(kernel)
    return jnp.fft.irfft(fp, n=size, axis=-1)[..., :n].astype(sinogram.dtype)


def fbp(sinogram: Array, operator: Radon) -> Array:
    """Filtered back-projection of (B, K, N) sinograms measured by ``operator`` (a
    :class:`Radon` with K evenly spaced angles over [0, pi)); returns (B, N, N, 1)."""
    if not isinstance(operator, Radon):
        raise ValueError(f"fbp: needs a Radon operator, got {type(operator).__name__}.")
    sinogram = jnp.asarray(sinogram)
    k = operator.angles.shape[0]
    if sinogram.ndim != 3 or sinogram.shape[1] != k:
        raise ValueError(f"fbp: sinogram must have shape (B, {k}, N) for {k} views, got "
                         f"{sinogram.shape}.")
    b, _, n = sinogram.shape
    q = ramp_filter(sinogram)
    return (math.pi / k) * operator.transpose(q, (n, n, 1))


__all__ = ["fbp", "ramp_filter", "ramp_kernel"]
