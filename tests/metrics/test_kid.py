"""KID vs a direct numpy O(n^2) unbiased MMD^2 with the cubic polynomial kernel."""

import jax
import numpy as np
import pytest

from diffax.metrics import kernel_inception_distance


def _mmd2_unbiased_numpy(x, y):
    d = x.shape[1]
    m, n = len(x), len(y)
    kxx = np.array([[(x[i] @ x[j] / d + 1.0) ** 3 for j in range(m)] for i in range(m)])
    kyy = np.array([[(y[i] @ y[j] / d + 1.0) ** 3 for j in range(n)] for i in range(n)])
    kxy = np.array([[(x[i] @ y[j] / d + 1.0) ** 3 for j in range(n)] for i in range(m)])
    sxx = sum(kxx[i, j] for i in range(m) for j in range(m) if i != j)
    syy = sum(kyy[i, j] for i in range(n) for j in range(n) if i != j)
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * kxy.mean()


def _features(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5))
    y = 1.2 * rng.normal(size=(40, 5)) + 0.4
    return x, y


def test_kid_full_subsets_equal_numpy(x64):
    # subset_size = n: every subset is the whole (permuted) set, and MMD_u^2 is
    # permutation invariant, so each subset equals the direct estimator.
    x, y = _features(0)
    mean, std = kernel_inception_distance(x, y, subset_size=40, n_subsets=3,
                                          key=jax.random.key(1))
    assert float(mean) == pytest.approx(_mmd2_unbiased_numpy(x, y), rel=1e-10)
    assert float(std) < 1e-10


def test_kid_subset_mean_is_unbiased(x64):
    # Averaged over random subsets, the subset U-statistic has the full-sample
    # U-statistic as its expectation.
    x, y = _features(1)
    full = _mmd2_unbiased_numpy(x, y)
    mean, std = kernel_inception_distance(x, y, subset_size=10, n_subsets=400,
                                          key=jax.random.key(2))
    assert float(std) > 0
    assert abs(float(mean) - full) < 4.0 * float(std) / np.sqrt(400)
    assert full > 5.0 * float(std) / np.sqrt(400)  # the shift is detectable at all


def test_kid_same_distribution_near_zero():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = rng.normal(size=(400, 8)).astype(np.float32)
    same, same_std = kernel_inception_distance(x, y, subset_size=100, n_subsets=20)
    shifted, _ = kernel_inception_distance(x, y + 1.0, subset_size=100, n_subsets=20)
    assert abs(float(same)) < 3.0 * float(same_std)
    assert float(shifted) > 20.0 * float(same_std)


def test_kid_errors():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="subset_size=11 exceeds"):
        kernel_inception_distance(x, x, subset_size=11)
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kernel_inception_distance(x, x, subset_size=1)
    with pytest.raises(ValueError, match="same feature dimension"):
        kernel_inception_distance(x, np.zeros((10, 4)), subset_size=5)
    with pytest.raises(ValueError, match=r"f1 must have shape \(n1, d\)"):
        kernel_inception_distance(np.zeros(10), x, subset_size=5)
