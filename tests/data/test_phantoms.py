"""CT phantoms: the 3-D Shepp-Logan values at known points, grid axes, random volumes
under a seed, and the registered slice data set."""

import numpy as np
import pytest

from diffax.data import get_dataset
from diffax.data import phantoms as P


def test_shepp_logan_values_at_known_points():
    # Toft's intensities: skull 1, brain 1 - 0.8, ventricle 0.2 - 0.2, features 0.2 + 0.1.
    pts = np.array([[0.0, 0.0, 0.0],        # brain
                    [0.22, 0.0, 0.0],       # centre of the right ventricle
                    [-0.22, 0.0, 0.0],      # centre of the left ventricle
                    [0.0, 0.35, -0.15],     # centre of ellipsoid 5
                    [0.0, 0.1, 0.25],       # centre of ellipsoid 6
                    [0.0, 0.9, 0.0],        # skull (inside 1, outside 2: 0.9184 > 0.874)
                    [0.0, 0.0, 0.95],       # above the head (c = 0.81)
                    [0.8, 0.0, 0.0]])       # beside the head (a = 0.69)
    expected = [0.2, 0.0, 0.0, 0.3, 0.3, 1.0, 0.0, 0.0]
    np.testing.assert_allclose(P.ellipsoid_values(pts), expected, atol=1e-12)


def test_euler_rotation_is_orthonormal_and_z_x_z():
    r = P.euler_rotation(30.0, 40.0, -50.0)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)
    # with theta = 0 the two z rotations add up
    np.testing.assert_allclose(P.euler_rotation(-18.0, 0.0, 10.0),
                               P.euler_rotation(-8.0, 0.0, 0.0), atol=1e-12)
    # a rotated ellipsoid: the point on its long axis after rotation by 90 deg about z
    e = np.array([[1.0, 0.5, 0.1, 0.1, 0, 0, 0, 90.0, 0, 0]])
    assert P.ellipsoid_values(np.array([[0.0, 0.45, 0.0]]), e)[0] == 1.0
    assert P.ellipsoid_values(np.array([[0.45, 0.0, 0.0]]), e)[0] == 0.0


def test_volume_axes_follow_the_grid():
    n = 9
    vol = P.shepp_logan_3d(n)
    g = P.grid(n)
    assert vol.shape == (n, n, n) and vol.dtype == np.float32
    for k, r, c in [(4, 4, 4), (4, 0, 4), (6, 2, 4), (3, 4, 5)]:
        want = np.clip(P.ellipsoid_values(np.array([g[c], -g[r], g[k]])), 0, 1)
        assert vol[k, r, c] == pytest.approx(want, abs=1e-7)
    # row 1 of 25 is y = 11/12, inside ellipsoid 1 (b = 0.92) above ellipsoid 2 (top at
    # y = 0.8556): the skull at the top of the centre slice, so rows run from +y down
    big = P.shepp_logan_3d(25)
    assert big[12, 1, 12] == pytest.approx(1.0) and big[12, 24, 12] == 0.0
    levels = np.unique(np.round(P.shepp_logan_3d(24).astype(np.float64), 6))
    np.testing.assert_allclose(levels, [0.0, 0.2, 0.3, 1.0], atol=1e-6)


def test_random_phantoms_are_deterministic_and_differ_by_seed():
    a, b, c = P.random_phantom(5, 16), P.random_phantom(5, 16), P.random_phantom(6, 16)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    assert a.min() >= 0.0 and a.max() == pytest.approx(1.0)  # the shell is at intensity 1
    e = P.random_ellipsoids(5)
    assert e.shape[1] == 10 and 5 <= e.shape[0] <= 10


def test_slice_dataset_registered_with_split_streams():
    tr = get_dataset("phantom_slices", "train", size=12, num_volumes=3)
    te = get_dataset("phantom_slices", "test", size=12, num_volumes=3)
    assert tr.shape == (12, 12, 1) and tr.is_image and tr.num_classes is None
    # the slices are the non-empty axial slices of the volumes, as uint8 round(255 f)
    vols = [P.random_phantom(r, 12) for r in P.volume_seeds("train", 3)]
    want = np.concatenate([v[v.max(axis=(1, 2)) > 0] for v in vols])
    np.testing.assert_array_equal(tr.x[..., 0], np.round(want * 255).astype(np.uint8))
    assert not np.array_equal(tr.x[:10], te.x[:10])
    again = get_dataset("phantom_slices", "train", size=12, num_volumes=3)
    np.testing.assert_array_equal(tr.x, again.x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="val"), "split"),
    (dict(split="train", size=1), "size"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.load_phantom_slices(**kwargs)
    with pytest.raises(ValueError, match="shape"):
        P.ellipsoid_values(np.zeros((2, 3)), np.zeros((2, 9)))
    with pytest.raises(ValueError, match="semi-axes"):
        P.ellipsoid_values(np.zeros((2, 3)), np.zeros((1, 10)))
