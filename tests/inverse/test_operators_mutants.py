"""The forward operators of diffax/inverse/operators.py against NumPy transcriptions of
their definitions (test_operators.py checks adjoint identities and dense-matrix
consistency, which a change made to an operator's forward, adjoint and solves at once
keeps; these check each map on its own):

* Mask: y = m x; A^T = A^+ = diag(m); (r2 A A^T + sy2 I)^{-1} v = v / (r2 m + sy2), 0 where
  that is 0;
* Downsample: block means; A^T = repeat / s^2; A^+ = repeat; normal solve v / (r2 / s^2 + sy2);
* Blur: circular convolution y_ij = sum_ab k_ab x_{i-a+kh//2, j-b+kw//2} (non-symmetric
  kernel, H != W, two channels), the correlation as its adjoint, and the pseudo-inverse
  and normal solve as NumPy FFT divisions with the rcond cut;
* gaussian_kernel from exp(-r^2 / (2 std^2)), normalised;
* RandomProjection: the Gaussian / QR matrix from the same draw, y = P x.flatten(), the
  minimum-norm pinv and the dense normal solve;
* Radon: each view rotates about the centre (bilinear, zero outside) and sums over rows,
  by loops over pixels;
* the base class (adjoint by linear_transpose, normal solve by CG), Nonlinear and
  dense_matrix.
Float64: measured max error 2e-15 (1.3e-12 for CG); tolerances 1e-12 to 1e-15 relative
(1e-9 for the FFT solves, 1e-6 for CG's 1e-7 stopping rule)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse import (Blur, Downsample, LinearOperator, Mask, Nonlinear, Radon,
                            RandomProjection, dense_matrix, gaussian_kernel)

RNG = np.random.default_rng(31)
KERNEL = np.array([[0.1, 0.3, 0.2], [0.25, 0.05, 0.1]])
X4 = RNG.normal(size=(2, 4, 6, 2))


def test_mask_by_hand(x64):
    m = np.array([[1.0, 0.0], [1.0, 1.0]])
    x = RNG.normal(size=(3, 2, 2))
    for mask in (jnp.asarray(m), jnp.asarray(m, bool), jnp.asarray(m, jnp.int32)):
        op = Mask(mask=mask)
        np.testing.assert_array_equal(np.asarray(op(jnp.asarray(x))), x * m)
        np.testing.assert_array_equal(np.asarray(op.transpose(jnp.asarray(x), (2, 2))), x * m)
        np.testing.assert_array_equal(np.asarray(op.pinv(jnp.asarray(x), (2, 2))), x * m)
        assert op(jnp.asarray(x, jnp.float32)).dtype == jnp.float32
    op = Mask(mask=jnp.asarray(m))
    np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(x), 0.3, 0.2, (2, 2))),
                               x / (0.3 * m + 0.2), rtol=1e-14)
    # noiseless: unobserved entries (r2 m + sy2 = 0) give 0, observed ones v / r2
    np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(x), 0.3, 0.0, (2, 2))),
                               np.where(m > 0, x / 0.3, 0.0), rtol=1e-14)
    assert op.has_pinv
    # a float32 batch stays float32 through every map, whatever the mask's dtype
    for mask in (jnp.asarray(m), jnp.asarray(m, bool)):
        op, v = Mask(mask=mask), jnp.asarray(x, jnp.float32)
        assert op.transpose(v, (2, 2)).dtype == op.pinv(v, (2, 2)).dtype == jnp.float32
        assert op.normal_solve(v, 0.3, 0.2, (2, 2)).dtype == jnp.float32
    # differentiable where r2 m + sy2 = 0: zero gradient there, not NaN
    g = jax.grad(lambda v: jnp.sum(op.normal_solve(v, 0.3, 0.0, (2, 2))))(jnp.asarray(x))
    want = np.broadcast_to(np.where(m > 0, 1 / 0.3, 0.0), x.shape)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-14)


@pytest.mark.parametrize("s, shape", [(2, (2, 4, 6, 2)), (3, (1, 3, 6, 1))])
def test_downsample_by_hand(x64, s, shape):
    x = RNG.normal(size=shape)
    b, h, w, c = shape
    want = np.zeros((b, h // s, w // s, c))
    for i in range(h // s):
        for j in range(w // s):
            want[:, i, j] = x[:, i * s:(i + 1) * s, j * s:(j + 1) * s].mean(axis=(1, 2))
    op = Downsample(factor=s)
    np.testing.assert_allclose(np.asarray(op(jnp.asarray(x))), want, rtol=1e-13)
    up = np.repeat(np.repeat(want, s, axis=1), s, axis=2)
    np.testing.assert_allclose(np.asarray(op.transpose(jnp.asarray(want), shape[1:])),
                               up / s**2, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(op.pinv(jnp.asarray(want), shape[1:])), up, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(want), 0.3, 0.2, shape[1:])),
                               want / (0.3 / s**2 + 0.2), rtol=1e-13)


def test_downsample_default_and_message():
    assert Downsample().factor == 2
    with pytest.raises(ValueError) as e:
        Downsample(factor=2)(jnp.zeros((1, 4, 5, 1)))
    assert str(e.value) == "Downsample: image size (4, 5) is not divisible by factor 2."
    with pytest.raises(ValueError) as e:
        Downsample(factor=2)(jnp.zeros((1, 5, 4, 1)))
    assert str(e.value) == "Downsample: image size (5, 4) is not divisible by factor 2."


def test_gaussian_kernel_by_formula():
    for size, std in ((5, 1.2), (4, 0.7)):
        r = np.arange(size) - (size - 1) / 2
        k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * std**2))
        np.testing.assert_allclose(gaussian_kernel(size, std), k / k.sum(), rtol=1e-14)
    b = Blur.gaussian()
    np.testing.assert_allclose(np.asarray(b.kernel), gaussian_kernel(9, 1.5), rtol=1e-6)
    assert b.rcond == 1e-6 and Blur.gaussian(rcond=0.5).rcond == 0.5


def _conv(x, k, sign):
    """sign +1: y_ij = sum_ab k_ab x_{i-a+ch, j-b+cw} (circular); -1: the correlation."""
    kh, kw = k.shape
    ch, cw = kh // 2, kw // 2
    y = np.zeros_like(x)
    for a in range(kh):
        for b in range(kw):
            y += k[a, b] * np.roll(x, (sign * (a - ch), sign * (b - cw)), axis=(1, 2))
    return y


def _transfer(k, h, w):
    pad = np.zeros((h, w))
    pad[:k.shape[0], :k.shape[1]] = k
    return np.fft.fft2(np.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1)))


def _fft_apply(x, f):
    return np.real(np.fft.ifft2(f[None, :, :, None] * np.fft.fft2(x, axes=(1, 2)), axes=(1, 2)))


def test_blur_is_the_circular_convolution(x64):
    op = Blur(kernel=jnp.asarray(KERNEL))
    np.testing.assert_allclose(np.asarray(op(jnp.asarray(X4))), _conv(X4, KERNEL, 1),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(op.transpose(jnp.asarray(X4), X4.shape[1:])),
                               _conv(X4, KERNEL, -1), rtol=1e-12, atol=1e-14)
    assert op(jnp.asarray(X4, jnp.float32)).dtype == jnp.float32


@pytest.mark.parametrize("rcond", [0.05, 0.03])
def test_blur_pinv_and_normal_solve_with_the_cut(x64, rcond):
    """k = [1.2, 0.8] along W = 4 (not normalised, so the peak |H(0)|^2 = 4 matters):
    |H|^2 takes 4, 2.08, 0.16, so rcond 0.05 (cut 0.2) drops the Nyquist column and 0.03
    (cut 0.12) keeps it; the same for r2 |H|^2 + sy2 = 1.21, 0.634, 0.058 (cuts 0.0605,
    0.0363)."""
    k = np.array([[1.2, 0.8]])
    x = RNG.normal(size=(2, 3, 4, 1))
    tf = _transfer(k, 3, 4)
    p = np.abs(tf) ** 2
    keep = p > rcond * p.max()
    op = Blur(kernel=jnp.asarray(k), rcond=rcond)
    want = _fft_apply(x, np.where(keep, np.conj(tf) / np.where(keep, p, 1.0), 0.0))
    np.testing.assert_allclose(np.asarray(op.pinv(jnp.asarray(x), (3, 4, 1))), want, rtol=1e-9,
                               atol=1e-12)
    for r2, sy2 in ((0.3, 0.01), (1.0, 0.0)):
        d = r2 * p + sy2
        kd = d > rcond * d.max()
        want = _fft_apply(x, np.where(kd, 1.0 / np.where(kd, d, 1.0), 0.0))
        np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(x), r2, sy2, (3, 4, 1))),
                                   want, rtol=1e-9, atol=1e-12)


def test_random_projection_create(x64):
    key = jax.random.PRNGKey(3)
    g = np.asarray(jax.random.normal(key, (6, 3), jnp.float64))
    op = RandomProjection.create(key, 3, 6, dtype=jnp.float64)
    np.testing.assert_allclose(np.asarray(op.matrix), g.T / math.sqrt(6), rtol=1e-15)
    orth = RandomProjection.create(key, 3, 6, orthonormal=True, dtype=jnp.float64)
    np.testing.assert_allclose(np.asarray(orth.matrix), np.asarray(jnp.linalg.qr(g)[0]).T,
                               rtol=1e-13)
    assert RandomProjection.create(key, 6, 6).matrix.dtype == jnp.float32  # m = d allowed
    assert RandomProjection.create(key, 1, 6).matrix.shape == (1, 6)  # and m = 1
    for m in (0, 7):
        with pytest.raises(ValueError) as e:
            RandomProjection.create(key, m, 6)
        assert str(e.value) == f"RandomProjection.create: need 0 < m <= d, got m={m}, d=6."


def test_random_projection_maps_by_hand(x64):
    pm = RNG.normal(size=(4, 6))
    op = RandomProjection(matrix=jnp.asarray(pm))
    x = RNG.normal(size=(3, 2, 3))
    y = x.reshape(3, -1) @ pm.T
    np.testing.assert_allclose(np.asarray(op(jnp.asarray(x))), y, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(op.transpose(jnp.asarray(y), (2, 3))),
                               (y @ pm).reshape(3, 2, 3), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(op.pinv(jnp.asarray(y), (2, 3))),
                               (y @ np.linalg.pinv(pm).T).reshape(3, 2, 3), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(y), 0.3, 0.2, (2, 3))),
                               np.linalg.solve(0.3 * pm @ pm.T + 0.2 * np.eye(4), y.T).T,
                               rtol=1e-10)
    # float32 batches stay float32 with a float64 matrix
    x32, y32 = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    assert op(x32).dtype == op.transpose(y32, (2, 3)).dtype == jnp.float32
    assert op.pinv(y32, (2, 3)).dtype == op.normal_solve(y32, 0.3, 0.2, (2, 3)).dtype == jnp.float32


def test_radon_by_hand(x64):
    x = RNG.normal(size=(2, 6, 6, 1))
    angles = np.array([0.0, 0.4, 1.3, 2.9])
    run = jax.jit(lambda o, v: o(v))
    got = np.asarray(run(Radon(angles=jnp.asarray(angles)), jnp.asarray(x)))
    assert got.shape == (2, 4, 6)
    for b in range(2):
        np.testing.assert_allclose(got[b], H.radon(x[b, ..., 0], angles), rtol=1e-12,
                                   atol=1e-12)
    np.testing.assert_allclose(np.asarray(Radon.sparse_view(5).angles), np.arange(5) * np.pi / 5,
                               rtol=1e-15)
    assert Radon.sparse_view(3)(jnp.asarray(x, jnp.float32)).dtype == jnp.float32
    with pytest.raises(TypeError):  # Radon has no other field: a typo is refused
        Radon.sparse_view(3, angels=1.0)


def test_radon_message():
    for shape in ((1, 8, 6, 1), (1, 6, 6, 2)):
        with pytest.raises(ValueError) as e:
            Radon.sparse_view(3)(jnp.zeros(shape))
        assert str(e.value) == ("Radon: images must be square single-channel (B, N, N, 1), got "
                                f"{shape}.")


class _Stack(LinearOperator):
    """y = (2 x, x_0 + x_1) on (B, 2) events: a linear map with no closed forms."""

    def __call__(self, x):
        return jnp.concatenate([2.0 * x, x[:, :1] + x[:, 1:]], axis=1)


class _Diag(LinearOperator):
    """y = d * x on (B, n) events."""

    d: jax.Array

    def __call__(self, x):
        return self.d * x


def test_base_class_adjoint_cg_solve_and_no_pinv(x64):
    op = _Stack()
    a = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(np.asarray(op.transpose(jnp.asarray(y), (2,))), y @ a, rtol=1e-14)
    assert op.transpose(jnp.asarray(y, jnp.float32), (2,)).dtype == jnp.float32
    for r2, sy2 in ((0.3, 0.2), (2.0, 0.01)):
        want = np.linalg.solve(r2 * a @ a.T + sy2 * np.eye(3), y.T).T
        np.testing.assert_allclose(np.asarray(op.normal_solve(jnp.asarray(y), r2, sy2, (2,))),
                                   want, rtol=1e-6, atol=1e-9)
    assert not op.has_pinv
    # the CG settings (200 iterations, tol 1e-7) on a system that needs more: a diagonal
    # operator with 300 eigenvalues from 1 to 1e6
    diag = _Diag(d=jnp.asarray(np.geomspace(1.0, 1e3, 300)))
    v = jnp.asarray(RNG.normal(size=(1, 300)))
    matvec = lambda w: 1.0 * diag(diag.transpose(w, (300,))) + 0.0 * w  # noqa: E731
    want = jax.scipy.sparse.linalg.cg(matvec, v, maxiter=200, tol=1e-7)[0]
    np.testing.assert_array_equal(np.asarray(diag.normal_solve(v, 1.0, 0.0, (300,))),
                                  np.asarray(want))
    exact = np.asarray(v) / np.asarray(diag.d) ** 2
    assert np.max(np.abs(np.asarray(want) - exact)) > 1e-3  # 200 iterations are not enough
    # and on one that converges in fewer: the stopping rule (1e-7, not CG's default 1e-5)
    fast = _Diag(d=jnp.asarray(np.geomspace(1.0, 3.0, 300)))
    matvec = lambda w: 1.0 * fast(fast.transpose(w, (300,))) + 0.0 * w  # noqa: E731
    want = jax.scipy.sparse.linalg.cg(matvec, v, maxiter=200, tol=1e-7)[0]
    np.testing.assert_array_equal(np.asarray(fast.normal_solve(v, 1.0, 0.0, (300,))),
                                  np.asarray(want))
    exact = np.asarray(v) / np.asarray(fast.d) ** 2
    assert np.max(np.abs(np.asarray(want) - exact)) < 1e-6 * np.max(np.abs(exact))
    loose = jax.scipy.sparse.linalg.cg(matvec, v, maxiter=200, tol=1e-5)[0]
    assert not np.array_equal(np.asarray(loose), np.asarray(want))
    with pytest.raises(NotImplementedError) as e:
        op.pinv(jnp.asarray(y), (2,))
    assert str(e.value) == ("_Stack has no closed-form pseudo-inverse; use a method that only "
                            "needs the forward operator and its gradient (DPS, RED-diff).")


def test_nonlinear_and_dense_matrix(x64):
    nl = Nonlinear(fn=lambda v: jnp.tanh(v) * 3.0)
    x = jnp.asarray(RNG.normal(size=(2, 3)))
    np.testing.assert_array_equal(np.asarray(nl(x)), np.asarray(jnp.tanh(x) * 3.0))
    assert not nl.has_pinv
    pm = RNG.normal(size=(4, 6))
    op = RandomProjection(matrix=jnp.asarray(pm))
    d = dense_matrix(op, (2, 3), jnp.float64)
    assert d.shape == (4, 6) and d.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(d), pm, rtol=1e-15)
    assert dense_matrix(op, (6,)).dtype == jnp.float32
