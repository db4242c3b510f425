"""The generated shapes: exact area-uniform surface sampling (area fractions against
closed forms and against a fine mesh), poses, determinism and bad input."""

import math

import numpy as np
import pytest
import trimesh

from diffax.data.pointcloud import shapes

N = 40_000


def _within(frac_hat: float, frac: float, n: int = N) -> None:
    """An observed fraction within 5 binomial standard deviations of the exact one."""
    assert abs(frac_hat - frac) < 5 * math.sqrt(frac * (1 - frac) / n) + 1e-12, (frac_hat, frac)


def test_sphere_height_is_uniform_archimedes():
    """On the unit sphere the height z of an area-uniform point is uniform on [-1, 1]."""
    p = shapes.sample_ellipsoid(np.random.default_rng(0), N, (1, 1, 1))
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    for t in (-0.8, -0.3, 0.0, 0.5, 0.9):
        _within(float(np.mean(p[:, 2] > t)), (1 - t) / 2)


def test_ellipsoid_area_fractions_match_a_fine_mesh():
    axes = np.array([1.0, 0.6, 0.3])
    p = shapes.sample_ellipsoid(np.random.default_rng(1), N, axes)
    np.testing.assert_allclose(((p / axes) ** 2).sum(1), 1.0, atol=1e-12)
    mesh = trimesh.creation.icosphere(subdivisions=6)
    mesh.apply_scale(axes)
    centre = mesh.triangles_center
    for axis, t in ((0, 0.5), (2, 0.2), (1, -0.3)):
        frac = mesh.area_faces[centre[:, axis] > t].sum() / mesh.area
        # the mesh fraction is itself accurate to ~1e-3 (40k faces)
        assert abs(np.mean(p[:, axis] > t) - frac) < 5 * math.sqrt(frac * (1 - frac) / N) + 2e-3


def test_box_faces_by_area():
    h = np.array([1.0, 0.5, 0.25])
    p = shapes.sample_box(np.random.default_rng(2), N, h)
    on = np.isclose(np.abs(p), h)
    assert np.all(on.sum(1) >= 1) and np.all(np.abs(p) <= h + 1e-12)
    areas = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]])
    for axis in range(3):
        _within(float(np.mean(on[:, axis])), areas[axis] / areas.sum())


def test_cylinder_caps_and_lateral_heights():
    r, h = 1.0, 0.7
    p = shapes.sample_cylinder(np.random.default_rng(3), N, r, h)
    cap = np.isclose(np.abs(p[:, 2]), h)
    _within(float(cap.mean()), r / (r + 2 * h))  # 2 pi r^2 / (2 pi r^2 + 4 pi r h)
    np.testing.assert_allclose(np.hypot(p[~cap, 0], p[~cap, 1]), r, atol=1e-12)
    # caps: area-uniform discs, so the radius fraction below rho is rho^2
    _within(float(np.mean(np.hypot(p[cap, 0], p[cap, 1]) < 0.5)), 0.25, int(cap.sum()))


def test_cone_lateral_area_grows_quadratically_from_the_apex():
    r, H = 1.0, 2.0
    p = shapes.sample_cone(np.random.default_rng(4), N, r, H)
    base = np.isclose(p[:, 2], -H / 2)
    slant = math.hypot(r, H)
    _within(float(base.mean()), r / (r + slant))
    side = p[~base]
    depth = (H / 2 - side[:, 2]) / H                 # fraction of the way from the apex
    _within(float(np.mean(depth < 0.5)), 0.25, len(side))


def test_torus_outer_half_holds_more_area():
    R, r = 1.0, 0.4
    p = shapes.sample_torus(np.random.default_rng(5), N, R, r)
    ring = np.hypot(p[:, 0], p[:, 1])
    np.testing.assert_allclose((ring - R) ** 2 + p[:, 2] ** 2, r**2, atol=1e-12)
    # int over cos(phi) > 0 of (R + r cos phi) dphi / (2 pi R) = 1/2 + r / (pi R)
    _within(float(np.mean(ring > R)), 0.5 + r / (math.pi * R))


def test_capsule_ends_by_area():
    r, h = 1.0, 0.8
    p = shapes.sample_capsule(np.random.default_rng(6), N, r, h)
    ends = np.abs(p[:, 2]) > h
    _within(float(ends.mean()), 4 * math.pi * r**2 / (4 * math.pi * r**2 + 4 * math.pi * r * h))
    centre = np.where(p[:, 2:] > 0, h, -h) * np.array([0, 0, 1.0])
    np.testing.assert_allclose(np.linalg.norm(p[ends] - centre[ends], axis=1), r, atol=1e-12)


def test_generate_is_deterministic_posed_and_split_apart():
    a, la = shapes.generate_shapes("train", num_per_class=3, num_points=64, seed=7)
    b, _ = shapes.generate_shapes("train", num_per_class=3, num_points=64, seed=7)
    c, _ = shapes.generate_shapes("test", num_per_class=3, num_points=64, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (18, 64, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(la, np.repeat(np.arange(6), 3))
    # the bounding-sphere radius is the drawn scale, in [0.75, 1.25]
    radius = np.linalg.norm(a, axis=-1).max(1)
    assert np.all(radius <= 1.25 + 1e-5) and np.all(radius > 0.5)
    # rotation: two spheres of the same class are not axis-aligned the same way
    r = shapes.random_rotation(np.random.default_rng(0))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(classes=("sphere", "pyramid")), "pyramid"),
    (dict(num_points=0), "num_points"),
    (dict(aspect=(2.0, 1.0)), "aspect"),
    (dict(classes=("box", "box")), "box"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        shapes.generate_shapes("train", **{"num_per_class": 1, "num_points": 8, **kwargs})
