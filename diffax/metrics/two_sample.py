"""Two-sample distances: kernel MMD (Gretton et al., 2012) and energy distance
(Székely & Rizzo, 2013).

Both reduce pairwise kernel or distance matrices to sums, computed here in row
blocks (``jax.lax.map`` with ``batch_size``) so memory stays at block_size * m
values (times d for the energy distance, which uses explicit differences) rather
than n * m.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.metrics._common import as_float_array, safe_sqrt, sq_dists_to_rows

Array = jax.Array


def _as_points(x, name: str, fn: str) -> Array:
    x = as_float_array(x)
    checks.ndim(fn, name, x, (1, 2), "(n,) or (n, d)")
    return x[:, None] if x.ndim == 1 else x


def _check_pair(x, y, fn: str, min_n: int) -> tuple[Array, Array]:
    x = _as_points(x, "x", fn)
    y = _as_points(y, "y", fn)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{fn}: x and y must have the same dimension, got {x.shape} "
                         f"and {y.shape}.")
    if x.shape[0] < min_n or y.shape[0] < min_n:
        raise ValueError(f"{fn}: need at least {min_n} points in each set, got {x.shape} "
                         f"and {y.shape}.")
    dtype = jnp.result_type(x, y)
    return x.astype(dtype), y.astype(dtype)


def _pair_sum(x: Array, y: Array, pair_fn, block_size: int, exclude_diagonal: bool) -> Array:
    """sum_{i, j} pair_fn(x_i, y_j) (over i != j when ``exclude_diagonal``), row-blocked."""
    idx = jnp.arange(x.shape[0])
    cols = jnp.arange(y.shape[0])

    def row(args):
        i, p = args
        vals = pair_fn(p, y)
        if exclude_diagonal:
            vals = jnp.where(cols == i, 0.0, vals)
        return jnp.sum(vals)

    return jnp.sum(jax.lax.map(row, (idx, x), batch_size=min(block_size, x.shape[0])))


def _rbf_sum(bandwidths: Array):
    coef = -0.5 / bandwidths**2

    def pair_fn(p, ys):
        # Gram expansion (memory m per row, not m * d); the points are centred first.
        d2 = sq_dists_to_rows(p, ys, jnp.sum(ys * ys, axis=-1))
        return jnp.sum(jnp.exp(d2[:, None] * coef), axis=-1)

    return pair_fn


def _mmd(x, y, bandwidths, unbiased, block_size):
    k = _rbf_sum(bandwidths.astype(x.dtype))
    n, m = x.shape[0], y.shape[0]
    centre = 0.5 * (jnp.mean(x, axis=0) + jnp.mean(y, axis=0))
    x, y = x - centre, y - centre
    sxx = _pair_sum(x, x, k, block_size, unbiased)
    syy = _pair_sum(y, y, k, block_size, unbiased)
    sxy = _pair_sum(x, y, k, block_size, False)
    if unbiased:
        return sxx / (n * (n - 1.0)) + syy / (m * (m - 1.0)) - 2.0 * sxy / (n * m)
    return sxx / n**2 + syy / m**2 - 2.0 * sxy / (n * m)


_mmd_jit = jax.jit(_mmd, static_argnames=("unbiased", "block_size"))


def mmd(x: Array, y: Array, bandwidths: float | Sequence[float] | Array = 1.0, *,
        unbiased: bool = True, block_size: int = 256) -> Array:
    """Squared maximum mean discrepancy with a sum of RBF kernels (Gretton et al., 2012).

        k(x, y) = sum_b exp(-|x - y|^2 / (2 h_b^2)),
        unbiased:  MMD_u^2 = sum_{i != j} k(x_i, x_j) / (n(n-1))
                           + sum_{i != j} k(y_i, y_j) / (m(m-1)) - 2 mean_{i,j} k(x_i, y_j)
        biased:    MMD_b^2 = mean k(x_i, x_j) + mean k(y_i, y_j) - 2 mean k(x_i, y_j)

    The unbiased U-statistic can be slightly negative when the distributions match;
    the biased V-statistic is >= 0 (k is positive definite).

    Args:
      x: samples (n,) or (n, d); y: samples (m,) or (m, d).
      bandwidths: positive scalar or 1-D sequence of kernel widths h_b.
      unbiased: U-statistic (default) or V-statistic.
      block_size: rows per block of the pairwise sums.
    Returns:
      Scalar MMD^2 (squared; take sqrt of the biased value for the MMD itself).
    """
    fn = "mmd"
    x, y = _check_pair(x, y, fn, 2 if unbiased else 1)
    bw = jnp.atleast_1d(as_float_array(bandwidths))
    if bw.ndim != 1 or bw.shape[0] == 0:
        raise ValueError(f"{fn}: bandwidths must be a positive scalar or a non-empty 1-D "
                         f"sequence, got shape {bw.shape}.")
    if checks.is_concrete(bw) and not bool(np.all(np.asarray(bw) > 0)):
        raise ValueError(f"{fn}: bandwidths must all be > 0, got {np.asarray(bw)}.")
    block_size = checks.positive_int(fn, "block_size", block_size)
    return _mmd_jit(x, y, bw, unbiased=bool(unbiased), block_size=block_size)


def _dist_fn(p, ys):
    return safe_sqrt(jnp.sum((ys - p) ** 2, axis=-1))


def _energy(x, y, squared, block_size):
    n, m = x.shape[0], y.shape[0]
    exy = _pair_sum(x, y, _dist_fn, block_size, False) / (n * m)
    exx = _pair_sum(x, x, _dist_fn, block_size, False) / n**2
    eyy = _pair_sum(y, y, _dist_fn, block_size, False) / m**2
    e2 = jnp.maximum(2.0 * exy - exx - eyy, 0.0)
    return e2 if squared else safe_sqrt(e2)


_energy_jit = jax.jit(_energy, static_argnames=("squared", "block_size"))


def energy_distance(x: Array, y: Array, *, squared: bool = False,
                    block_size: int = 64) -> Array:
    """Energy distance between the empirical distributions of x and y (Székely & Rizzo, 2013).

        D^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,

    with every expectation the plain mean over all pairs (V-statistics, i = j terms
    included), which is ``scipy.stats.energy_distance`` in 1-D (there D^2 equals twice
    the squared L2 distance between the empirical CDFs). Euclidean norms are computed
    from explicit differences (exact in float32, no Gram-expansion cancellation), in
    row blocks of ``block_size`` rows.

    Args:
      x: samples (n,) or (n, d); y: samples (m,) or (m, d).
      squared: return D^2 instead of D (default: D, the scipy convention).
      block_size: rows per block; a block holds block_size * m * d differences.
    Returns:
      Scalar D (or D^2), clipped at 0 before the square root.
    """
    fn = "energy_distance"
    x, y = _check_pair(x, y, fn, 1)
    block_size = checks.positive_int(fn, "block_size", block_size)
    return _energy_jit(x, y, squared=bool(squared), block_size=block_size)
