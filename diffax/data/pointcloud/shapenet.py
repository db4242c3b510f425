"""ShapeNet point clouds in PointFlow's format, read from a local folder.

PointFlow (Yang et al. 2019) published ``ShapeNetCore.v2.PC15k``: 15,000 points sampled
uniformly from the surface of every ShapeNetCore v2 mesh, with the official splits::

    <root>/<synset id>/train/<model id>.npy     float (15000, 3)
    <root>/<synset id>/val/<model id>.npy
    <root>/<synset id>/test/<model id>.npy

(e.g. ``<root>/02691156/train/...`` for airplanes). Nothing is downloaded here; see
``docs/pointcloud.md`` for how to get the archive. As in PointFlow's loader, the first
10,000 points of every file serve training and the last 5,000 are kept for evaluation
(``train`` split: ``num_points`` drawn without replacement from the first 10,000 with a
fixed seed; other splits: the first ``num_points`` of the last 5,000, as PointFlow's
test loader takes them). PointFlow and PVD report their generation metrics on the
``val`` folder (their ``get_datasets`` builds the test set from ``split='val'``).
Files are read in sorted order, categories in the order given; labels index the
categories.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from diffax import checks
from diffax import filesystem as fs

SPLITS = ("train", "val", "test")
POINTS_PER_FILE = 15_000
TRAIN_POINTS = 10_000  # the first 10,000 points of a file: training; the rest: evaluation

#: ShapeNetCore v2 synset ids of the categories most used in point-cloud generation.
SYNSETS = {"airplane": "02691156", "car": "02958343", "chair": "03001627",
           "table": "04379243", "lamp": "03636649", "sofa": "04256520",
           "rifle": "04090263", "vessel": "04530566", "bench": "02828884",
           "cabinet": "02933112", "display": "03211117", "telephone": "04401088"}


def synset_id(category: str) -> str:
    """The synset id of ``category`` (a name in :data:`SYNSETS` or an 8-digit id)."""
    if category in SYNSETS:
        return SYNSETS[category]
    if isinstance(category, str) and len(category) == 8 and category.isdigit():
        return category
    raise ValueError(f"pc:shapenet: unknown category {category!r}; valid choices: "
                     f"{sorted(SYNSETS)} or an 8-digit ShapeNet synset id.")


def read_shapenet(root: str | os.PathLike, split: str, categories: Sequence[str],
                  num_points: int, *, seed: int = 0, max_per_category: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(points float32 (N, num_points, 3), labels int32 (N,), category names)``.

    Raises:
      FileNotFoundError: ``root`` or a category's split folder is missing, or it holds
        no ``.npy`` file (the message says how to get the data).
      ValueError: bad split / category / sizes; a file that is not (>= 15000, 3) finite
        points (the message names the file).
    """
    where = "pc:shapenet"
    checks.choice(where, "split", split, SPLITS)
    num_points = checks.positive_int(where, "num_points", num_points)
    limit = TRAIN_POINTS if split == "train" else POINTS_PER_FILE - TRAIN_POINTS
    if num_points > limit:
        raise ValueError(f"{where}: num_points={num_points} exceeds the {limit} points a "
                         f"{split!r} cloud has (PointFlow keeps 10,000 of each file's 15,000 "
                         "for training and 5,000 for evaluation).")
    if not categories:
        raise ValueError(f"{where}: categories is empty; valid choices: {sorted(SYNSETS)}.")
    if root is None or not fs.exists(root):
        raise FileNotFoundError(
            f"{where}: data_dir={root!r} does not exist. Download PointFlow's "
            "ShapeNetCore.v2.PC15k archive (see docs/pointcloud.md), unzip it and pass "
            "data_dir=<path>/ShapeNetCore.v2.PC15k.")
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for label, category in enumerate(categories):
        folder = fs.join(root, synset_id(category), split)
        if not fs.exists(folder):
            raise FileNotFoundError(f"{where}: no folder {folder!r} (category {category!r}, "
                                    f"split {split!r}); expected <data_dir>/<synset id>/"
                                    "{train,val,test}/*.npy as in ShapeNetCore.v2.PC15k.")
        files = sorted(p.name for p in fs.as_path(folder).iterdir() if p.name.endswith(".npy"))
        if max_per_category is not None:
            files = files[:checks.positive_int(where, "max_per_category", max_per_category)]
        if not files:
            raise FileNotFoundError(f"{where}: {folder!r} holds no .npy file.")
        for name in files:
            path = fs.join(folder, name)
            with fs.as_path(path).open("rb") as f:
                pts = np.load(f)
            if (pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < POINTS_PER_FILE
                    or not np.all(np.isfinite(pts))):
                raise ValueError(f"{where}: {path!r} must hold finite points of shape "
                                 f"({POINTS_PER_FILE}, 3), got {pts.dtype} {pts.shape}"
                                 f"{'' if np.all(np.isfinite(pts)) else ' with NaN/inf'}.")
            if split == "train":
                pick = rng.choice(TRAIN_POINTS, num_points, replace=False)
                pts = pts[:TRAIN_POINTS][pick]
            else:
                pts = pts[TRAIN_POINTS:TRAIN_POINTS + num_points]
            clouds.append(pts.astype(np.float32))
            labels.append(label)
    return np.stack(clouds), np.asarray(labels, np.int32), tuple(categories)


__all__ = ["POINTS_PER_FILE", "SPLITS", "SYNSETS", "TRAIN_POINTS", "read_shapenet",
           "synset_id"]
