"""TFDS image data sets through ``tfds.data_source`` + grain: no TensorFlow needed.

``tfds.data_source`` gives random access to datasets prepared in the ``array_record``
format; :func:`load_tfds` wraps it in a ``grain.MapDataset`` that decodes each record
to ``{"x": uint8 (H, W, C), "label": int32}`` (center crop + resize with PIL when
asked, e.g. CelebA 218x178 -> 140x140 crop -> 64x64). Nothing is downloaded at run time
(``download=False``); when the data are not prepared, :class:`DatasetNotPreparedError`
explains how to prepare them on a machine with internet access.

Supported names (:data:`TFDS_DATASETS`): ``mnist``, ``fashion_mnist``, ``cifar10``,
``celeb_a``. Tests use ``tfds.testing.mock_data``, which serves random examples of the
right shapes through the same ``data_source`` call.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from diffax.data.base import ArraySpec, image_or_vector_spec
from diffax.data.preprocess import center_crop, resize


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How to read one TFDS image data set.

    Attributes:
      image_key: feature holding the uint8 image.
      label_key: ``ClassLabel`` feature used as ``"label"``, or None for no labels.
      crop_size: default central square crop (None: no crop).
      image_size: default square output size after the crop (None: keep the size).
    """

    image_key: str = "image"
    label_key: str | None = "label"
    crop_size: int | None = None
    image_size: int | None = None


TFDS_DATASETS: dict[str, TfdsSpec] = {
    "mnist": TfdsSpec(),
    "fashion_mnist": TfdsSpec(),
    "cifar10": TfdsSpec(),
    # 218x178 faces: the central 140x140 crop (as in DDPM / score-SDE) resized to 64x64.
    "celeb_a": TfdsSpec(label_key=None, crop_size=140, image_size=64),
}


class DatasetNotPreparedError(FileNotFoundError):
    """A TFDS data set is not prepared (in array_record format) in the data directory."""


def _default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"),
                                                        "tensorflow_datasets"))


def not_prepared_message(name: str, split: str, data_dir: str | None,
                         reason: str = "is not prepared") -> str:
    """The instructions shown when TFDS data set ``name`` cannot be read."""
    where = data_dir or _default_data_dir()
    return (
        f"TFDS data set {name!r} (split {split!r}) {reason} in data_dir {where!r}, and "
        "diffax never downloads at run time. On a machine with internet access prepare it "
        "in the array_record format (building image data sets needs TensorFlow: "
        "`pip install tensorflow-datasets tensorflow-cpu`):\n"
        f"    tfds build {name} --file_format=array_record --data_dir={where}\n"
        "or in Python:\n"
        f"    tfds.builder({name!r}, data_dir={where!r}).download_and_prepare("
        "file_format='array_record')\n"
        "then copy that directory to this machine and pass data_dir=... (data.kwargs.data_dir "
        "in a config) or set TFDS_DATA_DIR. Offline alternatives that need no download: "
        "get_dataset('fashion_mnist') (Debian package dataset-fashion-mnist) or "
        "get_dataset('digits') (scikit-learn).")


def _open_source(name: str, split: str, data_dir: str | None):
    """``tfds.data_source(name, split=split, download=False)`` with clear errors."""
    import tensorflow_datasets as tfds

    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:  # diagnose: not prepared, wrong format, or a genuine error
        try:
            builder = tfds.builder(name, data_dir=data_dir)
            prepared = builder.is_prepared()
            file_format = str(getattr(builder.info.file_format, "value",
                                      builder.info.file_format))
        except Exception:  # the diagnosis itself failed: report the original error
            raise err from None
        if not prepared:
            raise DatasetNotPreparedError(not_prepared_message(name, split, data_dir)) from err
        if "array_record" not in file_format:
            raise DatasetNotPreparedError(not_prepared_message(
                name, split, data_dir,
                reason=f"is prepared in the {file_format!r} format, which has no random "
                       "access (rebuild it as array_record)")) from err
        raise


