"""Fréchet distance between Gaussian fits of feature sets (FID/FD; Heusel et al., 2017).

    FD = |mu_1 - mu_2|^2 + tr(C_1) + tr(C_2) - 2 tr((C_1 C_2)^{1/2}),

the squared 2-Wasserstein distance between N(mu_1, C_1) and N(mu_2, C_2) (Dowson &
Landau, 1982). With Inception-v3 pool features this is FID; any feature function
works (diffax/features builds extractors, this module only sees arrays).

Statistics can be streamed over many batches with the ``FeatureStatistics``
accumulator (count, shifted sum, shifted sum of outer products), so FD over 50k
samples never needs all features in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import flax.struct
import jax
import jax.numpy as jnp

from diffax import checks
from diffax.metrics._common import as_float_array

Array = jax.Array

_HIGHEST = jax.lax.Precision.HIGHEST


def _accumulator_dtype() -> jnp.dtype:
    """float64 when x64 is enabled, else float32 (read at call time)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _check_features(features, name: str, fn: str) -> Array:
    features = as_float_array(features)
    checks.ndim(fn, name, features, 2, "(n, d)")
    return features


@flax.struct.dataclass
class FeatureStatistics:
    """Streaming first and second moments of features (a pytree; jit/vmap friendly).

    Fields (all in the accumulator dtype: float64 under x64, else float32):
      count:     number of feature vectors seen (integer scalar).
      shift:     (d,) reference point; the first batch's mean. Moments are taken of
                 ``x - shift`` so that float32 sums do not cancel catastrophically
                 when the features have a large mean (the "shifted data" algorithm).
      sum:       (d,) sum of ``x - shift``.
      sum_outer: (d, d) sum of ``(x - shift)(x - shift)^T``.
    """

    count: Array
    shift: Array
    sum: Array
    sum_outer: Array

    @property
    def dim(self) -> int:
        return self.shift.shape[-1]


def init_feature_statistics(dim: int, dtype=None) -> FeatureStatistics:
    """Empty accumulator for ``dim``-dimensional features."""
    checks.positive_int("init_feature_statistics", "dim", dim)
    dtype = _accumulator_dtype() if dtype is None else jnp.dtype(dtype)
    checks.floating("init_feature_statistics", "dtype", dtype)
    count_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)
    return FeatureStatistics(count=jnp.zeros((), count_dtype),
                             shift=jnp.zeros((dim,), dtype), sum=jnp.zeros((dim,), dtype),
                             sum_outer=jnp.zeros((dim, dim), dtype))


@jax.jit
def _update(stats: FeatureStatistics, features: Array) -> FeatureStatistics:
    dtype = stats.shift.dtype
    x = features.astype(dtype)
    # The first batch (count == 0, sums are zero) fixes the shift at its own mean.
    shift = jnp.where(stats.count == 0, jnp.mean(x, axis=0), stats.shift)
    xc = x - shift
    return FeatureStatistics(
        count=stats.count + x.shape[0],
        shift=shift,
        sum=stats.sum + jnp.sum(xc, axis=0),
        sum_outer=stats.sum_outer + jnp.matmul(xc.T, xc, precision=_HIGHEST),
    )


def update_feature_statistics(stats: FeatureStatistics, features: Array) -> FeatureStatistics:
    """Add a batch of features (n, d) to the accumulator; returns the new accumulator."""
    features = _check_features(features, "features", "update_feature_statistics")
    if features.shape[1] != stats.dim:
        raise ValueError(f"update_feature_statistics: features have dimension "
                         f"{features.shape[1]}, the accumulator has {stats.dim}.")
    if features.shape[0] == 0:
        return stats
    return _update(stats, features)


