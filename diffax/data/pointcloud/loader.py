"""The ``"pc:<source>"`` data sets of :func:`diffax.data.get_dataset`.

* ``"pc:shapes"`` (default; :mod:`~diffax.data.pointcloud.shapes`): spheres/ellipsoids,
  boxes, cylinders, cones, tori and capsules with random pose, scale and aspect, six
  classes. Options ``num_points`` (2048), ``num_per_class`` (64, training split),
  ``num_eval_per_class`` (32, test/val), ``classes``, ``seed``, ``aspect``, ``scale``,
  ``rotate``.
* ``"pc:meshes"`` (:mod:`~diffax.data.pointcloud.meshes`): surface samples of the four
  PLY meshes in the pinned pyvista wheel, one class per mesh. Options ``num_points``,
  ``num_per_mesh`` (32), ``num_eval_per_mesh`` (8), ``meshes``, ``seed``, ``rotate``,
  ``data_dir`` (folder of the wheel).
* ``"pc:shapenet"`` (:mod:`~diffax.data.pointcloud.shapenet`): PointFlow's
  ShapeNetCore.v2.PC15k from ``data_dir`` (required). Options ``categories``
  (``("airplane",)``), ``num_points``, ``seed``, ``max_per_category``.

Every source also takes ``normalization`` (``"global"``, PointFlow's default,
``"per_shape"`` or ``"none"``) and ``std_per_axis``
(:mod:`~diffax.data.pointcloud.normalize`); global statistics always come from the
training split. Generated and read clouds are cached per process.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Sequence

import numpy as np

from diffax import checks
from diffax.data.pointcloud import meshes as mesh_source
from diffax.data.pointcloud.dataset import PointCloudDataset
from diffax.data.pointcloud.normalize import MODES, PointCloudNormalizer
from diffax.data.pointcloud.shapenet import read_shapenet
from diffax.data.pointcloud.shapes import SHAPE_CLASSES, generate_shapes

#: Prefix of the point-cloud names in :func:`diffax.data.get_dataset`.
PC_PREFIX = "pc:"
SPLITS = ("train", "test", "val")


def _assemble(name: str, split: str, read: Callable[[str], tuple], class_names,
              normalization: str, std_per_axis: bool) -> PointCloudDataset:
    """Normalise split ``split`` of ``read(split) -> (points, labels)`` (statistics of
    the training split, or per shape) into a :class:`PointCloudDataset`."""
    checks.choice(name, "normalization", normalization, MODES)
    std_per_axis = checks.boolean(name, "std_per_axis", std_per_axis)
    points, labels = read(split)
    fit_on = read("train")[0] if normalization == "global" else points
    normalizer = PointCloudNormalizer.fit(fit_on, normalization, std_per_axis=std_per_axis)
    return PointCloudDataset(name, split, normalizer.normalize(points).astype(np.float32),
                             normalizer, labels, tuple(class_names))


@functools.lru_cache(maxsize=16)
def _shapes(split, num_per_class, num_points, classes, seed, aspect, scale, rotate):
    return generate_shapes(split, num_per_class=num_per_class, num_points=num_points,
                           classes=classes, seed=seed, aspect=aspect, scale=scale,
                           rotate=rotate)


def load_shapes(split: str = "train", *, num_points: int = 2048, num_per_class: int = 64,
                num_eval_per_class: int = 32, classes: Sequence[str] = SHAPE_CLASSES,
                seed: int = 0, aspect: Sequence[float] = (0.5, 1.5),
                scale: Sequence[float] = (0.75, 1.25), rotate: bool = True,
                normalization: str = "global", std_per_axis: bool = False
                ) -> PointCloudDataset:
    """The ``"pc:shapes"`` data set (module docstring)."""
    checks.choice("pc:shapes", "split", split, SPLITS)
    classes = tuple(classes)
    aspect, scale = tuple(float(v) for v in aspect), tuple(float(v) for v in scale)
    checks.positive_int("pc:shapes", "num_eval_per_class", num_eval_per_class)

    def read(s):
        n = num_per_class if s == "train" else num_eval_per_class
        return _shapes(s, n, num_points, classes, seed, aspect, scale, bool(rotate))

    return _assemble("pc:shapes", split, read, classes, normalization, std_per_axis)


@functools.lru_cache(maxsize=4)
def _wheel_meshes(names, data_dir):
    return mesh_source.read_wheel_meshes(names, data_dir)


@functools.lru_cache(maxsize=16)
def _mesh_clouds(names, data_dir, split, n, num_points, seed, rotate):
    return mesh_source.mesh_clouds(_wheel_meshes(names, data_dir), split, num_per_mesh=n,
                                   num_points=num_points, seed=seed, rotate=rotate)


def load_meshes(split: str = "train", *, num_points: int = 2048, num_per_mesh: int = 32,
                num_eval_per_mesh: int = 8,
                meshes: Sequence[str] = tuple(mesh_source.MESHES), seed: int = 0,
                rotate: bool = True, normalization: str = "global",
                std_per_axis: bool = False, data_dir: str | os.PathLike | None = None
                ) -> PointCloudDataset:
    """The ``"pc:meshes"`` data set (module docstring)."""
    where = "pc:meshes"
    checks.choice(where, "split", split, SPLITS)
    names = tuple(meshes)
    num_points = checks.positive_int(where, "num_points", num_points)
    counts = {"train": checks.positive_int(where, "num_per_mesh", num_per_mesh)}
    counts["test"] = counts["val"] = checks.positive_int(where, "num_eval_per_mesh",
                                                         num_eval_per_mesh)
    folder = None if data_dir is None else os.fspath(data_dir)

    def read(s):
        return _mesh_clouds(names, folder, s, counts[s], num_points, int(seed), bool(rotate))

    return _assemble(where, split, read, names, normalization, std_per_axis)


def load_shapenet(split: str = "train", *, data_dir: str | os.PathLike | None = None,
                  categories: Sequence[str] = ("airplane",), num_points: int = 2048,
                  seed: int = 0, max_per_category: int | None = None,
                  normalization: str = "global", std_per_axis: bool = False
                  ) -> PointCloudDataset:
    """The ``"pc:shapenet"`` data set (module docstring)."""
    categories = tuple(categories)

    def read(s):
        pts, labels, _ = read_shapenet(data_dir, s, categories, num_points, seed=seed,
                                       max_per_category=max_per_category)
        return pts, labels

    return _assemble("pc:shapenet", split, functools.lru_cache(maxsize=3)(read), categories,
                     normalization, std_per_axis)


def pointcloud_loaders() -> dict[str, Callable[..., PointCloudDataset]]:
    """``{"pc:<source>": loader}`` for the data-set registry."""
    return {PC_PREFIX + "shapes": load_shapes, PC_PREFIX + "meshes": load_meshes,
            PC_PREFIX + "shapenet": load_shapenet}


__all__ = ["PC_PREFIX", "load_meshes", "load_shapenet", "load_shapes", "pointcloud_loaders"]
