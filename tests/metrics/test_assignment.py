"""JAX Hungarian method vs scipy.optimize.linear_sum_assignment (test-only scipy)."""

import numpy as np
import pytest
import scipy.optimize

from diffax.metrics import linear_sum_assignment


def _check_optimal(cost, cols):
    n = cost.shape[0]
    assert sorted(cols.tolist()) == list(range(n))  # a permutation
    r, c = scipy.optimize.linear_sum_assignment(cost)
    assert cost[np.arange(n), cols].sum() == pytest.approx(cost[r, c].sum(), rel=1e-12)


def test_random_costs_batched(x64):
    rng = np.random.default_rng(0)
    cost = rng.normal(size=(6, 23, 23)) ** 2 * 10.0 - 3.0  # negative entries too
    cols = np.asarray(linear_sum_assignment(cost))
    assert cols.shape == (6, 23)
    for b in range(6):
        _check_optimal(cost[b], cols[b])


def test_integer_costs_with_ties_and_tiny_sizes(x64):
    rng = np.random.default_rng(1)
    cost = rng.integers(0, 3, size=(8, 12, 12)).astype(np.float64)
    cols = np.asarray(linear_sum_assignment(cost))
    for b in range(8):
        _check_optimal(cost[b], cols[b])
    assert np.asarray(linear_sum_assignment(np.array([[4.0]]))).tolist() == [0]
    # a greedy row-by-row choice is wrong here; the optimum is the anti-diagonal
    assert np.asarray(linear_sum_assignment(np.array([[1.0, 2.0], [1.0, 10.0]]))).tolist() \
        == [1, 0]


def test_errors():
    with pytest.raises(ValueError, match=r"must be square .* got shape \(2, 3\)"):
        linear_sum_assignment(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square"):
        linear_sum_assignment(np.zeros(3))
