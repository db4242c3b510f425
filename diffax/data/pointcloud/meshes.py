"""Real meshes that install offline: the PLY meshes bundled in the pyvista wheel.

pyvista's wheel (pinned in ``requirements-data.lock``, downloaded by ``make data`` into
``.venv/share/diffax-data``, never installed) ships four triangle meshes as PLY files:

=========  ========  ======  ==============================================
name       vertices  faces   what
=========  ========  ======  ==============================================
airplane   1335      2452    a small airliner (open surface)
ant        486       912     an ant (closed)
nut        523       1046    a hexagonal nut with its hole (closed)
sphere     422       840     a coarse sphere (closed)
=========  ========  ======  ==============================================

(the wheel's other example files are VTK formats that trimesh does not read). They are
read straight from the zip with trimesh. Each mesh is first centred on its bounding-box
centre and divided by half its longest side (the meshes come in units from 30 to 1500),
then every example is ``num_points`` points sampled uniformly by area from its surface
(``trimesh.sample.sample_surface``: faces chosen with probability proportional to their
area, uniform barycentric coordinates) under the example's seed, optionally rotated by a
uniform random rotation. Train and test clouds are different samples (and poses) of the
**same four meshes**: this set tests the pipeline on real, irregular geometry, not
generalisation to new shapes.
"""

from __future__ import annotations

import io
import os
from typing import Sequence

import numpy as np

from diffax import checks
from diffax.data.pointcloud.shapes import random_rotation
from diffax.data.timeseries import wheels

PACKAGE = "pyvista"
WHEEL = "pyvista-0.49.2-py3-none-any.whl"
VERSION = "0.49.2"
#: Mesh name -> member of the wheel.
MESHES = {name: f"pyvista/examples/{name}.ply" for name in ("airplane", "ant", "nut", "sphere")}
_SPLIT_STREAM = {"train": 0, "test": 1, "val": 2}


def wheel_path(data_dir: str | os.PathLike | None = None) -> str:
    """Path of the pinned pyvista wheel (searched as the time-series wheels are: the
    ``data_dir`` option, ``$DIFFAX_DATA_WHEELS``, ``.venv/share/diffax-data``)."""
    folder = wheels.wheel_dir(data_dir)
    path = os.path.join(folder, WHEEL)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"pc:meshes: {WHEEL} not found in {folder!r} (searched: the data_dir option, "
            f"else ${wheels.ENV_VAR}, else {wheels.default_wheel_dir()!r}). Run `make data` "
            "(it downloads the wheels pinned in requirements-data.lock), or `pip download "
            f"--no-deps pyvista=={VERSION} -d <folder>` and pass data_dir=<folder>.")
    return path


def load_mesh_bytes(data: bytes, file_type: str = "ply"):
    """A ``trimesh.Trimesh`` from file bytes, centred on its bounding-box centre and
    scaled so its longest bounding-box side is 2.

    Raises:
      ValueError: the file holds no triangle (named in the message).
    """
    import trimesh

    mesh = trimesh.load(io.BytesIO(data), file_type=file_type, force="mesh", process=False)
    if len(mesh.faces) == 0 or not mesh.area > 0:
        raise ValueError(f"pc:meshes: the {file_type} file holds no triangle of positive area "
                         f"({len(mesh.faces)} faces).")
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(2.0 / float(np.max(hi - lo)))
    return mesh


def sample_mesh(mesh, num_points: int, seed) -> np.ndarray:
    """``num_points`` points uniform by area on ``mesh``'s surface (float64 (n, 3))."""
    import trimesh

    pts, _ = trimesh.sample.sample_surface(mesh, num_points, seed=seed)
    return np.asarray(pts, np.float64)


def mesh_clouds(meshes: dict, split: str, *, num_per_mesh: int, num_points: int,
                seed: int = 0, rotate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(points float32 (N, num_points, 3), labels int32 (N,))``: ``num_per_mesh``
    surface samples of every mesh of ``meshes`` (name -> trimesh), labels in its order."""
    checks.choice("pc:meshes", "split", split, _SPLIT_STREAM)
    clouds, labels = [], []
    for label, mesh in enumerate(meshes.values()):
        for i in range(num_per_mesh):
            rng = np.random.default_rng([seed, _SPLIT_STREAM[split], label, i])
            pts = sample_mesh(mesh, num_points, rng)
            if rotate:
                pts = pts @ random_rotation(rng).T
            clouds.append(pts.astype(np.float32))
            labels.append(label)
    return np.stack(clouds), np.asarray(labels, np.int32)


def read_wheel_meshes(names: Sequence[str], data_dir: str | os.PathLike | None = None
                      ) -> dict:
    """``{name: trimesh}`` of the bundled meshes ``names`` (see :data:`MESHES`)."""
    import zipfile

    for name in names:
        checks.choice("pc:meshes", "mesh", name, MESHES)
    with zipfile.ZipFile(wheel_path(data_dir)) as archive:
        return {name: load_mesh_bytes(archive.read(MESHES[name])) for name in names}


__all__ = ["MESHES", "PACKAGE", "VERSION", "WHEEL", "load_mesh_bytes", "mesh_clouds",
           "read_wheel_meshes", "sample_mesh", "wheel_path"]
