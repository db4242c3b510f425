"""3-D CT phantoms made of ellipsoids, and a data set of their axial slices.

A phantom is a sum of ellipsoid indicator functions,

    f(p) = sum_j A_j 1[ || diag(1/a_j, 1/b_j, 1/c_j) R_j (p - p_j) ||_2 <= 1 ],

on the cube [-1, 1]^3, each ellipsoid given by a row ``(A, a, b, c, x0, y0, z0, phi,
theta, psi)``: intensity, semi-axes, centre, and Euler angles in degrees with
R = R_z(psi) R_x(theta) R_z(phi) (z-x-z convention, R_z(w) = [[cos w, sin w, 0],
[-sin w, cos w, 0], [0, 0, 1]]).

* :data:`SHEPP_LOGAN_3D`: the 10-ellipsoid 3-D Shepp-Logan head phantom of Kak & Slaney
  ("Principles of Computerized Tomographic Imaging", IEEE Press 1988, Table 3.2 of
  section 3.5) with the higher-contrast intensities of Toft ("The Radon Transform:
  Theory and Implementation", PhD thesis, DTU 1996, pp. 199-200), as tabulated in M.
  Schabel's ``phantom3d`` ("3D Shepp-Logan phantom", MATLAB Central File Exchange 9416),
  the table most 3-D CT codes use. Intensities: skull 1, brain 0.2, ventricles 0,
  small features 0.3.
* :func:`random_ellipsoids`: a Shepp-Logan-like head under a seed (an outer shell of
  intensity 1 around tissue of intensity 0.1-0.3, with 3-8 inner ellipsoids of random
  centre, axes, orientation and intensity in [-0.2, 0.3]); volumes are clipped to [0, 1].
* :func:`phantom_volume` samples a table on an N^3 grid: ``vol[k, r, c]`` is f at
  ``(x, y, z) = (g[c], -g[r], g[k])``, g = linspace(-1, 1, N) (Schabel's grid; rows run
  from +y at the top, so axial slices ``vol[k]`` look like the usual 2-D picture).
* :func:`load_phantom_slices` (registered as ``"phantom_slices"``): the axial slices of
  random-ellipsoid volumes as uint8 images (N, N, 1), ``round(255 f)``, which the
  pipeline maps to [-1, 1]; the Shepp-Logan phantom is never among them (it is the
  held-out test volume of benchmarks/mbir.py).
"""

from __future__ import annotations

import numpy as np

from diffax import checks
from diffax.data.base import ArrayDataset

# (A, a, b, c, x0, y0, z0, phi, theta, psi): Kak & Slaney's 3-D table, Toft's intensities.
SHEPP_LOGAN_3D = np.array([
    [1.0, .6900, .920, .810, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-.8, .6624, .874, .780, 0.0, -.0184, 0.0, 0.0, 0.0, 0.0],
    [-.2, .1100, .310, .220, .22, 0.0, 0.0, -18.0, 0.0, 10.0],
    [-.2, .1600, .410, .280, -.22, 0.0, 0.0, 18.0, 0.0, 10.0],
    [.1, .2100, .250, .410, 0.0, .35, -.15, 0.0, 0.0, 0.0],
    [.1, .0460, .046, .050, 0.0, .1, .25, 0.0, 0.0, 0.0],
    [.1, .0460, .046, .050, 0.0, -.1, .25, 0.0, 0.0, 0.0],
    [.1, .0460, .023, .050, -.08, -.605, 0.0, 0.0, 0.0, 0.0],
    [.1, .0230, .023, .020, 0.0, -.606, 0.0, 0.0, 0.0, 0.0],
    [.1, .0230, .046, .020, .06, -.605, 0.0, 0.0, 0.0, 0.0],
])

SPLITS = ("train", "test")
_SPLIT_STREAM = {"train": 0, "test": 1}


def _rz(w: float) -> np.ndarray:
    c, s = np.cos(w), np.sin(w)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(w: float) -> np.ndarray:
    c, s = np.cos(w), np.sin(w)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def euler_rotation(phi: float, theta: float, psi: float) -> np.ndarray:
    """R = R_z(psi) R_x(theta) R_z(phi) for angles in degrees (z-x-z convention)."""
    p, t, s = np.deg2rad([phi, theta, psi])
    return _rz(s) @ _rx(t) @ _rz(p)


def _check_table(ellipsoids: np.ndarray) -> np.ndarray:
    e = np.asarray(ellipsoids, np.float64)
    if e.ndim != 2 or e.shape[1] != 10:
        raise ValueError(f"ellipsoids must have shape (M, 10) (A, a, b, c, x0, y0, z0, phi, "
                         f"theta, psi), got {e.shape}.")
    if np.any(e[:, 1:4] <= 0):
        raise ValueError(f"ellipsoid semi-axes must be > 0, got {e[:, 1:4].min()}.")
    return e