@jax.jit
def _merge(a: FeatureStatistics, b: FeatureStatistics) -> FeatureStatistics:
    # Re-express b's shifted sums around a's shift: with delta = s_b - s_a,
    #   sum(x - s_a) = S_b + n_b delta,
    #   sum((x - s_a)(x - s_a)^T) = Q_b + S_b delta^T + delta S_b^T + n_b delta delta^T.
    a_empty = a.count == 0
    shift = jnp.where(a_empty, b.shift, a.shift)
    delta = b.shift - shift
    nb = b.count.astype(a.shift.dtype)
    b_sum = b.sum + nb * delta
    b_outer = (b.sum_outer + jnp.outer(b.sum, delta) + jnp.outer(delta, b.sum)
               + nb * jnp.outer(delta, delta))
    return FeatureStatistics(count=a.count + b.count, shift=shift, sum=a.sum + b_sum,
                             sum_outer=a.sum_outer + b_outer)


def merge_feature_statistics(a: FeatureStatistics, b: FeatureStatistics) -> FeatureStatistics:
    """Combine two accumulators (e.g. from different hosts or shards)."""
    if a.dim != b.dim:
        raise ValueError(f"merge_feature_statistics: dimensions differ, {a.dim} vs {b.dim}.")
    return _merge(a, b)


@jax.jit
def _finalize(stats: FeatureStatistics) -> tuple[Array, Array]:
    n = stats.count.astype(stats.shift.dtype)
    mean_c = stats.sum / n
    mu = stats.shift + mean_c
    cov = (stats.sum_outer - n * jnp.outer(mean_c, mean_c)) / (n - 1.0)
    return mu, 0.5 * (cov + cov.T)


def finalize_feature_statistics(stats: FeatureStatistics) -> tuple[Array, Array]:
    """Mean (d,) and unbiased covariance (d, d) (divisor n - 1) of all features seen.

    Needs at least two feature vectors; the count is checked when it is concrete.
    """
    if checks.is_concrete(stats.count) and int(stats.count) < 2:
        raise ValueError(f"finalize_feature_statistics: need at least 2 feature vectors "
                         f"for a covariance, got {int(stats.count)}.")
    return _finalize(stats)


def feature_statistics(features: Array) -> tuple[Array, Array]:
    """One-shot ``(mu, cov)`` of features (n, d), n >= 2, with the same arithmetic as
    the streaming accumulator (covariance divisor n - 1)."""
    features = _check_features(features, "features", "feature_statistics")
    if features.shape[0] < 2:
        raise ValueError(f"feature_statistics: need n >= 2 feature vectors, got shape "
                         f"{features.shape}.")
    stats = init_feature_statistics(features.shape[1])
    return _finalize(_update(stats, features))


def feature_statistics_from_batches(
        batches: Iterable[Array],
        feature_fn: Callable[[Array], Array] | None = None) -> tuple[Array, Array]:
    """``(mu, cov)`` of ``feature_fn(batch)`` over an iterable of batches.

    ``feature_fn`` maps a batch to (n, d) features (identity when None); pass a jitted
    function for speed. Host-side Python loop; the update itself is jitted.
    """
    stats = None
    for batch in batches:
        feats = batch if feature_fn is None else feature_fn(batch)
        feats = _check_features(feats, "features", "feature_statistics_from_batches")
        if stats is None:
            stats = init_feature_statistics(feats.shape[1])
        stats = update_feature_statistics(stats, feats)
    if stats is None:
        raise ValueError("feature_statistics_from_batches: batches is empty.")
    return finalize_feature_statistics(stats)


def _sqrt_psd(c: Array) -> Array:
    w, v = jnp.linalg.eigh(c)
    return jnp.matmul(v * jnp.sqrt(jnp.maximum(w, 0.0)), v.T, precision=_HIGHEST)


