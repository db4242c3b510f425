"""Chamfer, exact EMD and Sinkhorn EMD vs numpy / scipy."""

import jax
import numpy as np
import pytest
import scipy.optimize

from diffax.metrics import chamfer_distance, earth_movers_distance, sinkhorn_emd


def _chamfer_numpy(a, b, squared=True):
    d = np.sum((a[:, None] - b[None]) ** 2, axis=-1)
    if not squared:
        d = np.sqrt(d)
    return d.min(1).mean() + d.min(0).mean()


def _emd_scipy(a, b):
    c = np.linalg.norm(a[:, None] - b[None], axis=-1)
    r, k = scipy.optimize.linear_sum_assignment(c)
    return c[r, k].mean()


def test_chamfer_matches_numpy(x64):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 30, 3)) + 5.0  # offset: checks the centred Gram expansion
    b = rng.normal(size=(4, 17, 3)) + 5.2
    for squared in (True, False):
        got = np.asarray(chamfer_distance(a, b, squared=squared))
        expected = [_chamfer_numpy(a[i], b[i], squared) for i in range(4)]
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert float(chamfer_distance(a[0], a[0])) < 1e-12  # Gram rounding only
    assert float(chamfer_distance(a[0], b[0])) == pytest.approx(_chamfer_numpy(a[0], b[0]))


def test_emd_exact_matches_scipy(x64):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 24, 3))
    b = rng.normal(size=(5, 24, 3)) * 1.5 + 0.5
    got = np.asarray(earth_movers_distance(a, b))
    np.testing.assert_allclose(got, [_emd_scipy(a[i], b[i]) for i in range(5)], rtol=1e-12)
    # a permuted copy is at distance 0; a translated copy at |shift|
    perm = rng.permutation(24)
    assert float(earth_movers_distance(a[0], a[0][perm])) == pytest.approx(0.0, abs=1e-12)
    shift = np.array([0.0, 3.0, 4.0])
    assert float(earth_movers_distance(a[0], a[0][perm] + shift)) == pytest.approx(5.0)
    # differentiable in the points (matching held fixed): d/da mean |a_i - b_pi(i)|
    grad = jax.grad(lambda x: earth_movers_distance(x, a[0] + shift))(a[0])
    np.testing.assert_allclose(grad, np.broadcast_to(-shift / 5.0 / 24, (24, 3)), atol=1e-12)


def test_sinkhorn_approaches_exact_emd(x64):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 32, 3))
    b = rng.normal(size=(2, 32, 3)) + 0.5
    exact = np.array([_emd_scipy(a[i], b[i]) for i in range(2)])
    errors = [np.max(np.abs(np.asarray(sinkhorn_emd(a, b, epsilon=eps, n_iters=400)) - exact))
              for eps in (0.3, 0.1, 0.03, 0.01)]
    assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:])), errors
    assert errors[-1] < 5e-3
    assert errors[0] > 0.05  # the entropic bias is real at large epsilon


def test_sinkhorn_unequal_sizes(x64):
    # b repeated twice is the same uniform measure, so the value must not change.
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(16, 2)), rng.normal(size=(16, 2)) + 1.0
    one = float(sinkhorn_emd(a, b, epsilon=0.01, n_iters=400))
    two = float(sinkhorn_emd(a, np.concatenate([b, b]), epsilon=0.01, n_iters=400))
    assert two == pytest.approx(one, rel=1e-6)
    assert one == pytest.approx(_emd_scipy(a, b), abs=5e-3)


def test_errors():
    a = np.zeros((4, 3))
    with pytest.raises(ValueError, match="equal-size sets, got 4 and 5"):
        earth_movers_distance(a, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="must share the batch and point dimensions"):
        chamfer_distance(a, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"both have shape \(n, d\) or both \(B, n, d\)"):
        chamfer_distance(a, np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="epsilon must be finite and > 0, got epsilon="):
        sinkhorn_emd(a, a, epsilon=0.0)
    with pytest.raises(ValueError, match=r"scaling must be finite and in \(0, 1\], got scaling="):
        sinkhorn_emd(a, a, scaling=1.5)
