"""PointFlow's normalisation protocol for point clouds (Yang et al. 2019, "PointFlow: 3D
point cloud generation with continuous normalizing flows"; the same data code and
evaluation are used by PVD, Zhou et al. 2021, and many later papers).

Points X (N shapes, P points, 3) are standardised as ``(X - m) / s`` with

* ``mode="global"`` (PointFlow's and PVD's generation setting, the default): m = the
  per-axis mean of every point of every **training** shape (1, 1, 3), s = the standard
  deviation of all their coordinates together, a scalar (1, 1, 1), or per axis
  (1, 1, 3) with ``std_per_axis=True``. The test and validation splits are scaled with
  the training statistics.
* ``mode="per_shape"``: each shape by its own mean (N, 1, 3) and standard deviation
  (N, 1, 1) (or (N, 1, 3)), in every split. (PointFlow's code passes the training
  statistics to the test split in this mode too, which only lines up for global
  statistics; each shape's own statistics is the consistent reading.)
* ``mode="none"``: m = 0, s = 1.

**Evaluation** (PointFlow ``test.py`` ``evaluate_gen``, PVD ``test_generation.py``):
generated clouds and held-out reference clouds are both mapped back with the
*reference's* statistics, ``X * s + m``, and the metrics (MMD-CD, MMD-EMD, COV, 1-NNA)
are computed in the data's original units. With global statistics this is the same map
for every cloud; with per-shape statistics, generated cloud i takes the statistics of
reference cloud i (PointFlow's pairing by batch position). See
:func:`to_evaluation_units`.

Later work (Luo & Hu 2021, "Diffusion probabilistic models for 3D point cloud
generation") rescales every cloud, generated and reference alike, into its own unit
bounding box before the metrics instead; :func:`bounding_box_normalize` gives that
variant. Numbers under the two protocols are not comparable.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from diffax import checks

MODES = ("global", "per_shape", "none")


def _check_points(where: str, points) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"{where}: points must have shape (num_shapes, num_points, 3), got "
                         f"{points.shape}.")
    if points.shape[0] == 0 or points.shape[1] == 0:
        raise ValueError(f"{where}: empty point sets (shape {points.shape}).")
    if not np.all(np.isfinite(points)):
        bad = np.flatnonzero(~np.all(np.isfinite(points), axis=(1, 2)))
        raise ValueError(f"{where}: point sets {bad[:10].tolist()} hold NaN or inf values.")
    return points


@dataclasses.dataclass(frozen=True)
class PointCloudNormalizer:
    """``(X - mean) / std`` and back; ``mean`` and ``std`` broadcast against (N, P, 3):
    (1, 1, 3) and (1, 1, 1) or (1, 1, 3) for global statistics, (N, 1, 3) and
    (N, 1, 1) or (N, 1, 3) per shape."""

    mean: np.ndarray
    std: np.ndarray
    mode: str = "global"

    @classmethod
    def fit(cls, points, mode: str = "global", *, std_per_axis: bool = False
            ) -> "PointCloudNormalizer":
        """Statistics of ``points`` (N, P, 3) in float64 (module docstring).

        Raises:
          ValueError: unknown mode, bad shape, empty or non-finite point sets, or a
            (shape or data set) with zero spread.
        """
        checks.choice("PointCloudNormalizer", "mode", mode, MODES)
        points = _check_points("PointCloudNormalizer.fit", points).astype(np.float64)
        n = points.shape[0]
        if mode == "none":
            return cls(np.zeros((1, 1, 3)), np.ones((1, 1, 1)), mode)
        if mode == "global":
            flat = points.reshape(-1, 3)
            mean = flat.mean(0).reshape(1, 1, 3)
            std = (flat.std(0).reshape(1, 1, 3) if std_per_axis
                   else np.asarray(flat.std()).reshape(1, 1, 1))
        else:
            mean = points.mean(1, keepdims=True)
            std = (points.std(1, keepdims=True) if std_per_axis
                   else points.reshape(n, -1).std(1).reshape(n, 1, 1))
        if np.any(std <= 0):
            raise ValueError(f"PointCloudNormalizer.fit ({mode}): a standard deviation is 0 "
                             "(every point of a shape or axis coincides); use "
                             "std_per_axis=False or mode='none'.")
        return cls(mean, std, mode)

    def normalize(self, points) -> np.ndarray:
        return (np.asarray(points) - self.mean) / self.std

    def denormalize(self, points) -> np.ndarray:
        return np.asarray(points) * self.std + self.mean

    def select(self, indices) -> "PointCloudNormalizer":
        """The statistics of shapes ``indices`` (per-shape mode; global ones unchanged)."""
        if self.mode != "per_shape":
            return self
        idx = np.asarray(indices)
        return PointCloudNormalizer(self.mean[idx], self.std[idx], self.mode)


def to_evaluation_units(samples, reference, normalizer: PointCloudNormalizer
                        ) -> tuple[np.ndarray, np.ndarray]:
    """PointFlow's evaluation map: generated ``samples`` (G, P, 3) and held-out
    ``reference`` (R, P', 3), both in model space, back to data units with the
    reference's statistics (``normalizer`` holds those of the R reference clouds; per
    shape, sample i takes reference i's, so G <= R is required)."""
    samples, reference = np.asarray(samples), np.asarray(reference)
    if normalizer.mode == "per_shape":
        if normalizer.mean.shape[0] != len(reference) or len(samples) > len(reference):
            raise ValueError(f"to_evaluation_units: per-shape statistics of "
                             f"{normalizer.mean.shape[0]} shapes for {len(reference)} "
                             f"reference and {len(samples)} generated clouds; need one per "
                             "reference cloud and no more generated than reference clouds.")
        gen = samples * normalizer.std[:len(samples)] + normalizer.mean[:len(samples)]
        return gen, normalizer.denormalize(reference)
    return normalizer.denormalize(samples), normalizer.denormalize(reference)


def bounding_box_normalize(points) -> np.ndarray:
    """Each cloud (N, P, 3) centred on its bounding-box centre and divided by half its
    longest box side, so it fits [-1, 1]^3 (Luo & Hu 2021's evaluation variant)."""
    points = np.asarray(points, np.float64)
    lo, hi = points.min(1, keepdims=True), points.max(1, keepdims=True)
    half = (hi - lo).max(-1, keepdims=True) / 2
    return (points - (lo + hi) / 2) / np.maximum(half, 1e-12)


__all__ = ["MODES", "PointCloudNormalizer", "bounding_box_normalize", "to_evaluation_units"]
