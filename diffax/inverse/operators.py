"""Forward operators y = A(x) + sigma_y n for inverse problems, as pure JAX functions.

An operator maps a batch x of shape (B, *event_shape) to measurements (B, *meas_shape).
Linear operators also give their adjoint (``transpose``, via ``jax.linear_transpose``
unless a closed form is cheaper) and, where it has a closed form, the Moore-Penrose
pseudo-inverse ``pinv`` (needed by PiGDM and replacement sampling):

* :class:`Mask` (inpainting, imputation): y = m * x kept entries; A A^T = I on the kept
  entries, pinv = transpose (zero fill).
* :class:`Downsample` (super-resolution): average pooling by an integer factor s;
  pinv = nearest-neighbour upsampling (A A^T = I / s^2 per channel).
* :class:`Blur`: circular convolution with a normalized Gaussian kernel, diagonal in the
  Fourier basis, so pinv (and Tikhonov solves) are exact FFT divisions.
* :class:`RandomProjection`: y = P x.flatten() with a Gaussian P (m x d) or one with
  orthonormal rows (then pinv = transpose).
* :class:`Radon`: sparse-view parallel-beam tomography. Each view rotates the image
  (bilinear interpolation) and sums along columns; the transpose is back-projection
  (``jax.linear_transpose``). No closed-form pinv: use DPS or RED-diff.
* :class:`Nonlinear`: wraps any differentiable function (e.g. ``tanh(A x)``, phase
  retrieval |F x|) for DPS / RED-diff / steered diffusion.

``dense_matrix(op, event_shape)`` is the (m, d) Jacobian of a linear operator, for the
exact Gaussian-mixture posterior (``GaussianMixture.posterior``) in tests.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Array = jax.Array


def _flat(x: Array) -> Array:
    return x.reshape(x.shape[0], -1)


class LinearOperator(struct.PyTreeNode):
    """Base class: subclasses define ``__call__`` (forward on a batch) and may override
    ``transpose`` and ``pinv``."""

    def transpose(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        """A^T y for a batch y, returning (B, *event_shape)."""
        b = y.shape[0]
        zero = jnp.zeros((b,) + tuple(event_shape), y.dtype)
        (out,) = jax.linear_transpose(self.__call__, zero)(y)
        return out

    def pinv(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form pseudo-inverse; use a method that "
            "only needs the forward operator and its gradient (DPS, RED-diff).")

    @property
    def has_pinv(self) -> bool:
        return type(self).pinv is not LinearOperator.pinv

    def normal_solve(self, v: Array, r2: Any, sy2: Any, event_shape: tuple[int, ...]) -> Array:
        """(r2 A A^T + sy2 I)^{-1} v for a batch of measurements v (PiGDM's gain); the
        base class uses conjugate gradients (exact solves in the subclasses)."""
        def matvec(w):
            return r2 * self(self.transpose(w, event_shape)) + sy2 * w

        sol, _ = jax.scipy.sparse.linalg.cg(matvec, v, maxiter=200, tol=1e-7)
        return sol


class Mask(LinearOperator):
    """Keep the entries where ``mask`` is 1 (broadcast against the event shape); the
    measurement has the event shape with zeros at unobserved entries (so A = A^T =
    A^+ = diag(mask))."""

    mask: Array

    def __call__(self, x: Array) -> Array:
        return x * self.mask.astype(x.dtype)

    def transpose(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        return y * self.mask.astype(y.dtype)

    def pinv(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        return y * self.mask.astype(y.dtype)

    def normal_solve(self, v: Array, r2: Any, sy2: Any, event_shape: tuple[int, ...]) -> Array:
        m = self.mask.astype(v.dtype)
        denom = r2 * m + sy2
        return jnp.where(denom > 0, v / jnp.where(denom > 0, denom, 1.0), 0.0)


class Downsample(LinearOperator):
    """Average pooling over non-overlapping ``factor x factor`` blocks of (B, H, W, C)."""

    factor: int = struct.field(pytree_node=False, default=2)

    def __call__(self, x: Array) -> Array:
        b, h, w, c = x.shape
        s = self.factor
        if h % s or w % s:
            raise ValueError(f"Downsample: image size {(h, w)} is not divisible by factor {s}.")
        return x.reshape(b, h // s, s, w // s, s, c).mean(axis=(2, 4))

    def transpose(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        s = self.factor
        return jnp.repeat(jnp.repeat(y, s, axis=1), s, axis=2) / (s * s)

    def pinv(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        s = self.factor
        return jnp.repeat(jnp.repeat(y, s, axis=1), s, axis=2)

    def normal_solve(self, v: Array, r2: Any, sy2: Any, event_shape: tuple[int, ...]) -> Array:
        return v / (r2 / self.factor**2 + sy2)  # A A^T = I / s^2


def gaussian_kernel(size: int, std: float) -> np.ndarray:
    """A normalized (size, size) Gaussian kernel."""
    r = np.arange(size) - (size - 1) / 2
    k = np.exp(-0.5 * (r / std) ** 2)
    k2 = np.outer(k, k)
    return k2 / k2.sum()


class Blur(LinearOperator):
    """Circular convolution of (B, H, W, C) with a normalized kernel (default Gaussian,
    std 1.5 px). Its transfer function ``H(f)`` makes A^T and Tikhonov / pseudo-inverse
    solves exact: A^+ y = F^-1[conj(H) F y / (|H|^2 + eps)], frequencies with
    |H|^2 <= ``rcond`` max |H|^2 treated as zero."""

    kernel: Array
    rcond: float = struct.field(pytree_node=False, default=1e-6)

    @classmethod
    def gaussian(cls, size: int = 9, std: float = 1.5, **kw) -> "Blur":
        return cls(kernel=jnp.asarray(gaussian_kernel(size, std)), **kw)

    def _transfer(self, h: int, w: int, dtype) -> Array:
        k = jnp.asarray(self.kernel, dtype)
        kh, kw = k.shape
        pad = jnp.zeros((h, w), dtype).at[:kh, :kw].set(k)
        pad = jnp.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # center at (0, 0)
        return jnp.fft.fft2(pad)

    def _apply(self, x: Array, fn) -> Array:
        h, w = x.shape[1:3]
        tf = self._transfer(h, w, x.dtype)
        xf = jnp.fft.fft2(x, axes=(1, 2))
        return jnp.real(jnp.fft.ifft2(fn(tf)[None, :, :, None] * xf, axes=(1, 2))).astype(x.dtype)

    def __call__(self, x: Array) -> Array:
        return self._apply(x, lambda tf: tf)

    def transpose(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        return self._apply(y, jnp.conj)

    def pinv(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        def inv(tf):
            p = jnp.abs(tf) ** 2
            keep = p > self.rcond * jnp.max(p)
            return jnp.where(keep, jnp.conj(tf) / jnp.where(keep, p, 1.0), 0.0)

        return self._apply(y, inv)

    def normal_solve(self, v: Array, r2: Any, sy2: Any, event_shape: tuple[int, ...]) -> Array:
        def inv(tf):
            d = r2 * jnp.abs(tf) ** 2 + sy2
            keep = d > self.rcond * jnp.max(d)
            return jnp.where(keep, 1.0 / jnp.where(keep, d, 1.0), 0.0)

        return self._apply(v, inv)


class RandomProjection(LinearOperator):
    """y = P x.flatten() with P of shape (m, d)."""

    matrix: Array

    @classmethod
    def create(cls, key: Array, m: int, d: int, orthonormal: bool = False,
               dtype: Any = jnp.float32) -> "RandomProjection":
        """Gaussian P / sqrt(d) (rows of unit expected norm) or, with ``orthonormal``,
        m orthonormal rows (QR of a Gaussian matrix)."""
        if not 0 < m <= d:
            raise ValueError(f"RandomProjection.create: need 0 < m <= d, got m={m}, d={d}.")
        g = jax.random.normal(key, (d, m), dtype)
        if orthonormal:
            q, _ = jnp.linalg.qr(g)
            return cls(matrix=q.T)
        return cls(matrix=g.T / math.sqrt(d))

    def __call__(self, x: Array) -> Array:
        return _flat(x) @ self.matrix.astype(x.dtype).T

    def transpose(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        return (y @ self.matrix.astype(y.dtype)).reshape((y.shape[0],) + tuple(event_shape))

    def pinv(self, y: Array, event_shape: tuple[int, ...]) -> Array:
        p = self.matrix.astype(y.dtype)
        sol = jnp.linalg.lstsq(p, y.T)[0].T  # minimum-norm solution, (B, d)
        return sol.reshape((y.shape[0],) + tuple(event_shape))

    def normal_solve(self, v: Array, r2: Any, sy2: Any, event_shape: tuple[int, ...]) -> Array:
        p = self.matrix.astype(v.dtype)
        g = r2 * p @ p.T + sy2 * jnp.eye(p.shape[0], dtype=v.dtype)
        return jnp.linalg.solve(g, v.T).T


class Radon(LinearOperator):
    """Parallel-beam projections of (B, N, N, 1) images at ``angles`` (radians): for each
    angle the image is rotated about its centre (bilinear, zero outside) and summed over
    rows, giving (B, n_angles, N) sinograms in pixel units."""

    angles: Array

    @classmethod
    def sparse_view(cls, n_angles: int, **kw) -> "Radon":
        """``n_angles`` views evenly spaced over [0, pi)."""
        return cls(angles=jnp.arange(n_angles) * (jnp.pi / n_angles), **kw)

    def __call__(self, x: Array) -> Array:
        b, n, n2, c = x.shape
        if n != n2 or c != 1:
            raise ValueError(f"Radon: images must be square single-channel (B, N, N, 1), got "
                             f"{x.shape}.")
        centre = (n - 1) / 2
        r = jnp.arange(n, dtype=x.dtype) - centre
        u, v = jnp.meshgrid(r, r, indexing="ij")  # u: along the ray (summed), v: detector

        def one_view(theta):
            cs, sn = jnp.cos(theta).astype(x.dtype), jnp.sin(theta).astype(x.dtype)
            rows = centre + cs * u - sn * v
            cols = centre + sn * u + cs * v
            img = jax.vmap(lambda im: _bilinear(im[..., 0], rows, cols))(x)
            return img.sum(axis=1)  # (B, N): integrate along u

        return jnp.moveaxis(jax.vmap(one_view)(self.angles), 0, 1)


def _bilinear(img: Array, rows: Array, cols: Array) -> Array:
    """Sample ``img`` (N, M) at fractional (rows, cols), zero outside."""
    n, m = img.shape
    r0, c0 = jnp.floor(rows), jnp.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)

    def at(r, c):
        inside = (r >= 0) & (r < n) & (c >= 0) & (c < m)
        return jnp.where(inside, img[jnp.clip(r, 0, n - 1), jnp.clip(c, 0, m - 1)], 0.0)

    return ((1 - fr) * (1 - fc) * at(r0, c0) + (1 - fr) * fc * at(r0, c0 + 1)
            + fr * (1 - fc) * at(r0 + 1, c0) + fr * fc * at(r0 + 1, c0 + 1))


class Nonlinear(struct.PyTreeNode):
    """Any differentiable forward model ``fn(x) -> y`` on a batch (no transpose/pinv)."""

    fn: Callable[[Array], Array] = struct.field(pytree_node=False)

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    @property
    def has_pinv(self) -> bool:
        return False


def dense_matrix(op: Callable[[Array], Array], event_shape: tuple[int, ...],
                 dtype: Any = jnp.float32) -> Array:
    """The (m, d) matrix of a linear operator on flattened events (its Jacobian at 0)."""
    d = math.prod(event_shape)

    def f(v):
        return op(v.reshape((1,) + tuple(event_shape))).reshape(-1)

    return jax.jacfwd(f)(jnp.zeros((d,), dtype))


__all__ = ["Blur", "Downsample", "LinearOperator", "Mask", "Nonlinear", "Radon",
           "RandomProjection", "dense_matrix", "gaussian_kernel"]
