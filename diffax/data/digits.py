"""scikit-learn's handwritten digits (1,797 images of 8x8, 10 classes), offline.

The pixel values 0..16 are rescaled to uint8 0..255 (``round(v * 255 / 16)``), so the
images go through the same pipeline as any 8-bit image set. sklearn has no train/test
split; this module fixes one: the first 1,500 images are ``"train"``, the last 297
``"test"``, and ``"all"`` is every image.
"""

from __future__ import annotations

import numpy as np

from diffax import checks
from diffax.data.base import ArrayDataset

NUM_TRAIN = 1500
SPLITS = ("train", "test", "all")


def digits_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map sklearn digit intensities 0..16 to uint8 0..255 (``round(v * 255 / 16)``)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and (values.min() < 0 or values.max() > 16):
        raise ValueError(f"digits: pixel values must lie in [0, 16], got range "
                         f"[{values.min()}, {values.max()}].")
    return np.round(values * (255.0 / 16.0)).astype(np.uint8)


def load_digits(split: str = "train") -> ArrayDataset:
    """The digits split as an in-memory dataset: ``x`` uint8 (N, 8, 8, 1), 10 classes."""
    checks.choice("digits", "split", split, SPLITS)
    from sklearn.datasets import load_digits as sklearn_load_digits  # slow import

    bunch = sklearn_load_digits()
    images = digits_to_uint8(bunch.images)[..., None]
    labels = bunch.target.astype(np.int32)
    part = {"train": slice(0, NUM_TRAIN), "test": slice(NUM_TRAIN, None),
            "all": slice(None)}[split]
    return ArrayDataset("digits", split, images[part], labels[part], num_classes=10)


__all__ = ["digits_to_uint8", "load_digits"]
