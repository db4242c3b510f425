"""Feature statistics for :mod:`experiments.fid`: feature extractors with the hash of their
weights, a sharded feature function, running float64 moments, the cached reference
statistics of a data split, and the Fréchet distance between two fits.

Running moments (Chan, Golub & LeVeque, 1979, the pairwise update): a batch b with
count n_b, mean m_b and M_b = sum (x - m_b)(x - m_b)^T joins the totals (n_a, m_a, M_a) as

    n = n_a + n_b,   d = m_b - m_a,   m = m_a + d n_b / n,
    M = M_a + M_b + d d^T n_a n_b / n,

and the covariance is M / (n - 1). In float64 on the host this is exact to rounding
whatever the features' offset, so 50,000 x 2048 features never sit in memory at once.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from diffax import filesystem as fs
from diffax.training import host_arrays, sharding

EXTRACTORS = ("fmnist_cnn", "inception_v3")


# ---- running moments ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunningStats:
    """Count, mean (d,) and sum of centred outer products ``m2`` (d, d), all float64."""

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> "RunningStats":
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def update(self, features: np.ndarray) -> "RunningStats":
        """The statistics with a batch of features (n, d) added (module docstring)."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"RunningStats.update: features must have shape (n, {self.dim}), "
                             f"got {x.shape}.")
        nb = x.shape[0]
        if nb == 0:
            return self
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        n = self.count + nb
        delta = mean_b - self.mean
        mean = self.mean + delta * (nb / n)
        m2 = self.m2 + xc.T @ xc + np.outer(delta, delta) * (self.count * nb / n)
        return RunningStats(n, mean, m2)

    def covariance(self) -> np.ndarray:
        """The unbiased covariance M / (n - 1) (needs n >= 2)."""
        if self.count < 2:
            raise ValueError(f"RunningStats.covariance: needs at least 2 feature vectors, got "
                             f"{self.count}.")
        return self.m2 / (self.count - 1)


def frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}) (Heusel et al., 2017), by
    :func:`diffax.metrics.frechet_distance` in float64 (x64 enabled for this call only)."""
    from diffax.metrics import frechet_distance

    with jax.enable_x64(True):
        return float(frechet_distance(*(jnp.asarray(np.asarray(a, np.float64))
                                        for a in (mu1, cov1, mu2, cov2))))


# ---- feature extractors -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Extractor:
    """A feature network as a pure ``apply(params, images) -> (n, dim)`` with its weights,
    the name reports carry and the SHA-256 of its weights file."""

    name: str
    description: str
    sha256: str
    params: Any
    apply: Callable
    dim: int


def make_extractor(name: str, weights: str = "") -> Extractor:
    """``fmnist_cnn`` (FD-FMNIST; ``weights`` defaults to the packaged file) or
    ``inception_v3`` (FID pool3, 299x299 bilinear resize; ``weights`` is required: a
    converted .npz, docs/features.md)."""
    from diffax.features import _weights, feature_name, fmnist_cnn, inception_v3

    if name == "fmnist_cnn":
        path = weights or fmnist_cnn.WEIGHTS_FILE
        params, apply, dim = fmnist_cnn.load_params(path), fmnist_cnn.features, \
            fmnist_cnn.FEATURE_DIM
        description = feature_name(name)
    elif name == "inception_v3":
        if not weights:
            raise ValueError("fid.features='inception_v3' needs fid.weights (or "
                             "eval.inception_weights) = a converted .npz; convert pytorch-fid's "
                             "with `python -m experiments.convert_inception_weights` "
                             "(docs/features.md).")
        from flax import nnx

        path = weights
        graphdef, params = nnx.split(inception_v3.model_from_params(
            inception_v3.load_params(path)))

        def apply(state, x):
            return nnx.merge(graphdef, state).features(inception_v3.preprocess(x))

        dim = inception_v3.FEATURE_DIM
        description = feature_name(name, weights_path=path)
    else:
        raise ValueError(f"fid.features={name!r} is invalid: choose one of {list(EXTRACTORS)} "
                         f"(or 'auto').")
    return Extractor(name, description, _weights.sha256(path), params, apply, dim)


def sharded_feature_fn(extractor: Extractor, mesh: jax.sharding.Mesh,
                       batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """``images (n, ...) in [-1, 1] -> float64 features (n, dim)``: batches of at most
    ``batch_size`` rows (rounded up to the "data" axis size; the last one padded by
    repeating its last row) are split over the mesh's "data" axis, the weights replicated,
    and the features gathered on every host."""
    width = int(mesh.shape[sharding.DATA_AXIS])
    batch_size = -(-int(batch_size) // width) * width
    rows_sharded, everywhere = sharding.data_sharded(mesh), sharding.replicated(mesh)
    params = jax.device_put(extractor.params, everywhere)
    fn = jax.jit(extractor.apply, in_shardings=(everywhere, rows_sharded),
                 out_shardings=everywhere)

    def features(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        n = len(images)
        size = min(batch_size, -(-n // width) * width)
        out = []
        for start in range(0, n, size):
            x = images[start:start + size]
            real = len(x)
            x = host_arrays.pad_rows(x, size)
            xg = jax.make_array_from_callback(x.shape, rows_sharded, lambda idx, x=x: x[idx])
            out.append(np.asarray(fn(params, xg), np.float64)[:real])
        return np.concatenate(out) if out else np.zeros((0, extractor.dim))

    return features


# ---- cached reference statistics ------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-")


def reference_cache_path(stats_dir: str, dataset: str, split: str, count: int,
                         extractor: Extractor) -> str:
    """``<stats_dir>/<dataset>_<split>_n<count>_<features>_<sha256[:16]>.npz``."""
    name = f"{_slug(dataset)}_{_slug(split)}_n{count}_{extractor.name}_{extractor.sha256[:16]}"
    return fs.join(stats_dir, name + ".npz")


def save_reference(path: str, stats: RunningStats, meta: dict) -> None:
    """Write the statistics and their identity (``meta``: dataset, split, features,
    sha256) as one .npz, atomically (:func:`write_atomic`)."""
    buf = io.BytesIO()
    np.savez(buf, mean=stats.mean, cov=stats.covariance(), count=np.int64(stats.count),
             **{k: np.asarray(str(v)) for k, v in meta.items()})
    write_atomic(path, buf.getvalue())


def load_reference(path: str, meta: dict) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(mean, cov, count)`` from ``path`` when it exists, reads, and its stored identity
    equals ``meta`` (e.g. the extractor's full hash); None otherwise."""
    if not fs.exists(path):
        return None
    try:
        with np.load(io.BytesIO(fs.read_bytes(path))) as f:
            stored = {k: str(f[k]) for k in meta if k in f.files}
            if stored != {k: str(v) for k, v in meta.items()}:
                print(f"[diffax] fid: {path} was made for {stored}, not {meta}; recomputing",
                      flush=True)
                return None
            return np.asarray(f["mean"]), np.asarray(f["cov"]), int(f["count"])
    except Exception as err:  # truncated / corrupt: recompute
        print(f"[diffax] fid: unreadable reference statistics {path} ({err}); recomputing",
              flush=True)
        return None


def stale_caches(path: str) -> list[str]:
    """Other caches for the same dataset, split, count and features (another weights
    hash): their presence means the extractor's weights changed."""
    folder, name = os.path.split(os.fspath(path))
    stem = name.rsplit("_", 1)[0] + "_"
    p = fs.as_path(folder)
    if not p.exists():
        return []
    return sorted(os.fspath(q) for q in p.iterdir()
                  if q.name.startswith(stem) and q.name.endswith(".npz") and q.name != name)


def accumulate(batches: Iterable[np.ndarray], features: Callable[[np.ndarray], np.ndarray],
               dim: int) -> RunningStats:
    """Running statistics of ``features(batch)`` over ``batches``."""
    stats = RunningStats.empty(dim)
    for batch in batches:
        stats = stats.update(features(batch))
    return stats


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` so that ``path`` is either absent or complete: locally to a temporary
    file in the same folder, then ``os.replace``; on an object store (``gs://``) by one
    upload, which the store makes visible only when it has finished."""
    if fs.is_remote(path):
        fs.write_bytes(path, data)
        return
    fs.makedirs(os.path.dirname(os.fspath(fs.as_path(path))))
    target = os.fspath(fs.as_path(path))
    tmp = f"{target}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)


__all__ = ["EXTRACTORS", "Extractor", "RunningStats", "accumulate", "frechet",
           "load_reference", "make_extractor", "reference_cache_path", "save_reference",
           "sharded_feature_fn", "stale_caches", "write_atomic"]
