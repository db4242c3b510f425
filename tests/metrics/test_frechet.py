"""Fréchet distance and streaming feature statistics vs numpy/scipy float64 oracles."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from diffax.metrics import (feature_statistics, feature_statistics_from_batches,
                            finalize_feature_statistics, frechet_distance,
                            frechet_distance_from_features, init_feature_statistics,
                            merge_feature_statistics, update_feature_statistics)


def _random_gaussian(rng, d, rank=None):
    rank = d if rank is None else rank
    a = rng.normal(size=(d, rank))
    return rng.normal(size=d), a @ a.T / rank + (0.1 * np.eye(d) if rank == d else 0.0)


def _fd_scipy(mu1, c1, mu2, c2):
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2)
                 - 2.0 * np.trace(covmean).real)


def test_fd_matches_scipy_sqrtm(x64):
    rng = np.random.default_rng(0)
    for d in (1, 3, 8):
        mu1, c1 = _random_gaussian(rng, d)
        mu2, c2 = _random_gaussian(rng, d)
        got = float(frechet_distance(mu1, c1, mu2, c2))
        assert got == pytest.approx(_fd_scipy(mu1, c1, mu2, c2), rel=1e-9, abs=1e-10)
        # Symmetric in its two Gaussians.
        assert float(frechet_distance(mu2, c2, mu1, c1)) == pytest.approx(got, rel=1e-9)


def test_fd_singular_commuting_covariances(x64):
    # Diagonal (commuting) covariances, some exactly zero: FD = |dmu|^2 + sum (sqrt a - sqrt b)^2.
    a = np.array([0.0, 1.0, 4.0, 0.0, 2.5])
    b = np.array([0.0, 9.0, 0.25, 3.0, 2.5])
    mu1, mu2 = np.arange(5.0), np.arange(5.0)[::-1]
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert float(got) == pytest.approx(expected, rel=1e-10)
    # A rotated, rank-deficient pair still agrees with the closed form.
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert float(got) == pytest.approx(expected, rel=1e-8)


def test_fd_float32_rank_deficient_accuracy():
    # Rank-32 covariances in 256-D (fewer samples than dimensions). Summing
    # sqrt(eigvalsh(C1^1/2 C2 C1^1/2)) in float32 turns the ~224 rounding-level null
    # eigenvalues into a bias of ~4e-3 relative; the nuclear-norm form stays ~1e-6.
    rng = np.random.default_rng(7)
    d, k = 256, 32
    q = np.linalg.qr(rng.normal(size=(d, k)))[0]
    r1, r2 = rng.normal(size=(k, k)), rng.normal(size=(k, k))
    p1, p2 = r1 @ r1.T / k, r2 @ r2.T / k  # full rank inside the subspace
    c1, c2 = q @ p1 @ q.T, q @ p2 @ q.T
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # Exact value from the (full-rank) projected covariances, in float64.
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(p1) + np.trace(p2)
                - 2.0 * np.trace(scipy.linalg.sqrtm(p1 @ p2)).real)
    got = frechet_distance(*(a.astype(np.float32) for a in (mu1, c1, mu2, c2)))
    assert float(got) == pytest.approx(expected, rel=2e-5)


def test_fd_zero_for_identical_stats_float32():
    rng = np.random.default_rng(2)
    mu, c = _random_gaussian(rng, 16, rank=4)  # singular covariance
    mu, c = mu.astype(np.float32), c.astype(np.float32)
    fd = float(frechet_distance(mu, c, mu, c))
    assert fd >= 0.0
    assert fd < 1e-3 * float(np.trace(c))
    # and a clearly different pair is clearly positive
    assert float(frechet_distance(mu, c, mu + 1.0, c)) == pytest.approx(16.0, rel=1e-3)


def test_streaming_equals_one_shot_and_numpy(x64):
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(257, 6)) @ rng.normal(size=(6, 6)) + 50.0
    mu_np, cov_np = feats.mean(0), np.cov(feats, rowvar=False)
    mu1, cov1 = feature_statistics(feats)
    stats = init_feature_statistics(6)
    for lo, hi in ((0, 1), (1, 64), (64, 64), (64, 200), (200, 257)):  # uneven, one empty
        stats = update_feature_statistics(stats, feats[lo:hi])
    assert int(stats.count) == 257
    mu2, cov2 = finalize_feature_statistics(stats)
    for mu, cov in ((mu1, cov1), (mu2, cov2)):
        np.testing.assert_allclose(mu, mu_np, rtol=1e-12)
        np.testing.assert_allclose(cov, cov_np, rtol=1e-10, atol=1e-12)
    # Merging accumulators built on different shards (different shifts) is exact too.
    a = update_feature_statistics(init_feature_statistics(6), feats[:100])
    b = update_feature_statistics(init_feature_statistics(6), feats[100:] - 0.0)
    mu3, cov3 = finalize_feature_statistics(merge_feature_statistics(a, b))
    np.testing.assert_allclose(mu3, mu_np, rtol=1e-12)
    np.testing.assert_allclose(cov3, cov_np, rtol=1e-10, atol=1e-12)
    mu4, cov4 = finalize_feature_statistics(merge_feature_statistics(init_feature_statistics(6), b))
    np.testing.assert_allclose(cov4, np.cov(feats[100:], rowvar=False), rtol=1e-10)


def test_float32_streaming_is_centred():
    # Large mean, unit spread: a naive float32 sum of x x^T would lose ~all digits.
    rng = np.random.default_rng(4)
    feats = (rng.normal(size=(4000, 4)) + 3000.0).astype(np.float32)
    stats = init_feature_statistics(4)
    assert stats.sum.dtype == jnp.float32
    for chunk in np.split(feats, 8):
        stats = update_feature_statistics(stats, chunk)
    _, cov = finalize_feature_statistics(stats)
    cov_np = np.cov(feats.astype(np.float64), rowvar=False)
    np.testing.assert_allclose(cov, cov_np, atol=2e-3)


def test_fd_from_features_and_batches(x64):
    rng = np.random.default_rng(5)
    f1 = rng.normal(size=(300, 4))
    f2 = 0.7 * rng.normal(size=(200, 4)) + 0.3
    expected = _fd_scipy(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0),
                         np.cov(f2, rowvar=False))
    assert float(frechet_distance_from_features(f1, f2)) == pytest.approx(expected, rel=1e-9)
    # Any feature function over batches: features = 2 x + 1 scales the covariance by 4.
    mu, cov = feature_statistics_from_batches(np.split(f1, 3), lambda b: 2.0 * b + 1.0)
    np.testing.assert_allclose(mu, 2.0 * f1.mean(0) + 1.0, rtol=1e-12)
    np.testing.assert_allclose(cov, 4.0 * np.cov(f1, rowvar=False), rtol=1e-10)


def test_fd_errors():
    mu, c = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match=r"cov2 must have shape \(3, 3\)"):
        frechet_distance(mu, c, mu, np.eye(4))
    with pytest.raises(ValueError, match=r"mu1 must have shape \(d,\)"):
        frechet_distance(c, c, mu, c)
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="dimension 2, the accumulator has 3"):
        update_feature_statistics(init_feature_statistics(3), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        finalize_feature_statistics(init_feature_statistics(3))
    with pytest.raises(ValueError, match="batches is empty"):
        feature_statistics_from_batches([])
