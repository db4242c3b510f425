"""Kernel Inception Distance (Binkowski, Sutherland, Arbel & Gretton, 2018).

KID is the unbiased estimate of the squared MMD between two feature sets under the
cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,

    MMD_u^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
              - 2/m^2 sum_{i, j} k(x_i, y_j),

averaged over ``n_subsets`` random subsets of ``m = subset_size`` rows drawn without
replacement from each set (the subsets keep the O(m^2) kernel cost bounded).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.metrics._common import as_float_array

Array = jax.Array

_HIGHEST = jax.lax.Precision.HIGHEST


def _poly_kernel(x: Array, y: Array) -> Array:
    d = x.shape[-1]
    return (jnp.matmul(x, y.T, precision=_HIGHEST) / d + 1.0) ** 3


def _unbiased_mmd2(x: Array, y: Array) -> Array:
    m = x.shape[0]
    kxx = _poly_kernel(x, x)
    kyy = _poly_kernel(y, y)
    kxy = _poly_kernel(x, y)
    off = m * (m - 1.0)
    return ((jnp.sum(kxx) - jnp.trace(kxx)) / off + (jnp.sum(kyy) - jnp.trace(kyy)) / off
            - 2.0 * jnp.mean(kxy))


def _kid(f1: Array, f2: Array, key: Array, subset_size: int, n_subsets: int):
    def one(k):
        k1, k2 = jax.random.split(k)
        i1 = jax.random.permutation(k1, f1.shape[0])[:subset_size]
        i2 = jax.random.permutation(k2, f2.shape[0])[:subset_size]
        return _unbiased_mmd2(f1[i1], f2[i2])

    vals = jax.lax.map(one, jax.random.split(key, n_subsets))
    return jnp.mean(vals), jnp.std(vals)


_kid_jit = jax.jit(_kid, static_argnames=("subset_size", "n_subsets"))


def kernel_inception_distance(f1: Array, f2: Array, subset_size: int = 1000,
                              n_subsets: int = 100, key: Array | None = None
                              ) -> tuple[Array, Array]:
    """KID between feature sets f1 (n1, d) and f2 (n2, d) (Binkowski et al., 2018).

    Args:
      f1, f2: features, e.g. Inception pool features; any dimension d.
      subset_size: rows per subset, 2 <= subset_size <= min(n1, n2).
      n_subsets: number of random subsets (>= 1).
      key: PRNG key for the subsets; a fixed ``jax.random.key(0)`` when None so that
        repeated evaluations are comparable.
    Returns:
      ``(mean, std)`` of the per-subset unbiased MMD^2 values (std with ddof=0, the
      convention of the reference implementations). Unbiased, so it can be slightly
      negative when the distributions match.
    """
    fn = "kernel_inception_distance"
    f1, f2 = as_float_array(f1), as_float_array(f2)
    checks.ndim(fn, "f1", f1, 2, "(n1, d)")
    checks.ndim(fn, "f2", f2, 2, "(n2, d)")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"{fn}: f1 and f2 must have the same feature dimension, got "
                         f"{f1.shape} and {f2.shape}.")
    subset_size = checks.integer(fn, "subset_size", subset_size, minimum=2)
    n_subsets = checks.positive_int(fn, "n_subsets", n_subsets)
    if subset_size > min(f1.shape[0], f2.shape[0]):
        raise ValueError(f"{fn}: subset_size={subset_size} exceeds the smaller set "
                         f"(f1 {f1.shape}, f2 {f2.shape}); valid: 2..{min(f1.shape[0], f2.shape[0])}.")
    if key is None:
        key = jax.random.key(0)
    dtype = jnp.result_type(f1, f2)
    return _kid_jit(f1.astype(dtype), f2.astype(dtype), key, subset_size=subset_size,
                    n_subsets=n_subsets)
