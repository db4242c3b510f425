"""Filtered back-projection (diffax/inverse/mbir_fbp.py) against NumPy: the ramp filter as
np.convolve with the Ram-Lak kernel cropped to the detector, for detector lengths where
the FFT length 2^ceil(log2(2N - 1)) is tight (N = 9: 32, N = 16: 32, N = 2: 4, N = 1: 1),
and f = (pi / K) A^T (h * p) with A the Radon matrix built pixel by pixel
(inverse_by_hand). Float64: measured max error 6e-16, tolerance 1e-12."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import Radon
from diffax.inverse.mbir_fbp import fbp, ramp_filter, ramp_kernel

RNG = np.random.default_rng(41)


def kernel(n):
    m = np.arange(-(n - 1), n)
    return np.where(m == 0, 0.25, np.where(m % 2 != 0, -1.0 / (np.pi * np.where(m == 0, 1, m)) ** 2,
                                           0.0))


@pytest.mark.parametrize("n", [1, 2, 9, 16])
def test_ramp_kernel_and_filter_by_hand(x64, n):
    np.testing.assert_allclose(ramp_kernel(n), kernel(n), rtol=1e-15, atol=0)
    p = RNG.normal(size=(2, 3, n))
    want = np.stack([[np.convolve(row, kernel(n))[n - 1:2 * n - 1] for row in b] for b in p])
    np.testing.assert_allclose(np.asarray(ramp_filter(jnp.asarray(p))), want, rtol=1e-12,
                               atol=1e-13)
    assert ramp_filter(jnp.asarray(p, jnp.float32)).dtype == jnp.float32


def test_fbp_by_hand(x64):
    n, k = 6, 3
    op = Radon.sparse_view(k)
    angles = np.arange(k) * np.pi / k
    a = np.stack([H.radon(e.reshape(n, n), angles).ravel() for e in np.eye(n * n)], axis=1)
    sino = RNG.normal(size=(2, k, n))
    q = np.stack([[np.convolve(row, kernel(n))[n - 1:2 * n - 1] for row in b] for b in sino])
    want = (math.pi / k) * (q.reshape(2, -1) @ a).reshape(2, n, n, 1)
    run = jax.jit(lambda s, o: fbp(s, o))  # a fresh function: no trace kept from an earlier call
    np.testing.assert_allclose(np.asarray(run(jnp.asarray(sino), op)), want, rtol=1e-11,
                               atol=1e-12)


def test_fbp_messages_in_full():
    op = Radon.sparse_view(4)
    for shape in ((1, 5, 8), (4, 8)):
        with pytest.raises(ValueError) as e:
            fbp(jnp.zeros(shape), op)
        assert str(e.value) == (f"fbp: sinogram must have shape (B, 4, N) for 4 views, got "
                                f"{shape}.")
    with pytest.raises(ValueError) as e:
        fbp(jnp.zeros((1, 4, 8)), lambda x: x)
    assert str(e.value) == "fbp: needs a Radon operator, got function."
