"""``get_dataset(name, split, **options)``: every data set by name.

Names: ``"fashion_mnist"`` (offline Debian files), ``"digits"`` (scikit-learn), the 2-D
toys ``"moons"``, ``"rings"``, ``"swiss_roll"``, ``"checkerboard"``, ``"8gaussians"``,
``"gmm2d"``, and ``"tfds:<name>"`` for the TFDS image sets (``"tfds:mnist"``,
``"tfds:fashion_mnist"``, ``"tfds:cifar10"``, ``"tfds:celeb_a"``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

from diffax.data.base import Dataset
from diffax.data.digits import load_digits
from diffax.data.fashion_mnist import load_fashion_mnist
from diffax.data.tfds_source import TFDS_DATASETS, load_tfds
from diffax.data.toys import TOY_NAMES, load_toy, toy_options

TFDS_PREFIX = "tfds:"

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "fashion_mnist": load_fashion_mnist,
    "digits": load_digits,
    **{name: functools.partial(load_toy, name) for name in TOY_NAMES},
}


def dataset_names() -> list[str]:
    """Every name :func:`get_dataset` accepts."""
    return list(_LOADERS) + [TFDS_PREFIX + name for name in TFDS_DATASETS]


def dataset_options(name: str) -> tuple[str, ...]:
    """The keyword options data set ``name`` accepts (besides ``split``)."""
    if name in TOY_NAMES:
        return toy_options(name)
    loader = load_tfds if name.startswith(TFDS_PREFIX) else _LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown data set {name!r}; valid names: {dataset_names()}.")
    return tuple(p for p in inspect.signature(loader).parameters
                 if p not in ("name", "split"))


def get_dataset(name: str, split: str = "train", **options) -> Dataset:
    """The data set ``name`` (see :func:`dataset_names`), split ``split``.

    Options by data set: ``fashion_mnist``: ``data_dir``; ``digits``: none; toys:
    ``num_examples``, ``seed`` and the sampler's parameters (e.g. ``noise``);
    ``tfds:*``: ``data_dir``, ``crop_size``, ``image_size``.

    Raises:
      ValueError: unknown name (the message lists the valid ones), unknown option or
        split.
    """
    if not isinstance(name, str):
        raise ValueError(f"data set name must be a string, got {name!r}.")
    if name.startswith(TFDS_PREFIX) and name[len(TFDS_PREFIX):] not in TFDS_DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid names: {dataset_names()}.")
    valid = dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"data set {name!r}: unknown option(s) {unknown}; valid options: "
                         f"{list(valid)}.")
    if name.startswith(TFDS_PREFIX):
        return load_tfds(name[len(TFDS_PREFIX):], split, **options)
    return _LOADERS[name](split, **options)


__all__ = ["TFDS_PREFIX", "dataset_names", "dataset_options", "get_dataset"]
