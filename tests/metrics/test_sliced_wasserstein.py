"""Sliced Wasserstein in 1-D equals the exact W_p of sorted samples."""

import jax
import numpy as np
import pytest

from diffax.metrics import sliced_wasserstein


def test_one_dimensional_is_exact_wasserstein(x64):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 1)), rng.exponential(size=(50, 1))
    # In 1-D every direction is +-1, so SW_p = W_p = (mean |x_(i) - y_(i)|^p)^(1/p).
    for p in (1.0, 2.0):
        expected = np.mean(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])) ** p) ** (1 / p)
        got = sliced_wasserstein(jax.random.key(0), x, y, n_projections=8, p=p)
        assert float(got) == pytest.approx(expected, rel=1e-12)


def test_shape_error():
    with pytest.raises(ValueError, match="must both have shape"):
        sliced_wasserstein(jax.random.key(0), np.zeros((3, 2)), np.zeros((4, 2)))
