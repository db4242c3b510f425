"""``get_dataset(name, split, **options)``: every data set by name.

Names: ``"fashion_mnist"`` (offline Debian files), ``"digits"`` (scikit-learn), the 2-D
toys ``"moons"``, ``"rings"``, ``"swiss_roll"``, ``"checkerboard"``, ``"8gaussians"``,
``"gmm2d"``, ``"tfds:<name>"`` for the TFDS image sets (``"tfds:mnist"``,
``"tfds:fashion_mnist"``, ``"tfds:cifar10"``, ``"tfds:celeb_a"``), and ``"ts:<source>"``
for the time series (:mod:`diffax.data.timeseries`: ``"ts:gunpoint"``, ``"ts:co2"``,
``"ts:physionet"``, ...; see ``docs/timeseries_data.md``) and ``"mol:<source>"`` for the
molecules (:mod:`diffax.data.molecules`: ``"mol:g2"``, ``"mol:rdkit"``, ``"mol:qm9"``; see
``docs/molecules.md``), and ``"pc:<source>"`` for point clouds
(:mod:`diffax.data.pointcloud`: ``"pc:shapes"``, ``"pc:meshes"``, ``"pc:shapenet"``; see
``docs/pointcloud.md``), and ``"phantom_slices"`` (axial slices of random-ellipsoid CT
phantoms, :mod:`diffax.data.phantoms`; see ``docs/mbir.md``).

:data:`DATASETS` is a :class:`~diffax.registry.Registry` of loaders
``loader(split, **options) -> Dataset``; each entry's metadata ``options`` lists the
keyword options it accepts.
"""

from __future__ import annotations

import functools
from typing import Callable

from diffax.data.base import Dataset
from diffax.data.digits import load_digits
from diffax.data.fashion_mnist import load_fashion_mnist
from diffax.data.phantoms import load_phantom_slices
from diffax.data.pointcloud.loader import PC_PREFIX, pointcloud_loaders
from diffax.data.molecules.loader import MOL_PREFIX, molecule_loaders
from diffax.data.tfds_source import TFDS_DATASETS, load_tfds
from diffax.data.timeseries.loader import TS_PREFIX, timeseries_loaders
from diffax.data.toys import TOY_NAMES, load_toy, toy_options
from diffax.registry import Registry, accepted_options, check_options

TFDS_PREFIX = "tfds:"

DATASETS: Registry[Callable[..., Dataset]] = Registry("data set")


def _add(name: str, loader: Callable[..., Dataset], options: tuple[str, ...] | None = None):
    if options is None:  # the keyword options after ``split``
        options = tuple(accepted_options(loader, skip=1))
    DATASETS.add(name, loader, options=options)


_add("fashion_mnist", load_fashion_mnist)
_add("digits", load_digits)
_add("phantom_slices", load_phantom_slices)
for _toy in TOY_NAMES:
    _add(_toy, functools.partial(load_toy, _toy), toy_options(_toy))
for _tfds in TFDS_DATASETS:
    _add(TFDS_PREFIX + _tfds, functools.partial(load_tfds, _tfds))
for _ts, _ts_loader in timeseries_loaders().items():
    _add(_ts, _ts_loader)
for _pc, _pc_loader in pointcloud_loaders().items():
    _add(_pc, _pc_loader)
for _mol, _mol_loader in molecule_loaders().items():
    _add(_mol, _mol_loader)


def dataset_names() -> list[str]:
    """Every name :func:`get_dataset` accepts."""
    return list(DATASETS)


def dataset_options(name: str) -> tuple[str, ...]:
    """The keyword options data set ``name`` accepts (besides ``split``)."""
    return DATASETS.entry(name).metadata["options"]


def get_dataset(name: str, split: str = "train", **options) -> Dataset:
    """The data set ``name`` (see :func:`dataset_names`), split ``split``.

    Options by data set: ``fashion_mnist``: ``data_dir``; ``digits``: none; toys:
    ``num_examples``, ``seed`` and the sampler's parameters (e.g. ``noise``);
    ``tfds:*``: ``data_dir``, ``crop_size``, ``image_size``; ``ts:*``: ``window``,
    ``stride``, ``normalize``, ``data_dir`` (plus ``attributes`` for ``ts:physionet``,
    ``machine`` for ``ts:smd``; see :mod:`diffax.data.timeseries.loader`); ``mol:*``:
    ``max_atoms``, ``elements`` (plus ``data_dir`` for ``mol:qm9``, ``sets`` for
    ``mol:rdkit``; see :mod:`diffax.data.molecules.loader`); ``phantom_slices``: ``size``,
    ``num_volumes``, ``seed``.

    Raises:
      ValueError: unknown name (the message lists the valid ones and the closest),
        unknown option (with the valid ones) or split.
    """
    if not isinstance(name, str):
        raise ValueError(f"data set name must be a string, got {name!r}.")
    loader = DATASETS.get(name)
    # Toy loaders take **params and check them against toy_options themselves.
    check_options(f"data set {name!r}", loader, options, skip=1)
    return loader(split, **options)


__all__ = ["DATASETS", "PC_PREFIX", "MOL_PREFIX", "TFDS_PREFIX", "TS_PREFIX", "dataset_names",
           "dataset_options", "get_dataset"]
