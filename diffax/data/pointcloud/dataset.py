"""``PointCloudDataset``: normalised point clouds (N, P, 3) behind the Dataset protocol.

``get(indices)`` returns ``"x"``: ``float32`` (B, P, 3), the clouds in model space
(:mod:`diffax.data.pointcloud.normalize`: ``(X - mean) / std`` with the training split's
statistics, or each shape's own), and ``"label"``: ``int32`` (B,) class ids when the
source has classes. The points of a cloud are an unordered set: their order carries no
information and networks must not depend on it.

``normalizer`` maps model-space clouds back to the data's units (per shape: the
statistics of shape i of this split, in ``normalizer.select(indices)``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from diffax.data.base import ArraySpec
from diffax.data.pointcloud.normalize import PointCloudNormalizer, _check_points


@dataclasses.dataclass(frozen=True, eq=False)
class PointCloudDataset:
    """Attributes:
      name, split: registry name (e.g. ``"pc:shapes"``) and split.
      points: ``float32`` (N, P, 3), normalised.
      normalizer: the statistics the points were normalised with.
      labels: ``int32`` (N,) class ids with ``class_names``, or None.
    """

    name: str
    split: str
    points: np.ndarray
    normalizer: PointCloudNormalizer
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        where = f"PointCloudDataset {self.name!r} (split {self.split!r})"
        points = _check_points(where, self.points).astype(np.float32, copy=False)
        object.__setattr__(self, "points", points)
        if (self.labels is None) != (self.class_names is None):
            raise ValueError(f"{where}: pass both labels and class_names or neither.")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            k = len(self.class_names)
            if labels.shape != (len(points),) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"{where}: labels must be integers of shape ({len(points)},), "
                                 f"got {labels.dtype} {labels.shape}.")
            if labels.min() < 0 or labels.max() >= k:
                raise ValueError(f"{where}: labels must lie in [0, {k}), got "
                                 f"[{labels.min()}, {labels.max()}].")
            object.__setattr__(self, "labels", labels.astype(np.int32, copy=False))
        if self.normalizer.mode == "per_shape" and len(self.normalizer.mean) != len(points):
            raise ValueError(f"{where}: per-shape statistics of {len(self.normalizer.mean)} "
                             f"shapes for {len(points)} clouds.")

    # ---- the Dataset protocol --------------------------------------------------------------
    @property
    def num_examples(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.points.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """``(P, 3)``: points of one cloud and their coordinates."""
        return (self.num_points, 3)

    @property
    def is_image(self) -> bool:
        return False

    @property
    def num_classes(self) -> int | None:
        return None if self.labels is None else len(self.class_names)

    @property
    def element_spec(self) -> dict[str, ArraySpec]:
        spec = {"x": ArraySpec(self.shape, np.dtype(np.float32))}
        if self.labels is not None:
            spec["label"] = ArraySpec((), np.dtype(np.int32))
        return spec

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        out = {"x": self.points[indices]}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        return out

    # ---- units -----------------------------------------------------------------------------
    def denormalize(self, points, indices: np.ndarray | None = None) -> np.ndarray:
        """Model-space clouds back to data units (per shape: those of ``indices``)."""
        norm = self.normalizer if indices is None else self.normalizer.select(indices)
        return norm.denormalize(points)

    def __repr__(self) -> str:
        return (f"PointCloudDataset(name={self.name!r}, split={self.split!r}, "
                f"num_examples={self.num_examples}, shape={self.shape}, "
                f"num_classes={self.num_classes}, normalization={self.normalizer.mode!r})")


__all__ = ["PointCloudDataset"]
