"""SSIM and PSNR (diffax.metrics.ssim) against closed forms and an independent filter."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from diffax.metrics import psnr, ssim


def test_identical_images_score_one():
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1))
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-6)


def test_constant_images_closed_form():
    a, b, c1 = 0.3, 0.7, (0.01 * 1.0) ** 2
    x = np.full((1, 12, 12, 1), a)
    y = np.full((1, 12, 12, 1), b)
    want = (2 * a * b + c1) / (a * a + b * b + c1)  # the contrast-structure factor is 1
    # float32: E[x^2] - mu^2 cancels to ~1e-7 against C2 = 9e-4 (measured 1.2e-4 relative;
    # float64 agrees to 1e-12)
    assert float(ssim(x, y)[0]) == pytest.approx(want, rel=5e-4)


def test_shifted_image_against_scipy_local_means():
    # y = x + c: s_y = s_x and s_xy = s_x^2, so SSIM = mean (2 m (m + c) + C1) / (m^2 +
    # (m + c)^2 + C1) over windows, m the Gaussian local mean (computed here by scipy)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(20, 24))
    c, c1 = 0.2, 1e-4
    m = ndimage.gaussian_filter(x, 1.5, truncate=5 / 1.5, mode="constant")[5:-5, 5:-5]
    want = np.mean((2 * m * (m + c) + c1) / (m**2 + (m + c) ** 2 + c1))
    got = float(ssim(x[None, ..., None], (x + c)[None, ..., None])[0])
    assert got == pytest.approx(want, rel=5e-4)


def test_ssim_symmetric_and_falls_with_noise():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(1, 16, 16, 1))
    n = rng.normal(size=x.shape)
    s1, s2 = ssim(x, x + 0.05 * n), ssim(x, x + 0.2 * n)
    assert float(s2[0]) < float(s1[0]) < 1.0
    np.testing.assert_allclose(ssim(x + 0.05 * n, x), s1, rtol=1e-6)


def test_psnr_value():
    x = jnp.zeros((2, 4, 4))
    y = x.at[0].set(0.1)  # MSE 0.01 -> 20 dB at range 1
    np.testing.assert_allclose(psnr(y, x)[0], 20.0, rtol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="equal shape"):
        ssim(np.zeros((1, 16, 16, 1)), np.zeros((1, 16, 15, 1)))
    with pytest.raises(ValueError, match="smaller than the window"):
        ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)))