@jax.jit
def _frechet(mu1, cov1, mu2, cov2):
    dtype = jnp.result_type(mu1, cov1, mu2, cov2)
    mu1, cov1, mu2, cov2 = (a.astype(dtype) for a in (mu1, cov1, mu2, cov2))
    cov1 = 0.5 * (cov1 + cov1.T)
    cov2 = 0.5 * (cov2 + cov2.T)
    prod = jnp.matmul(_sqrt_psd(cov1), _sqrt_psd(cov2), precision=_HIGHEST)
    tr_sqrt = jnp.sum(jnp.linalg.svd(prod, compute_uv=False))
    diff = mu1 - mu2
    fd = jnp.dot(diff, diff) + jnp.trace(cov1) + jnp.trace(cov2) - 2.0 * tr_sqrt
    return jnp.maximum(fd, 0.0)


def frechet_distance(mu1: Array, cov1: Array, mu2: Array, cov2: Array) -> Array:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2) (Heusel et al., 2017).

        FD = |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2})

    Matrix square root: with S_i = C_i^{1/2} (symmetric eigendecomposition,
    eigenvalues clipped at 0), (S_1 S_2)(S_1 S_2)^T = S_1 C_2 S_1, whose eigenvalues
    are those of C_1 C_2 (AB and BA share their spectrum; no invertibility needed).
    Hence tr((C1 C2)^{1/2}) is the sum of the singular values of S_1 S_2 (its nuclear
    norm), computed by one SVD. Why this form:
      * only symmetric eigenproblems and an SVD: backward stable, real, no complex
        parts, unlike a general (Schur) ``sqrtm`` of the non-symmetric C1 C2, which
        needs an ad-hoc eps*I for singular covariances;
      * no square root of rounding noise in the second step. Taking
        sqrt(eigvalsh(S_1 C_2 S_1)) turns each rounding-level eigenvalue
        eps*lambda_max of a null direction into sqrt(eps*lambda_max), a bias that
        sums over the hundreds of null directions of rank-deficient feature
        covariances (fewer samples than dimensions, or low-rank features). In float32
        with d = 1024 and rank 128 that route was off by 0.14 in tr(.)^{1/2}; the SVD
        of S_1 S_2 by 1e-4 (singular values carry absolute error ~eps*|S_1 S_2|).
    The result is clipped at 0 (it is a squared distance; rounding can make it
    slightly negative for identical inputs). Use x64 for FID-grade accuracy.

    Args:
      mu1, mu2: means of shape (d,).
      cov1, cov2: covariances of shape (d, d), symmetric positive semi-definite.
    Returns:
      Scalar FD.
    """
    fn = "frechet_distance"
    mu1, cov1, mu2, cov2 = (as_float_array(a) for a in (mu1, cov1, mu2, cov2))
    checks.ndim(fn, "mu1", mu1, 1, "(d,)")
    d = mu1.shape[0]
    for name, arr, shape in (("mu2", mu2, (d,)), ("cov1", cov1, (d, d)),
                             ("cov2", cov2, (d, d))):
        if arr.shape != shape:
            raise ValueError(f"{fn}: {name} must have shape {shape} to match mu1 {mu1.shape}, "
                             f"got {arr.shape}.")
    return _frechet(mu1, cov1, mu2, cov2)


def frechet_distance_from_features(f1: Array, f2: Array) -> Array:
    """FD between Gaussian fits of two feature sets f1 (n1, d) and f2 (n2, d), n >= 2.

    Features are moved to the accumulator dtype (float64 under x64) first.
    """
    fn = "frechet_distance_from_features"
    f1 = _check_features(f1, "f1", fn)
    f2 = _check_features(f2, "f2", fn)
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"{fn}: f1 and f2 must have the same feature dimension, got "
                         f"{f1.shape} and {f2.shape}.")
    if f1.shape[0] < 2 or f2.shape[0] < 2:
        raise ValueError(f"{fn}: need at least 2 rows in each set, got {f1.shape} and "
                         f"{f2.shape}.")
    mu1, cov1 = feature_statistics(f1)
    mu2, cov2 = feature_statistics(f2)
    return _frechet(mu1, cov1, mu2, cov2)
