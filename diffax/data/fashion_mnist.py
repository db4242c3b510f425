"""Fashion-MNIST from local IDX files (offline: the Debian package ``dataset-fashion-mnist``).

``sudo apt-get install dataset-fashion-mnist`` puts the four original files under
``/usr/share/datasets/fashion-mnist/``; any directory with the same four files (``.gz``
or uncompressed) works through ``data_dir``. 60,000 train and 10,000 test images of
28x28 grayscale clothing items, 10 classes.
"""

from __future__ import annotations

import os

import numpy as np

from diffax import checks
from diffax.data.base import ArrayDataset
from diffax.data.idx import read_idx

#: Where the Debian package ``dataset-fashion-mnist`` installs the files.
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
#: File stem per split (images, labels); ``.gz`` is optional.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def _find(data_dir: str, stem: str) -> str:
    for candidate in (stem + ".gz", stem):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"Fashion-MNIST: file {stem}.gz (or {stem}) not found in {data_dir!r}. Install the "
        "offline copy with `sudo apt-get install dataset-fashion-mnist` (files under "
        f"{DEFAULT_DIR}) or pass data_dir=<directory with train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz>.")


def load_fashion_mnist_arrays(split: str = "train", data_dir: str | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels uint8 (N,))`` of a split read from IDX files.

    Raises:
      ValueError: unknown split, or files with wrong magic numbers / shapes.
      FileNotFoundError: the directory or a file is missing (the message says how to
        install the Debian package or which ``data_dir`` to pass).
    """
    checks.choice("Fashion-MNIST", "split", split, FILES)
    data_dir = os.fspath(DEFAULT_DIR if data_dir is None else data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(
            f"Fashion-MNIST: directory {data_dir!r} does not exist. Install the offline copy "
            f"with `sudo apt-get install dataset-fashion-mnist` (files under {DEFAULT_DIR}) "
            "or pass data_dir=<directory holding the four IDX files>.")
    image_path, label_path = (_find(data_dir, stem) for stem in FILES[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"Fashion-MNIST: {image_path!r} must hold uint8 images of shape "
                         f"(N, 28, 28), got {images.dtype} of shape {images.shape}.")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"Fashion-MNIST: {label_path!r} must hold uint8 labels of shape "
                         f"(N,), got {labels.dtype} of shape {labels.shape}.")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"Fashion-MNIST: {image_path!r} holds {images.shape[0]} images but "
                         f"{label_path!r} holds {labels.shape[0]} labels.")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise ValueError(f"Fashion-MNIST: {label_path!r} has label {labels.max()} outside "
                         f"[0, {len(CLASS_NAMES)}).")
    return images, labels


def load_fashion_mnist(split: str = "train", data_dir: str | None = None) -> ArrayDataset:
    """Fashion-MNIST as an in-memory dataset: ``x`` uint8 (N, 28, 28, 1), 10 classes."""
    images, labels = load_fashion_mnist_arrays(split, data_dir)
    return ArrayDataset("fashion_mnist", split, images[..., None], labels.astype(np.int32),
                        num_classes=len(CLASS_NAMES))


__all__ = ["DEFAULT_DIR", "CLASS_NAMES", "load_fashion_mnist", "load_fashion_mnist_arrays"]
