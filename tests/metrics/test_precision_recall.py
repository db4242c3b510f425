"""Improved precision/recall (k-NN manifolds) vs brute-force numpy."""

import numpy as np
import pytest

from diffax.metrics import precision_recall


def _brute_force(real, fake, k):
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    precision = np.mean(np.any(d_fr <= radii(real)[None, :], axis=1))
    recall = np.mean(np.any(d_fr.T <= radii(fake)[None, :], axis=1))
    return precision, recall


def test_identical_and_disjoint_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    p, r = precision_recall(x, x.copy(), k=3, block_size=64)
    assert (float(p), float(r)) == (1.0, 1.0)
    p, r = precision_recall(x, x + 100.0, k=3, block_size=64)
    assert (float(p), float(r)) == (0.0, 0.0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force(x64, k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(230, 5))
    fake = 0.8 * rng.normal(size=(170, 5)) + 0.8  # partly overlapping
    # block_size divides neither set size: exercises the remainder blocks.
    p, r = precision_recall(real, fake, k=k, block_size=64)
    p_np, r_np = _brute_force(real, fake, k)
    assert 0.05 < p_np < 0.95 and 0.05 < r_np < 0.95  # a non-trivial case
    assert float(p) == pytest.approx(p_np, abs=1e-12)
    assert float(r) == pytest.approx(r_np, abs=1e-12)


def test_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="k=5 needs more than k points"):
        precision_recall(x, x, k=5)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(ValueError, match="same dimension"):
        precision_recall(x, np.zeros((5, 3)))
