"""What a dataset is to the pipeline: random access to stored examples plus shape info.

A dataset holds examples in their *stored* form: images as ``uint8`` arrays of shape
``(H, W, C)`` (channels last, ``C`` explicit), vectors as ``float32`` arrays of shape
``(d,)``, and optional integer labels. The pipeline (:mod:`diffax.data.pipeline`)
decides which examples make up a batch and turns them into model inputs.

Two implementations: :class:`ArrayDataset` (everything in memory, vectorised gathers;
offline and synthetic sets) and ``TfdsDataset`` (:mod:`diffax.data.tfds_source`, random
access to TFDS array_record files through grain).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class ArraySpec(NamedTuple):
    """Shape and dtype of one stored example's field (no batch dimension)."""

    shape: tuple[int, ...]
    dtype: np.dtype


@runtime_checkable
class Dataset(Protocol):
    """Random-access examples. ``get(indices)`` returns ``{"x": ..., "label": ...}`` with
    a leading batch axis (``"label"`` only when ``num_classes`` is not None)."""

    name: str
    split: str

    @property
    def num_examples(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def is_image(self) -> bool: ...

    @property
    def num_classes(self) -> int | None: ...

    @property
    def element_spec(self) -> dict[str, ArraySpec]: ...

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...


def image_or_vector_spec(shape: tuple[int, ...], is_image: bool,
                         num_classes: int | None) -> dict[str, ArraySpec]:
    """The ``element_spec`` of a dataset with stored examples of ``shape``."""
    spec = {"x": ArraySpec(tuple(shape), np.dtype(np.uint8 if is_image else np.float32))}
    if num_classes is not None:
        spec["label"] = ArraySpec((), np.dtype(np.int32))
    return spec


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
    """A dataset held in memory as numpy arrays.

    Attributes:
      name: registry name (e.g. ``"fashion_mnist"``).
      split: split name (e.g. ``"train"``).
      x: ``uint8`` images of shape (N, H, W, C), or ``float32`` vectors of shape (N, d).
      label: ``int32`` labels of shape (N,) in ``[0, num_classes)``, or None.
      num_classes: number of classes (required with labels, None without).
      mixture: the exact data distribution (a ``diffax.analytic.GaussianMixture``)
        when the data are samples of one (``"gmm2d"``, ``"8gaussians"``), else None.
    """

    name: str
    split: str
    x: np.ndarray
    label: np.ndarray | None = None
    num_classes: int | None = None
    mixture: Any = None

    def __post_init__(self):
        x = np.asarray(self.x)
        where = f"ArrayDataset {self.name!r} (split {self.split!r})"
        if x.dtype == np.uint8:
            if x.ndim != 4:
                raise ValueError(f"{where}: uint8 images must have shape (N, H, W, C) with "
                                 f"an explicit channel axis, got shape {x.shape}.")
        elif np.issubdtype(x.dtype, np.floating):
            if x.ndim != 2:
                raise ValueError(f"{where}: float vectors must have shape (N, d), got "
                                 f"shape {x.shape}.")
            x = x.astype(np.float32, copy=False)
        else:
            raise ValueError(f"{where}: x must be uint8 images or float vectors, got dtype "
                             f"{x.dtype}.")
        if x.shape[0] == 0:
            raise ValueError(f"{where}: the dataset is empty.")
        object.__setattr__(self, "x", x)
        if (self.label is None) != (self.num_classes is None):
            raise ValueError(f"{where}: pass both label and num_classes or neither (got "
                             f"label={'None' if self.label is None else 'array'}, "
                             f"num_classes={self.num_classes}).")
        if self.label is not None:
            label = np.asarray(self.label)
            if label.shape != (x.shape[0],) or not np.issubdtype(label.dtype, np.integer):
                raise ValueError(f"{where}: label must be integers of shape ({x.shape[0]},), "
                                 f"got dtype {label.dtype} and shape {label.shape}.")
            if label.min() < 0 or label.max() >= self.num_classes:
                raise ValueError(f"{where}: labels must lie in [0, {self.num_classes}), got "
                                 f"range [{label.min()}, {label.max()}].")
            object.__setattr__(self, "label", label.astype(np.int32, copy=False))

    @property
    def num_examples(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example's ``x`` (e.g. (28, 28, 1) or (2,))."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dtype == np.uint8

    @property
    def element_spec(self) -> dict[str, ArraySpec]:
        return image_or_vector_spec(self.shape, self.is_image, self.num_classes)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The examples at ``indices`` (1-D integer array), stacked."""
        out = {"x": self.x[indices]}
        if self.label is not None:
            out["label"] = self.label[indices]
        return out

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, split={self.split!r}, "
                f"num_examples={self.num_examples}, shape={self.shape}, "
                f"num_classes={self.num_classes})")


__all__ = ["ArraySpec", "Dataset", "ArrayDataset", "image_or_vector_spec"]
