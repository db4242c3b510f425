"""The offline "shapes" set: surface point clouds of six primitive solids.

Classes (in label order): sphere, box, cylinder, cone, torus, capsule. Every example is
drawn in three steps:

1. **Aspect.** The primitive's proportions in its canonical frame (centred at the
   origin, axis along z), from a ratio ``s`` drawn log-uniformly in ``aspect``:
   sphere -> ellipsoid with semi-axes (1, s1, s2); box -> half-sides (1, s1, s2);
   cylinder -> radius 1, half-height s; cone -> base radius 1, height 2s (base at z=-s);
   torus -> major radius 1, tube radius 0.35 s / max(aspect); capsule -> radius 1,
   half-length of the straight part s.
2. **Surface samples, uniform by area (exact).** Points are i.i.d. with density
   proportional to surface area: a patch (face, cap, lateral surface, hemisphere) is
   chosen with probability area / total area, then a point uniform by area within it:

   * rectangle / disc: ``(u, v)`` uniform / radius ``R sqrt(u)``, angle uniform;
   * cylinder lateral surface: angle and height uniform (it unrolls to a rectangle);
   * cone lateral surface: distance from the apex ``sqrt(u)`` of the slant (the area
     below fraction t of the slant grows as t^2), angle uniform;
   * sphere: a normalised Gaussian vector (Muller 1959);
   * ellipsoid ``x = D p`` (D = diag(a, b, c), p on the unit sphere): the area element
     is ``|det D| |D^-1 p| dS = sqrt((bc p1)^2 + (ac p2)^2 + (ab p3)^2) dS``; points p
     uniform on the sphere are accepted with probability that factor / max(ab, bc, ca)
     (rejection sampling, exact);
   * torus ``((R + r cos phi) cos theta, (R + r cos phi) sin theta, r sin phi)``: the
     area element is ``r (R + r cos phi) dphi dtheta``; theta uniform, phi uniform
     accepted with probability (R + r cos phi) / (R + r).

   The parameter-uniform shortcuts (uniform angles on a sphere, uniform phi on a
   torus) would crowd points at the poles and the inner ring; the tests check the
   exact area fractions.
3. **Pose and scale.** The canonical shape is scaled so that its bounding sphere about
   the origin has radius ``scale`` (drawn uniformly in ``scale``) and rotated by a
   rotation drawn uniformly from SO(3) (a normalised Gaussian quaternion, Shoemake
   1992).

Everything is a pure function of the seed: split ``k`` of ``seed`` uses
``numpy.random.default_rng([seed, k])``, so train and test never share a draw.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from diffax import checks

#: The class names, in label order.
SHAPE_CLASSES = ("sphere", "box", "cylinder", "cone", "torus", "capsule")
_SPLIT_STREAM = {"train": 0, "test": 1, "val": 2}


# ---- canonical surfaces -----------------------------------------------------------------

def _sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.standard_normal((n, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _disc(rng, n: int, radius: float) -> np.ndarray:
    rad = radius * np.sqrt(rng.random(n))
    ang = 2 * np.pi * rng.random(n)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)


def _rejection(rng, n: int, draw, accept_prob) -> np.ndarray:
    """``n`` draws of ``draw(rng, m)`` kept with probability ``accept_prob(points)``."""
    out, have = [], 0
    while have < n:
        m = max(2 * (n - have), 64)
        p = draw(rng, m)
        p = p[rng.random(m) < accept_prob(p)]
        out.append(p)
        have += len(p)
    return np.concatenate(out)[:n]


def _choose_patch(rng, n: int, areas: Sequence[float]) -> np.ndarray:
    """Patch index of every point, with probability proportional to the patch's area."""
    areas = np.asarray(areas, np.float64)
    return rng.choice(len(areas), size=n, p=areas / areas.sum())


def sample_ellipsoid(rng, n: int, axes: Sequence[float]) -> np.ndarray:
    a, b, c = (float(v) for v in axes)
    weights = np.array([b * c, a * c, a * b])

    def accept(p):
        return np.sqrt(((weights * p) ** 2).sum(1)) / weights.max()

    return _rejection(rng, n, _sphere, accept) * np.array([a, b, c])


def sample_box(rng, n: int, half: Sequence[float]) -> np.ndarray:
    h = np.asarray(half, np.float64)
    # faces in pairs +-x, +-y, +-z; the area of a +-k face is 4 * (product of the others)
    face = _choose_patch(rng, n, [4 * h[1] * h[2]] * 2 + [4 * h[0] * h[2]] * 2
                         + [4 * h[0] * h[1]] * 2)
    pts = (2 * rng.random((n, 3)) - 1) * h
    axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
    pts[np.arange(n), axis] = sign * h[axis]
    return pts


def sample_cylinder(rng, n: int, radius: float, half_height: float) -> np.ndarray:
    r, h = float(radius), float(half_height)
    patch = _choose_patch(rng, n, [2 * np.pi * r * 2 * h, np.pi * r**2, np.pi * r**2])
    ang = 2 * np.pi * rng.random(n)
    pts = np.stack([r * np.cos(ang), r * np.sin(ang), h * (2 * rng.random(n) - 1)], axis=1)
    caps = patch > 0
    pts[caps, :2] = _disc(rng, int(caps.sum()), r)
    pts[caps, 2] = np.where(patch[caps] == 1, h, -h)
    return pts


