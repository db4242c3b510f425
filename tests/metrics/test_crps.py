"""CRPS from samples and quantiles vs the Gaussian closed form and brute force."""

import numpy as np
import pytest
import scipy.stats

from diffax.metrics import crps_quantiles, crps_samples, weighted_quantile_loss


def _gaussian_crps(mu, sigma, y):
    z = (y - mu) / sigma
    return sigma * (z * (2 * scipy.stats.norm.cdf(z) - 1) + 2 * scipy.stats.norm.pdf(z)
                    - 1 / np.sqrt(np.pi))


def _brute_force(samples, y, fair=False):
    m = samples.shape[0]
    abs_err = np.mean(np.abs(samples - y), axis=0)
    pairs = np.sum(np.abs(samples[:, None] - samples[None]), axis=(0, 1))
    return abs_err - 0.5 * pairs / (m * (m - 1) if fair else m * m)


def test_samples_match_gaussian_closed_form(x64):
    mu, sigma = 0.3, 1.7
    y = np.array([-4.0, -1.0, 0.3, 0.9, 5.0])
    m = 4000
    # Stratified "samples": the Gaussian quantiles at (i - 1/2)/m, a deterministic
    # ensemble whose empirical CDF converges to the Gaussian one.
    samples = mu + sigma * scipy.stats.norm.ppf((np.arange(m) + 0.5) / m)
    samples = np.random.default_rng(0).permutation(samples)  # order must not matter
    got = crps_samples(np.repeat(samples[:, None], len(y), axis=1), y)
    np.testing.assert_allclose(got, _gaussian_crps(mu, sigma, y), atol=2e-4)


@pytest.mark.parametrize("fair", [False, True])
def test_samples_match_brute_force(x64, fair):
    rng = np.random.default_rng(1)
    samples = rng.gamma(2.0, size=(3, 31, 4))  # (batch, m, time) with sample_axis=1
    y = rng.normal(size=(4,)) + 2.0  # broadcasts over batch
    got = crps_samples(samples, y, sample_axis=1, fair=fair)
    expected = _brute_force(np.moveaxis(samples, 1, 0), y, fair)
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_single_sample_is_absolute_error():
    assert float(crps_samples(np.array([2.5]), np.array(1.0))) == pytest.approx(1.5)


def test_quantiles_converge_to_crps(x64):
    mu, sigma = -0.5, 2.0
    y = np.array([-6.0, -0.5, 0.4, 3.0])
    exact = _gaussian_crps(mu, sigma, y)
    errors = []
    for k in (9, 99, 999):
        levels = (np.arange(k) + 0.5) / k
        q = mu + sigma * scipy.stats.norm.ppf(levels)[:, None] * np.ones_like(y)
        errors.append(np.max(np.abs(np.asarray(crps_quantiles(q, levels, y)) - exact)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3 * sigma
    assert errors[0] / errors[2] > 50  # roughly second order away from the tails


def test_weighted_quantile_loss_gluonts_form(x64):
    rng = np.random.default_rng(2)
    levels = np.arange(1, 10) / 10.0
    y = rng.normal(size=(2, 12)) + 3.0
    q = np.sort(rng.normal(size=(9, 2, 12)), axis=0) + 3.0  # (levels, series, time)
    wql = [2 * np.sum(np.maximum(a * (y - qa), (a - 1) * (y - qa))) / np.sum(np.abs(y))
           for a, qa in zip(levels, q)]
    assert float(weighted_quantile_loss(q, levels, y)) == pytest.approx(np.mean(wql),
                                                                       rel=1e-12)
    # the median alone gives the absolute error (the factor 2 normalisation)
    got = crps_quantiles(q[4:5], levels[4:5], y)
    np.testing.assert_allclose(got, np.abs(y - q[4]), rtol=1e-12)
    # quantile_axis: levels last
    got = crps_quantiles(np.moveaxis(q, 0, -1), levels, y[..., None][..., 0], quantile_axis=-1)
    np.testing.assert_allclose(got, crps_quantiles(q, levels, y), rtol=1e-12)


def test_errors():
    q = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"levels must lie strictly inside \(0, 1\)"):
        crps_quantiles(q, np.array([0.0, 0.5, 0.9]), np.zeros(4))
    with pytest.raises(ValueError, match="one level per quantile"):
        crps_quantiles(q, np.array([0.5, 0.9]), np.zeros(4))
    with pytest.raises(ValueError, match="does not broadcast"):
        crps_samples(q, np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        crps_samples(q[:1], np.zeros(4), fair=True)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        crps_samples(q, np.zeros(4), sample_axis=2)
