"""Filtered back-projection (diffax.inverse.mbir_fbp): the Ram-Lak kernel, the filter as
a linear convolution, the scale of the reconstruction and its quality from full views."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffax.data import phantoms
from diffax.inverse import Radon
from diffax.inverse.mbir_fbp import fbp, ramp_filter, ramp_kernel


def test_ramp_kernel_values():
    h = ramp_kernel(4)  # m = -3..3
    want = [-1 / (9 * np.pi**2), 0, -1 / np.pi**2, 0.25, -1 / np.pi**2, 0, -1 / (9 * np.pi**2)]
    np.testing.assert_allclose(h, want, atol=1e-15)
    # its DC gain tends to 0 (1/4 - 2 sum_odd 1/(pi m)^2 = 0 for the infinite filter)
    assert abs(ramp_kernel(4001).sum()) < 1e-4


def test_ramp_filter_is_the_linear_convolution():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(2, 3, 11)).astype(np.float32)
    h = ramp_kernel(11)
    want = np.stack([[np.convolve(row, h)[10:21] for row in b] for b in p])
    np.testing.assert_allclose(ramp_filter(jnp.asarray(p)), want, atol=1e-5)


def test_fbp_scale_on_a_disk():
    n = 48
    g = np.arange(n) - (n - 1) / 2
    disk = (g[:, None] ** 2 + g[None, :] ** 2 <= 12.0**2).astype(np.float32)
    x = jnp.asarray(disk)[None, ..., None]
    op = Radon.sparse_view(90)
    r = np.asarray(fbp(op(x), op))[0, ..., 0]
    inner = g[:, None] ** 2 + g[None, :] ** 2 <= 8.0**2
    outer = g[:, None] ** 2 + g[None, :] ** 2 >= 16.0**2
    # measured: interior mean within 0.03 of 1, background mean -0.04 (the DC deficit of
    # the ramp filter truncated to the detector length), against a disk of height 1
    assert r[inner].mean() == pytest.approx(1.0, abs=0.05)
    assert abs(r[outer].mean()) < 0.07


def test_fbp_of_full_view_sinogram_approximates_the_phantom():
    vol = jnp.asarray(phantoms.shepp_logan_3d(32)[15:17, ..., None])

    def psnr(k):
        op = Radon.sparse_view(k)
        r = np.clip(np.asarray(fbp(op(vol), op)), 0, 1)
        return 10 * np.log10(1 / np.mean((r - np.asarray(vol)) ** 2))

    full, sparse = psnr(64), psnr(8)
    # measured at 32x32: 19.9 dB from 64 views, 15.6 dB from 8 (edges of the thin skull
    # dominate the error of the pixel-sampled phantom)
    assert full > 19.0 and full > sparse + 3.0, (full, sparse)


def test_bad_input():
    op = Radon.sparse_view(4)
    with pytest.raises(ValueError, match="views"):
        fbp(jnp.zeros((1, 5, 8)), op)
    with pytest.raises(ValueError, match="Radon"):
        fbp(jnp.zeros((1, 4, 8)), object())