def sample_cone(rng, n: int, radius: float, height: float) -> np.ndarray:
    r, H = float(radius), float(height)
    slant = math.hypot(r, H)
    patch = _choose_patch(rng, n, [np.pi * r * slant, np.pi * r**2])
    t = np.sqrt(rng.random(n))                      # fraction of the slant from the apex
    ang = 2 * np.pi * rng.random(n)
    pts = np.stack([t * r * np.cos(ang), t * r * np.sin(ang), H / 2 - t * H], axis=1)
    base = patch == 1
    pts[base, :2] = _disc(rng, int(base.sum()), r)
    pts[base, 2] = -H / 2
    return pts


def sample_torus(rng, n: int, major: float, minor: float) -> np.ndarray:
    R, r = float(major), float(minor)
    if not 0 < r < R:
        raise ValueError(f"torus: need 0 < minor < major radius, got minor={r}, major={R}.")
    phi = _rejection(rng, n, lambda g, m: 2 * np.pi * g.random((m, 1)),
                     lambda p: (R + r * np.cos(p[:, 0])) / (R + r))[:, 0]
    theta = 2 * np.pi * rng.random(n)
    ring = R + r * np.cos(phi)
    return np.stack([ring * np.cos(theta), ring * np.sin(theta), r * np.sin(phi)], axis=1)


def sample_capsule(rng, n: int, radius: float, half_length: float) -> np.ndarray:
    r, h = float(radius), float(half_length)
    # the two hemispheres together are one sphere of area 4 pi r^2
    patch = _choose_patch(rng, n, [2 * np.pi * r * 2 * h, 4 * np.pi * r**2])
    pts = np.empty((n, 3))
    ang = 2 * np.pi * rng.random(n)
    pts[:, :2] = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    pts[:, 2] = h * (2 * rng.random(n) - 1)
    ends = patch == 1
    p = r * _sphere(rng, int(ends.sum()))
    p[:, 2] += np.where(p[:, 2] >= 0, h, -h)
    pts[ends] = p
    return pts


def canonical_surface(kind: str, rng: np.random.Generator, n: int,
                      s: Sequence[float], tube_scale: float) -> tuple[np.ndarray, float]:
    """``n`` area-uniform points of primitive ``kind`` with aspect ratios ``s`` (two
    values; module docstring), and the radius of its bounding sphere about the origin."""
    s1, s2 = float(s[0]), float(s[1])
    if kind == "sphere":
        return sample_ellipsoid(rng, n, (1.0, s1, s2)), max(1.0, s1, s2)
    if kind == "box":
        return sample_box(rng, n, (1.0, s1, s2)), math.sqrt(1 + s1**2 + s2**2)
    if kind == "cylinder":
        return sample_cylinder(rng, n, 1.0, s1), math.hypot(1.0, s1)
    if kind == "cone":
        return sample_cone(rng, n, 1.0, 2 * s1), math.hypot(1.0, s1)
    if kind == "torus":
        tube = tube_scale * s1
        return sample_torus(rng, n, 1.0, tube), 1.0 + tube
    if kind == "capsule":
        return sample_capsule(rng, n, 1.0, s1), 1.0 + s1
    raise ValueError(f"unknown shape {kind!r}; valid choices: {list(SHAPE_CLASSES)}.")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A (3, 3) rotation uniform on SO(3): the matrix of a normalised Gaussian quaternion."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


# ---- the data set -----------------------------------------------------------------------

def _positive_range(where: str, name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except Exception:
        lo = hi = math.nan
    if not 0 < lo <= hi < math.inf:
        raise ValueError(f"{where}: {name} must be a range (lo, hi) with 0 < lo <= hi, "
                         f"got {value!r}.")
    return lo, hi


def generate_shapes(split: str = "train", *, num_per_class: int = 64, num_points: int = 2048,
                    classes: Sequence[str] = SHAPE_CLASSES, seed: int = 0,
                    aspect: tuple[float, float] = (0.5, 1.5),
                    scale: tuple[float, float] = (0.75, 1.25), rotate: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(points float32 (N, num_points, 3), labels int32 (N,))`` of split ``split``:
    ``num_per_class`` shapes of each of ``classes`` (label k is ``classes[k]``),
    class-major order. A pure function of its arguments."""
    where = "pc:shapes"
    checks.choice(where, "split", split, _SPLIT_STREAM)
    num_per_class = checks.positive_int(where, "num_per_class", num_per_class)
    num_points = checks.positive_int(where, "num_points", num_points)
    seed = checks.integer(where, "seed", seed, minimum=0)
    for c in classes:
        checks.choice(where, "class", c, SHAPE_CLASSES)
    checks.distinct(where, "classes", list(classes))
    lo, hi = _positive_range(where, "aspect", aspect)
    s_lo, s_hi = _positive_range(where, "scale", scale)
    tube_scale = 0.35 / hi
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
    points = np.empty((len(classes) * num_per_class, num_points, 3), np.float32)
    labels = np.empty(len(classes) * num_per_class, np.int32)
    i = 0
    for kind in classes:
        for _ in range(num_per_class):
            s = np.exp(rng.uniform(math.log(lo), math.log(hi), size=2))
            pts, radius = canonical_surface(kind, rng, num_points, s, tube_scale)
            pts = pts * (rng.uniform(s_lo, s_hi) / radius)
            if rotate:
                pts = pts @ random_rotation(rng).T
            points[i], labels[i] = pts, list(classes).index(kind)
            i += 1
    return points, labels


__all__ = ["SHAPE_CLASSES", "canonical_surface", "generate_shapes", "random_rotation",
           "sample_box", "sample_capsule", "sample_cone", "sample_cylinder",
           "sample_ellipsoid", "sample_torus"]
