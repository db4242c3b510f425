"""Forward operators: adjoints, pseudo-inverses, PiGDM's normal solves against dense
matrices, and the Radon transform of a disc against its analytic chord lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.inverse import (Blur, Downsample, Mask, Radon, RandomProjection, dense_matrix)


def ops():
    key = jax.random.PRNGKey(0)
    mask = (jax.random.uniform(key, (8, 8, 1)) > 0.4).astype(jnp.float64)
    return {
        "mask": (Mask(mask=mask), (8, 8, 1)),
        "downsample": (Downsample(factor=2), (8, 8, 1)),
        "blur": (Blur.gaussian(5, 1.0, rcond=1e-12), (8, 8, 1)),  # keeps |H| >= 1e-6
        "projection": (RandomProjection.create(key, 5, 12, dtype=jnp.float64), (12,)),
        "projection_orth": (RandomProjection.create(key, 5, 12, orthonormal=True,
                                                    dtype=jnp.float64), (12,)),
        "radon": (Radon.sparse_view(6), (8, 8, 1)),
    }


@pytest.mark.parametrize("name", sorted(ops()))
def test_transpose_is_the_adjoint(name, x64):
    op, shape = ops()[name]
    x = jax.random.normal(jax.random.PRNGKey(1), (3,) + shape)
    y = jax.random.normal(jax.random.PRNGKey(2), op(x).shape)
    lhs = jnp.sum(op(x) * y, axis=tuple(range(1, y.ndim)))
    rhs = jnp.sum(x * op.transpose(y, shape), axis=tuple(range(1, x.ndim)))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    A = np.asarray(dense_matrix(op, shape, jnp.float64))
    np.testing.assert_allclose(np.asarray(op(x)).reshape(3, -1), np.asarray(x).reshape(3, -1) @ A.T,
                               atol=1e-10)


@pytest.mark.parametrize("name", ["mask", "downsample", "blur", "projection", "projection_orth"])
def test_pinv_and_normal_solve_match_dense_linear_algebra(name, x64):
    op, shape = ops()[name]
    A = np.asarray(dense_matrix(op, shape, jnp.float64))
    x = jax.random.normal(jax.random.PRNGKey(3), (2,) + shape)
    y = op(x)
    # A A^+ A = A (Moore-Penrose), on a batch
    np.testing.assert_allclose(op(op.pinv(y, shape)), y, atol=1e-8)
    # minimum norm: A^+ y equals the dense pseudo-inverse
    np.testing.assert_allclose(np.asarray(op.pinv(y, shape)).reshape(2, -1),
                               np.asarray(y).reshape(2, -1) @ np.linalg.pinv(A, rcond=1e-9).T,
                               atol=1e-7)
    r2, sy2 = 0.3, 0.05
    v = jax.random.normal(jax.random.PRNGKey(4), y.shape)
    G = r2 * A @ A.T + sy2 * np.eye(A.shape[0])
    expect = np.linalg.solve(G, np.asarray(v).reshape(2, -1).T).T
    np.testing.assert_allclose(np.asarray(op.normal_solve(v, r2, sy2, shape)).reshape(2, -1),
                               expect, rtol=1e-7, atol=1e-8)
    if name == "projection_orth":
        np.testing.assert_allclose(A @ A.T, np.eye(5), atol=1e-12)


def test_generic_normal_solve_by_conjugate_gradients(x64):
    op, shape = ops()["radon"]
    A = np.asarray(dense_matrix(op, shape, jnp.float64))
    v = jax.random.normal(jax.random.PRNGKey(4), (2,) + op(jnp.zeros((1,) + shape)).shape[1:])
    G = 0.3 * A @ A.T + 0.5 * np.eye(A.shape[0])
    expect = np.linalg.solve(G, np.asarray(v).reshape(2, -1).T).T
    got = np.asarray(op.normal_solve(v, 0.3, 0.5, shape)).reshape(2, -1)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
    with pytest.raises(NotImplementedError, match="DPS"):
        op.pinv(v, shape)


def test_radon_of_a_disc_gives_chord_lengths():
    n, radius = 48, 15.0
    c = (n - 1) / 2
    r = np.arange(n) - c
    uu, vv = np.meshgrid(r, r, indexing="ij")
    disc = ((uu**2 + vv**2) <= radius**2).astype(np.float32)[None, :, :, None]
    sino = np.asarray(Radon.sparse_view(8)(jnp.asarray(disc)))[0]  # (8, n)
    chord = 2 * np.sqrt(np.maximum(radius**2 - r**2, 0.0))
    assert sino.shape == (8, n)
    for view in sino:  # every angle sees the same disc
        assert np.max(np.abs(view - chord)) < 2.0
        assert abs(view.sum() - np.pi * radius**2) / (np.pi * radius**2) < 0.02
    # an off-centre square is not rotation invariant: the views differ (negative control)
    sq = np.zeros((1, n, n, 1), np.float32)
    sq[0, 5:15, 30:44] = 1
    views = np.asarray(Radon.sparse_view(4)(jnp.asarray(sq)))[0]
    assert np.max(np.abs(views[0] - views[1])) > 3.0


def test_shape_errors():
    with pytest.raises(ValueError, match="divisible"):
        Downsample(factor=3)(jnp.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="square"):
        Radon.sparse_view(3)(jnp.zeros((1, 8, 6, 1)))
    with pytest.raises(ValueError, match="0 < m <= d"):
        RandomProjection.create(jax.random.PRNGKey(0), 5, 3)