def _positive_or_none(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int or None, got {value!r}.")
    return int(value)


@dataclasses.dataclass(frozen=True)
class _Decode:
    """grain map: one TFDS record -> ``{"x": uint8 (H, W, C), "label": int32}``."""

    name: str
    image_key: str
    label_key: str | None
    crop_size: int | None
    image_size: int | None
    shape: tuple[int, ...]

    def __call__(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        image = np.asarray(record[self.image_key])
        if image.ndim == 2:
            image = image[..., None]
        if self.crop_size is not None:
            image = center_crop(image, self.crop_size)
        if self.image_size is not None:
            image = resize(image, self.image_size)
        if image.dtype != np.uint8 or image.shape != self.shape:
            raise ValueError(f"{self.name}: decoded image has dtype {image.dtype} and shape "
                             f"{image.shape}, expected uint8 of shape {self.shape} (pass "
                             "crop_size / image_size for data sets with varying sizes).")
        out = {"x": image}
        if self.label_key is not None:
            out["label"] = np.asarray(record[self.label_key], dtype=np.int32)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class TfdsDataset:
    """A TFDS split read lazily through a ``grain.MapDataset`` (``source``)."""

    name: str
    split: str
    source: Any  # grain.MapDataset of decoded examples
    shape: tuple[int, ...]
    num_classes: int | None

    @property
    def num_examples(self) -> int:
        return len(self.source)

    @property
    def is_image(self) -> bool:
        return True

    @property
    def element_spec(self) -> dict[str, ArraySpec]:
        return image_or_vector_spec(self.shape, True, self.num_classes)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The examples at ``indices``, decoded and stacked."""
        examples = [self.source[int(i)] for i in indices]
        return {key: np.stack([e[key] for e in examples]) for key in examples[0]}

    def __repr__(self) -> str:
        return (f"TfdsDataset(name={self.name!r}, split={self.split!r}, "
                f"num_examples={self.num_examples}, shape={self.shape}, "
                f"num_classes={self.num_classes})")


def load_tfds(name: str, split: str = "train", *, data_dir: str | None = None,
              crop_size: int | None = None, image_size: int | None = None) -> TfdsDataset:
    """TFDS image data set ``name`` (a key of :data:`TFDS_DATASETS`) as a dataset.

    Args:
      name: e.g. ``"mnist"``, ``"cifar10"``, ``"celeb_a"``.
      split: any TFDS split string (``"train"``, ``"test"``, ``"train[:90%]"``, ...).
      data_dir: the TFDS data directory (default ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      crop_size: central square crop; None uses the data set's default (CelebA: 140).
      image_size: square output size (PIL bicubic); None uses the data set's default
        (CelebA: 64; others keep their native size).

    Raises:
      ValueError: unknown name or bad sizes.
      DatasetNotPreparedError: the data are not prepared in ``data_dir`` (the message
        says how to prepare them).
    """
    if name not in TFDS_DATASETS:
        raise ValueError(f"unsupported TFDS data set {name!r}; valid names: "
                         f"{['tfds:' + n for n in TFDS_DATASETS]}.")
    spec = TFDS_DATASETS[name]
    crop = _positive_or_none(crop_size, "crop_size") or spec.crop_size
    size = _positive_or_none(image_size, "image_size") or spec.image_size
    import grain

    source = _open_source(name, split, None if data_dir is None else os.fspath(data_dir))
    features = source.dataset_info.features
    h, w, c = tuple(features[spec.image_key].shape)
    if crop is not None:
        if h is not None and w is not None and crop > min(h, w):
            raise ValueError(f"tfds:{name}: crop_size {crop} exceeds the image size "
                             f"{(h, w)}.")
        h = w = crop
    if size is not None:
        h = w = size
    if h is None or w is None or c is None:
        raise ValueError(f"tfds:{name}: images have varying sizes "
                         f"{tuple(features[spec.image_key].shape)}; pass image_size.")
    num_classes = None
    if spec.label_key is not None:
        num_classes = int(features[spec.label_key].num_classes)
    decode = _Decode(f"tfds:{name}", spec.image_key, spec.label_key, crop, size, (h, w, c))
    dataset = grain.MapDataset.source(source).map(decode)
    if len(dataset) == 0:
        raise ValueError(f"tfds:{name}: split {split!r} is empty.")
    return TfdsDataset(f"tfds:{name}", split, dataset, (h, w, c), num_classes)


__all__ = ["TfdsSpec", "TFDS_DATASETS", "DatasetNotPreparedError", "not_prepared_message",
           "TfdsDataset", "load_tfds"]
