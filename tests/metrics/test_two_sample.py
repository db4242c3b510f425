"""Kernel MMD and energy distance vs numpy and scipy."""

import numpy as np
import pytest
import scipy.stats

from diffax.metrics import energy_distance, mmd


def _mmd_numpy(x, y, bandwidths, unbiased):
    def gram(a, b):
        d2 = np.sum((a[:, None] - b[None]) ** 2, axis=-1)
        return sum(np.exp(-d2 / (2.0 * h**2)) for h in bandwidths)

    kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
    n, m = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2.0 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_matches_numpy(x64, unbiased):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 3))
    y = 1.5 * rng.normal(size=(45, 3)) + 0.3
    bws = [0.5, 1.0, 4.0]
    got = mmd(x, y, bws, unbiased=unbiased, block_size=16)
    assert float(got) == pytest.approx(_mmd_numpy(x, y, bws, unbiased), rel=1e-10)
    # 1-D inputs and a scalar bandwidth
    got = mmd(x[:, 0], y[:, 0], 0.7, unbiased=unbiased)
    assert float(got) == pytest.approx(_mmd_numpy(x[:, :1], y[:, :1], [0.7], unbiased),
                                       rel=1e-10)


def test_mmd_unbiased_vs_biased_same_distribution(x64):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    # The V-statistic carries a positive bias of order 1/n; the U-statistic does not.
    assert float(mmd(x, y, [1.0], unbiased=False)) > 0.0
    assert abs(float(mmd(x, y, [1.0]))) < float(mmd(x, y, [1.0], unbiased=False))


def test_energy_distance_1d_matches_scipy(x64):
    rng = np.random.default_rng(2)
    x = rng.normal(size=57)
    y = rng.exponential(size=33)
    got = energy_distance(x, y, block_size=16)
    assert float(got) == pytest.approx(scipy.stats.energy_distance(x, y), rel=1e-10)


def test_energy_distance_nd_matches_numpy(x64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    y = rng.normal(size=(25, 4)) + np.array([1.0, 0.0, -0.5, 0.0])

    def mean_dist(a, b):
        return np.mean(np.linalg.norm(a[:, None] - b[None], axis=-1))

    e2 = 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
    assert float(energy_distance(x, y, squared=True)) == pytest.approx(e2, rel=1e-10)
    assert float(energy_distance(x, y)) == pytest.approx(np.sqrt(e2), rel=1e-10)
    assert float(energy_distance(x, x, squared=True)) < 1e-14  # sqrt would amplify rounding


def test_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="bandwidths must all be > 0"):
        mmd(x, x, [1.0, -1.0])
    with pytest.raises(ValueError, match="same dimension"):
        mmd(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 points"):
        mmd(x[:1], x)
    with pytest.raises(ValueError, match=r"x must have shape \(n,\) or \(n, d\)"):
        energy_distance(np.zeros((2, 2, 2)), x)