def ellipsoid_values(points: np.ndarray, ellipsoids: np.ndarray = SHEPP_LOGAN_3D) -> np.ndarray:
    """f at ``points`` (..., 3) given as (x, y, z) in [-1, 1]^3: the sum of the
    intensities of the ellipsoids that contain each point (boundary included)."""
    pts = np.asarray(points, np.float64)
    if pts.shape[-1] != 3:
        raise ValueError(f"points must have a last axis of size 3 (x, y, z), got {pts.shape}.")
    e = _check_table(ellipsoids)
    out = np.zeros(pts.shape[:-1])
    flat = pts.reshape(-1, 3)
    for amp, a, b, c, x0, y0, z0, phi, theta, psi in e:
        q = (flat - np.array([x0, y0, z0])) @ euler_rotation(phi, theta, psi).T
        inside = np.sum((q / np.array([a, b, c])) ** 2, axis=-1) <= 1.0
        out += amp * inside.reshape(out.shape)
    return out


def grid(size: int) -> np.ndarray:
    """The coordinates linspace(-1, 1, size) of the voxel centres along each axis."""
    checks.positive_int("phantoms", "size", size)
    if size < 2:
        raise ValueError(f"phantoms: size must be >= 2, got {size}.")
    return np.linspace(-1.0, 1.0, size)


def phantom_volume(ellipsoids: np.ndarray = SHEPP_LOGAN_3D, size: int = 64,
                   clip: bool = True) -> np.ndarray:
    """The (size, size, size) float32 volume ``vol[z, row, col]`` of an ellipsoid table
    (module docstring for the axes), clipped to [0, 1] unless ``clip`` is False."""
    g = grid(size)
    z, y, x = np.meshgrid(g, -g, g, indexing="ij")
    vol = ellipsoid_values(np.stack([x, y, z], axis=-1), ellipsoids)
    if clip:
        vol = np.clip(vol, 0.0, 1.0)
    return vol.astype(np.float32)


def shepp_logan_3d(size: int = 64) -> np.ndarray:
    """The 3-D modified Shepp-Logan phantom (:data:`SHEPP_LOGAN_3D`) on a size^3 grid."""
    return phantom_volume(SHEPP_LOGAN_3D, size)


def random_ellipsoids(seed: int | np.random.Generator, num_inner: tuple[int, int] = (3, 8)
                      ) -> np.ndarray:
    """A random head-like ellipsoid table (M, 10) (module docstring) under ``seed``."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    lo, hi = num_inner
    if not 0 <= lo <= hi:
        raise ValueError(f"random_ellipsoids: num_inner must be (lo, hi) with 0 <= lo <= hi, "
                         f"got {num_inner}.")
    axes = rng.uniform([0.55, 0.7, 0.55], [0.75, 0.9, 0.8])
    shell = rng.uniform(0.04, 0.08)
    tilt = rng.uniform(-15.0, 15.0)
    tissue = rng.uniform(0.1, 0.3)
    rows = [[1.0, *axes, 0.0, 0.0, 0.0, tilt, 0.0, 0.0],
            [tissue - 1.0, *(axes - shell), 0.0, 0.0, 0.0, tilt, 0.0, 0.0]]
    for _ in range(int(rng.integers(lo, hi + 1))):
        semi = rng.uniform(0.04, 0.3, size=3)
        # centres inside the inner ellipsoid, away from its surface
        u = rng.normal(size=3)
        u *= rng.uniform(0.0, 0.75) / np.linalg.norm(u)
        centre = u * (axes - shell)
        amp = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.3)
        angles = rng.uniform([-90.0, -30.0, -90.0], [90.0, 30.0, 90.0])
        rows.append([max(amp, -tissue), *semi, *centre, *angles])
    return np.array(rows)


def random_phantom(seed: int | np.random.Generator, size: int = 64) -> np.ndarray:
    """A random-ellipsoid volume (size^3, float32 in [0, 1]) under ``seed``."""
    return phantom_volume(random_ellipsoids(seed), size)


def volume_seeds(split: str, num_volumes: int, seed: int = 0) -> list[np.random.Generator]:
    """Independent generators for the volumes of ``split`` (train and test never share
    a stream)."""
    checks.choice("phantom_slices", "split", split, SPLITS)
    return [np.random.default_rng([seed, _SPLIT_STREAM[split], i]) for i in range(num_volumes)]


def load_phantom_slices(split: str = "train", size: int = 64, num_volumes: int | None = None,
                        seed: int = 0) -> ArrayDataset:
    """Axial slices (size, size, 1) uint8 of random-ellipsoid volumes: ``num_volumes``
    volumes (default 48 for train, 8 for test) under ``seed``; slices that are zero
    everywhere (above and below the head) are left out."""
    checks.choice("phantom_slices", "split", split, SPLITS)
    n = num_volumes if num_volumes is not None else {"train": 48, "test": 8}[split]
    checks.positive_int("phantom_slices", "num_volumes", n)
    vols = np.stack([random_phantom(r, size) for r in volume_seeds(split, n, seed)])
    slices = vols.reshape(-1, size, size)
    slices = slices[slices.max(axis=(1, 2)) > 0]
    images = np.round(slices * 255.0).astype(np.uint8)[..., None]
    return ArrayDataset("phantom_slices", split, images)


__all__ = ["SHEPP_LOGAN_3D", "SPLITS", "ellipsoid_values", "euler_rotation", "grid",
           "load_phantom_slices", "phantom_volume", "random_ellipsoids", "random_phantom",
           "shepp_logan_3d", "volume_seeds"]
