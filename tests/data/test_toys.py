"""2-D toy data sets: shapes, documented geometry and statistics, exact mixture samples."""

import jax
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.data import get_dataset, gmm2d_mixture, make_pipeline
from diffax.data.toys import (TOY_NAMES, sample_checkerboard, sample_moons, sample_rings,
                              sample_swiss_roll)


# One sample size for every mixture draw: GaussianMixture.sample compiles once per size.
N_MIX = 2048


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_moons_lie_on_their_half_circles():
    x, label = sample_moons(_rng(), 4000, noise=0.0)
    assert x.shape == (4000, 2) and x.dtype == np.float32 and set(np.unique(label)) == {0, 1}
    p = x.astype(np.float64) / 2 + np.array([0.5, 0.25])  # undo the documented scaling
    up, lo = p[label == 0], p[label == 1]
    np.testing.assert_allclose(np.hypot(up[:, 0], up[:, 1]), 1.0, atol=1e-5)
    assert up[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(1 - lo[:, 0], 0.5 - lo[:, 1]), 1.0, atol=1e-5)
    assert lo[:, 1].max() <= 0.5 + 1e-6
    # Documented bounds without noise.
    assert x[label == 0, 0].min() >= -3 - 1e-5 and x[label == 0, 0].max() <= 1 + 1e-5
    assert x[label == 1, 1].min() >= -1.5 - 1e-5 and x[label == 1, 1].max() <= 0.5 + 1e-5
    assert abs(label.mean() - 0.5) < 0.04
    noisy, _ = sample_moons(_rng(), 4000, noise=0.1)
    assert 0.09 < np.std(noisy - x) < 0.11  # same seed: the same points plus the noise


def test_rings_radii_and_noise():
    x, label = sample_rings(_rng(1), 20000, radii=(1.0, 2.5), noise=0.05)
    r = np.hypot(x[:, 0], x[:, 1])
    for k, radius in enumerate((1.0, 2.5)):
        assert abs(r[label == k].mean() - radius) < 0.005
        assert abs(r[label == k].std() - 0.05) < 0.005
    assert abs(x.mean(axis=0)).max() < 0.05  # uniform angles
    with pytest.raises(ValueError, match="radii must be a non-empty sequence"):
        sample_rings(_rng(), 10, radii=(1.0, -2.0))


def test_swiss_roll_geometry():
    x = sample_swiss_roll(_rng(2), 5000, noise=0.0).astype(np.float64)
    r = np.hypot(x[:, 0], x[:, 1])
    t = 5 * r
    assert t.min() >= 1.5 * np.pi - 1e-4 and t.max() <= 4.5 * np.pi + 1e-4
    np.testing.assert_allclose(x, np.stack([t * np.cos(t), t * np.sin(t)], -1) / 5, atol=1e-5)
    assert abs(t.mean() - 3 * np.pi) < 0.1  # t uniform on [1.5 pi, 4.5 pi]


def test_checkerboard_fills_the_black_cells_uniformly():
    x = sample_checkerboard(_rng(3), 40000).astype(np.float64)
    assert np.all(np.abs(x) <= 2)
    cells = np.floor(x).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0)
    counts = np.unique(cells, axis=0, return_counts=True)[1]
    assert len(counts) == 8 and np.all(np.abs(counts / 5000 - 1) < 0.06)
    np.testing.assert_allclose(x.std(axis=0), 2 / np.sqrt(3), rtol=0.02)


def test_gmm2d_equals_gaussian_mixture_sample():
    ds = get_dataset("gmm2d", "train", num_examples=N_MIX, seed=4)
    gm = gmm2d_mixture()
    key = jax.random.fold_in(jax.random.PRNGKey(4), 0)  # documented train key
    x, comp = gm.sample(key, N_MIX, return_component=True)
    # bitwise: the dataset is this very call (same function, key and shape)
    np.testing.assert_array_equal(ds.x, np.asarray(x))
    np.testing.assert_array_equal(ds.label, np.asarray(comp))
    assert ds.num_classes == 4 and ds.mixture is not None
    test = get_dataset("gmm2d", "test", num_examples=N_MIX, seed=4)
    assert not np.allclose(test.x, ds.x)  # independent split
    # A custom mixture is sampled the same way.
    custom = GaussianMixture.isotropic([1.0, 3.0], [[-2.0, 0.0], [2.0, 0.0]], 0.3)
    ds2 = get_dataset("gmm2d", num_examples=N_MIX, seed=0, mixture=custom)
    assert ds2.num_classes == 2 and abs(ds2.label.mean() - 0.75) < 0.05  # 5 sigma
    np.testing.assert_allclose(ds2.x[ds2.label == 1].mean(0), [2.0, 0.0], atol=0.04)


def test_eight_gaussians_statistics():
    ds = get_dataset("8gaussians", num_examples=N_MIX, seed=0, radius=2.0, std=0.25)
    angles = ds.label * (np.pi / 4)
    means = 2.0 * np.stack([np.cos(angles), np.sin(angles)], -1)
    resid = ds.x - means
    assert abs(resid.std() - 0.25) < 0.01 and abs(resid.mean()) < 0.01
    assert np.all(np.abs(np.bincount(ds.label, minlength=8) / (N_MIX / 8) - 1) < 0.3)


@pytest.mark.parametrize("name", TOY_NAMES)
def test_every_toy_through_the_pipeline(name):
    ds = get_dataset(name, "test", num_examples=N_MIX, seed=1)
    again = get_dataset(name, "test", num_examples=N_MIX, seed=1)
    np.testing.assert_array_equal(ds.x, again.x)  # a fixed seed draws a fixed sample
    assert ds.shape == (2,) and ds.num_examples == N_MIX and not ds.is_image
    b = make_pipeline(ds, 128, 0).batch(5)
    assert b["x"].shape == (128, 2) and b["x"].dtype == np.float32
    assert ("label" in b) == (ds.num_classes is not None)
    assert np.all(np.isfinite(b["x"])) and 0.3 < b["x"].std() < 3  # order-1 scale


def test_default_sizes_and_errors():
    assert get_dataset("checkerboard").num_examples == 100_000
    assert get_dataset("checkerboard", "test").num_examples == 10_000
    with pytest.raises(ValueError, match=r"unknown split 'valid'.*\['test', 'train'\]"):
        get_dataset("moons", "valid")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['mixture'\]"):
        get_dataset("moons", mixture=None)
