"""Inception Score against its closed-form extremes and an independent numpy/scipy
computation."""

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import entropy

from diffax.metrics import inception_score


def test_extremes_are_one_and_num_classes():
    k = 7
    confident = np.tile(np.eye(k) * 50.0, (4, 1))          # each class used equally
    mean, std = inception_score(confident, n_splits=2)
    np.testing.assert_allclose(mean, k, rtol=1e-5)
    assert std < 1e-4
    same = np.tile(np.random.default_rng(0).normal(size=(1, k)), (20, 1))
    np.testing.assert_allclose(inception_score(same, n_splits=2)[0], 1.0, atol=1e-5)
    # one class only: confident but no diversity
    collapsed = np.tile(np.eye(k)[:1] * 50.0, (20, 1))
    np.testing.assert_allclose(inception_score(collapsed, n_splits=2)[0], 1.0, atol=1e-5)


def test_matches_scipy_per_split():
    logits = np.random.default_rng(1).normal(size=(103, 12)) * 3
    p = softmax(logits[:100], axis=1)
    scores = []
    for part in np.split(p, 4):
        marginal = part.mean(axis=0)
        scores.append(np.exp(np.mean([entropy(row, marginal) for row in part])))
    mean, std = inception_score(logits, n_splits=4)
    np.testing.assert_allclose(mean, np.mean(scores), rtol=1e-5)
    np.testing.assert_allclose(std, np.std(scores), rtol=1e-4)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        inception_score(np.zeros(5))
    with pytest.raises(ValueError, match="cannot fill n_splits=10"):
        inception_score(np.zeros((5, 3)))
