"""Set-level metrics for generated point clouds (Achlioptas et al., 2018; Yang et al., 2019).

Given generated sets S_g, reference sets S_r and a distance D between two point
clouds (Chamfer or EMD):

    COV(S_g, S_r)  = |{argmin_{Y in S_r} D(X, Y) : X in S_g}| / |S_r|
    MMD(S_g, S_r)  = 1/|S_r| sum_{Y in S_r} min_{X in S_g} D(X, Y)
    1-NNA(S_g, S_r) = ( sum_{X in S_g} 1[N_X in S_g] + sum_{Y in S_r} 1[N_Y in S_r] )
                      / (|S_g| + |S_r|),

where N_Z is Z's nearest neighbour in S_g u S_r minus Z itself. COV is higher-better
(in [0, 1]), MMD lower-better; 1-NNA is 0.5 when the sets are indistinguishable to
the 1-NN classifier, 1 when they are perfectly separated (exact copies give 0).

Every metric takes either point-cloud batches plus a ``distance`` name ("chamfer",
"emd", "sinkhorn") or callable ``(a, b) -> scalar`` on single sets, or precomputed
distance matrices (``ref=None``; see each function).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.metrics._common import as_float_array
from diffax.metrics.point_cloud import _chamfer, _emd_exact, _sinkhorn

Array = jax.Array

DistanceFn = Callable[[Array, Array], Array]


def _sinkhorn_default(a: Array, b: Array) -> Array:
    return _sinkhorn(a, b, jnp.asarray(1e-2, a.dtype), 300, jnp.asarray(0.9, a.dtype))


_DISTANCES: dict[str, DistanceFn] = {
    "chamfer": _chamfer,
    "emd": _emd_exact,
    "sinkhorn": _sinkhorn_default,
}


def _resolve(distance: str | DistanceFn, fn: str) -> DistanceFn:
    if callable(distance):
        return distance
    if distance not in _DISTANCES:
        raise ValueError(f"{fn}: unknown distance {distance!r}; valid: "
                         f"{sorted(_DISTANCES)} or a callable (a, b) -> scalar.")
    return _DISTANCES[distance]


def _check_clouds(x, name: str, fn: str) -> Array:
    x = as_float_array(x)
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{fn}: {name} must be a non-empty batch of point clouds "
                         f"(n_sets, n_points, d), got shape {x.shape}.")
    return x


def _matrix(xs: Array, ys: Array, dist: DistanceFn, block_size: int) -> Array:
    def row(x):
        return jax.lax.map(lambda y: dist(x, y), ys, batch_size=min(block_size, ys.shape[0]))

    return jax.lax.map(row, xs)


_matrix_jit = jax.jit(_matrix, static_argnames=("dist", "block_size"))


def set_distance_matrix(xs: Array, ys: Array, distance: str | DistanceFn = "chamfer", *,
                        block_size: int = 32) -> Array:
    """Pairwise distances D[i, j] = distance(xs[i], ys[j]) between point-cloud batches.

    Args:
      xs: (n_x, p, d); ys: (n_y, q, d) (p != q allowed except for "emd").
      distance: "chamfer" (squared, ``chamfer_distance``), "emd" (exact,
        ``earth_movers_distance``, needs p == q), "sinkhorn" (``sinkhorn_emd`` with its
        defaults) or a jittable callable on two single sets.
      block_size: ys sets compared at once with each xs set (vmapped); memory is
        about block_size * p * q values.
    Returns:
      (n_x, n_y) matrix.
    """
    fn = "set_distance_matrix"
    dist = _resolve(distance, fn)
    xs, ys = _check_clouds(xs, "xs", fn), _check_clouds(ys, "ys", fn)
    if xs.shape[-1] != ys.shape[-1]:
        raise ValueError(f"{fn}: xs and ys must have the same point dimension, got "
                         f"{xs.shape} and {ys.shape}.")
    if distance == "emd" and xs.shape[1] != ys.shape[1]:
        raise ValueError(f"{fn}: distance 'emd' needs equal-size clouds, got {xs.shape[1]} "
                         f"and {ys.shape[1]} points; use 'sinkhorn' for unequal sizes.")
    block_size = checks.positive_int(fn, "block_size", block_size)
    dtype = jnp.result_type(xs, ys)
    return _matrix_jit(xs.astype(dtype), ys.astype(dtype), dist=dist, block_size=block_size)


def _gen_ref_matrix(gen, ref, distance, block_size, fn: str) -> Array:
    if ref is None:
        d = as_float_array(gen)
        if d.ndim != 2 or 0 in d.shape:
            raise ValueError(f"{fn}: with ref=None, gen must be a precomputed non-empty "
                             f"(n_gen, n_ref) distance matrix, got shape {d.shape}.")
        return d
    return set_distance_matrix(_check_clouds(gen, "gen", fn), _check_clouds(ref, "ref", fn),
                               distance, block_size=block_size)


def coverage(gen: Array, ref: Array | None = None, *,
             distance: str | DistanceFn = "chamfer", block_size: int = 32) -> Array:
    """COV: fraction of reference sets that are the nearest neighbour of some generated set.

    Args:
      gen, ref: point-cloud batches (n_gen, p, d), (n_ref, q, d), compared with
        ``distance``; or ``gen`` = precomputed D[gen, ref] of shape (n_gen, n_ref) and
        ``ref=None``.
    Returns:
      Scalar in [0, 1] (ties go to the lowest reference index).
    """
    d = _gen_ref_matrix(gen, ref, distance, block_size, "coverage")
    matched = jnp.zeros((d.shape[1],), bool).at[jnp.argmin(d, axis=1)].set(True)
    return jnp.mean(matched.astype(d.dtype))


def minimum_matching_distance(gen: Array, ref: Array | None = None, *,
                              distance: str | DistanceFn = "chamfer",
                              block_size: int = 32) -> Array:
    """MMD (minimum matching distance; MMD-CD / MMD-EMD by the chosen distance).

    The mean over reference sets of the distance to the closest generated set.
    Arguments as in ``coverage``. Returns a scalar in the units of the distance.
    """
    d = _gen_ref_matrix(gen, ref, distance, block_size, "minimum_matching_distance")
    return jnp.mean(jnp.min(d, axis=0))


@jax.jit
def _one_nna(d_gg: Array, d_gr: Array, d_rr: Array) -> Array:
    n_g, n_r = d_gr.shape
    full = jnp.block([[d_gg, d_gr], [d_gr.T, d_rr]])
    full = jnp.where(jnp.eye(n_g + n_r, dtype=bool), jnp.inf, full)
    labels = jnp.arange(n_g + n_r) < n_g
    nearest = jnp.argmin(full, axis=1)
    return jnp.mean((labels[nearest] == labels).astype(d_gr.dtype))


def one_nn_accuracy(gen, ref: Array | None = None, *,
                    distance: str | DistanceFn = "chamfer", block_size: int = 32) -> Array:
    """1-NNA: leave-one-out accuracy of the 1-nearest-neighbour two-sample classifier.

    Args:
      gen, ref: point-cloud batches (n_gen, p, d), (n_ref, q, d), compared with
        ``distance`` (three distance matrices are computed: gen-gen, gen-ref,
        ref-ref); or ``gen`` = a tuple of precomputed matrices
        ``(D_gen_gen (n_gen, n_gen), D_gen_ref (n_gen, n_ref), D_ref_ref (n_ref, n_ref))``
        and ``ref=None``. Diagonals of the square matrices are ignored.
    Returns:
      Scalar in [0, 1]; 0.5 is ideal. Ties go to the lower index in the stacked
      order (generated first).
    """
    fn = "one_nn_accuracy"
    if ref is None:
        if not isinstance(gen, (tuple, list)) or len(gen) != 3:
            raise ValueError(f"{fn}: with ref=None, gen must be the tuple (D_gen_gen, "
                             f"D_gen_ref, D_ref_ref) of distance matrices, got "
                             f"{type(gen).__name__}.")
        d_gg, d_gr, d_rr = (as_float_array(m) for m in gen)
        if d_gr.ndim != 2 or d_gg.shape != (d_gr.shape[0],) * 2 \
                or d_rr.shape != (d_gr.shape[1],) * 2:
            raise ValueError(f"{fn}: inconsistent matrix shapes D_gen_gen {d_gg.shape}, "
                             f"D_gen_ref {d_gr.shape}, D_ref_ref {d_rr.shape}; need "
                             f"(n_gen, n_gen), (n_gen, n_ref), (n_ref, n_ref).")
    else:
        gen, ref = _check_clouds(gen, "gen", fn), _check_clouds(ref, "ref", fn)
        d_gg = set_distance_matrix(gen, gen, distance, block_size=block_size)
        d_gr = set_distance_matrix(gen, ref, distance, block_size=block_size)
        d_rr = set_distance_matrix(ref, ref, distance, block_size=block_size)
    if d_gr.shape[0] + d_gr.shape[1] < 2:
        raise ValueError(f"{fn}: need at least two sets in total, got D_gen_ref "
                         f"{d_gr.shape}.")
    dtype = jnp.result_type(d_gg, d_gr, d_rr)
    return _one_nna(d_gg.astype(dtype), d_gr.astype(dtype), d_rr.astype(dtype))
