"""PFGM++ kernel (diffax.processes.pfgmpp) against exact answers.

Oracles: the Beta-prime law of R^2 / r^2, the multivariate Student-t density,
quadrature of the normalised kernel, autodiff of the log-kernel and the
chi^2_N law of ||x - y||^2 / sigma^2 in the D -> infinity limit.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from diffax.processes import PFGMPP
from diffax.processes.pfgmpp import log_gamma_ratio

M = 40_000  # Monte Carlo sample size, shared so the samplers compile once per dtype


def radius_ratio(proc, key, y, sigma):
    """Samples of R^2 / r^2 = ||x - y||^2 / (sigma^2 D), one per example."""
    x = proc.sample_kernel(key, y, sigma)
    d2 = np.asarray(jnp.sum((x - y).reshape(x.shape[0], -1) ** 2, -1))
    r = np.broadcast_to(np.asarray(proc.r_from_sigma(sigma)), d2.shape)
    return d2 / r**2


# ---- constructor and shapes --------------------------------------------------------
@pytest.mark.parametrize("kwargs, bad", [
    (dict(D=0, data_dim=3), "D=0"),
    (dict(D=-2.0, data_dim=3), "D=-2.0"),
    (dict(D=float("nan"), data_dim=3), "D=nan"),
    (dict(D=float("inf"), data_dim=3), "D=inf"),
    (dict(D="128", data_dim=3), "D='128'"),
    (dict(D=True, data_dim=3), "D=True"),
    (dict(D=128, data_dim=0), "data_dim=0"),
    (dict(D=128, data_dim=-4), "data_dim=-4"),
    (dict(D=128, data_dim=2.5), "data_dim=2.5"),
    (dict(D=128, data_dim=True), "data_dim=True"),
    (dict(D=128, data_dim=3, t_min=1.0, t_max=0.5), "t_min=1.0"),
    (dict(D=128, data_dim=3, t_min=0.0), "t_min=0.0"),
])
def test_bad_constructor_arguments_raise(kwargs, bad):
    with pytest.raises(ValueError, match=bad.replace("(", r"\(")):
        PFGMPP(**kwargs)


def test_valid_constructor_and_alignment():
    proc = PFGMPP(D=128, data_dim=12)
    assert (proc.t_min, proc.t_max) == (0.002, 80.0)
    assert proc.r_max == pytest.approx(80.0 * math.sqrt(128))
    assert proc.r_min == pytest.approx(0.002 * math.sqrt(128))
    sig = jnp.array([0.01, 1.0, 50.0])
    np.testing.assert_allclose(proc.r_from_sigma(sig), sig * math.sqrt(128), rtol=1e-6)
    np.testing.assert_allclose(proc.sigma_from_r(proc.r_from_sigma(sig)), sig, rtol=1e-6)
    PFGMPP(D=2.5, data_dim=np.int64(3))  # real D, numpy integer N are fine


def test_bad_shapes_raise():
    proc = PFGMPP(D=8, data_dim=6)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="shape \\(4, 5\\).*data_dim=6"):
        proc.sample_kernel(key, jnp.zeros((4, 5)), 1.0)
    with pytest.raises(ValueError, match="sigma.*shape \\(3,\\)"):
        proc.sample_kernel(key, jnp.zeros((4, 2, 3)), jnp.ones(3))
    with pytest.raises(ValueError, match="leading batch axis"):
        PFGMPP(D=8, data_dim=1).log_kernel(jnp.zeros(()), 0.0, 1.0)
    with pytest.raises(ValueError, match="r must be a scalar or have shape \\(4,\\)"):
        proc.log_kernel(jnp.zeros((4, 6)), 0.0, jnp.ones((4, 1)))
    with pytest.raises(ValueError, match="data_dim=6"):
        proc.prior_sample(key, (4, 7))


# ---- normalising constant ----------------------------------------------------------
@pytest.mark.parametrize("D", [1.0, 2.5, 7.0, 300.0])
def test_log_kernel_is_multivariate_t(x64, D):
    n, r = 5, 1.7
    proc = PFGMPP(D=D, data_dim=n)
    rng = np.random.default_rng(0)
    y = rng.normal(size=(1, n))
    x = y + rng.normal(size=(20, n)) * np.linspace(0.1, 20, 20)[:, None]
    got = np.asarray(proc.log_kernel(x, y, r))
    ref = stats.multivariate_t(loc=y[0], shape=(r**2 / D) * np.eye(n), df=D).logpdf(x)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    # unnormalised = -(N+D)/2 log(||x-y||^2 + r^2), off by log C(N, D) + D log r
    un = np.asarray(proc.log_kernel(x, y, r, normalized=False))
    d2 = np.sum((x - y) ** 2, -1)
    np.testing.assert_allclose(un, -(n + D) / 2 * np.log(d2 + r**2), rtol=1e-12)
    log_c = special.gammaln((n + D) / 2) - special.gammaln(D / 2) - n / 2 * np.log(np.pi)
    np.testing.assert_allclose(got - un, log_c + D * np.log(r), rtol=0, atol=1e-9)


@pytest.mark.parametrize("D", [1.0, 3.5, 40.0])
def test_log_kernel_integrates_to_one_1d(x64, D):
    # x = y + r tan(theta), theta in (-pi/2, pi/2): a bounded integrand on a finite
    # interval, integrated by Gauss-Legendre.
    proc = PFGMPP(D=D, data_dim=1)
    y, r = 0.3, 2.0
    nodes, weights = np.polynomial.legendre.leggauss(400)
    theta = nodes * np.pi / 2
    x = y + r * np.tan(theta)
    dens = np.exp(np.asarray(proc.log_kernel(x[:, None], jnp.full((1, 1), y), r)))
    w = weights * np.pi / 2 * r / np.cos(theta) ** 2
    assert np.sum(w * dens) == pytest.approx(1.0, abs=1e-7)
    if D > 3:  # finite variance: E (x - y)^2 = r^2 / (D - 2)  (= r^2 N / (D - 2))
        assert np.sum(w * dens * (x - y) ** 2) == pytest.approx(r**2 / (D - 2), rel=1e-5)


@pytest.mark.parametrize("D", [1.0, 4.0])
def test_log_kernel_integrates_to_one_2d(x64, D):
    # 2-D points on a polar grid (rho = r tan(phi)); the kernel is evaluated on the
    # Cartesian points, the quadrature weights are rho d rho d alpha.
    proc = PFGMPP(D=D, data_dim=2)
    y, r = np.array([[0.5, -1.0]]), 0.7
    nodes, weights = np.polynomial.legendre.leggauss(400)
    phi = (nodes + 1) * np.pi / 4
    w_phi = weights * np.pi / 4
    rho = r * np.tan(phi)
    alpha = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    pts = y[0] + rho[:, None, None] * np.stack([np.cos(alpha), np.sin(alpha)], -1)[None]
    dens = np.exp(np.asarray(proc.log_kernel(pts.reshape(-1, 2), y, r))).reshape(rho.size, -1)
    total = np.sum(dens.mean(1) * 2 * np.pi * rho * r / np.cos(phi) ** 2 * w_phi)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_log_gamma_ratio_is_accurate():
    for a in [0.5, 3.0, 64.0, 1e3]:
        for h in [0.5, 1.5, 1536.0]:
            ref = special.gammaln(a + h) - special.gammaln(a)
            assert log_gamma_ratio(a, h) == pytest.approx(ref, rel=1e-12, abs=1e-10)
    for a in [1e4, 1e5]:  # Stirling branch, where gammaln differences still hold ~1e-10
        for h in [0.5, 3.5, 1536.0]:
            ref = special.gammaln(a + h) - special.gammaln(a)
            assert log_gamma_ratio(a, h) == pytest.approx(ref, rel=0, abs=2e-9)
    # Large a: h log a + O(h^2 / a)
    assert log_gamma_ratio(5e11, 2.0) == pytest.approx(2 * math.log(5e11) + 1 / 5e11, abs=1e-12)


# ---- score ----------------------------------------------------------------------------
def test_score_kernel_equals_grad_of_log_kernel(x64):
    proc = PFGMPP(D=6.5, data_dim=6)
    key1, key2 = jax.random.split(jax.random.key(1))
    y = jax.random.normal(key1, (3, 2, 3))
    x = y + 2.0 * jax.random.normal(key2, (3, 2, 3))
    r = jnp.array([0.3, 1.0, 7.0])
    grad = jax.grad(lambda x_: proc.log_kernel(x_, y, r).sum())(x)
    np.testing.assert_allclose(proc.score_kernel(x, y, r), grad, rtol=1e-12, atol=1e-14)
    # Gaussian limit of the score with r = sigma sqrt(D)
    big = PFGMPP(D=1e10, data_dim=6)
    sig = 0.8
    np.testing.assert_allclose(big.score_kernel(x, y, big.r_from_sigma(sig)),
                               -(x - y) / sig**2, rtol=1e-8)


# ---- sampling -------------------------------------------------------------------------
@pytest.mark.parametrize("n_shape, D", [((2, 3), 10.0), ((1,), 1.0), ((16,), 2.5)])
def test_radius_follows_beta_prime(x64, n_shape, D):
    n = math.prod(n_shape)
    proc = PFGMPP(D=D, data_dim=n)
    m = M
    y = jnp.broadcast_to(jnp.arange(n, dtype=jnp.float64).reshape(n_shape), (m,) + n_shape)
    sigma = jnp.where(jnp.arange(m) % 2 == 0, 0.05, 30.0)  # per-example noise levels
    ratio = radius_ratio(proc, jax.random.key(2), y, sigma)
    law = stats.betaprime(n / 2, D / 2)
    for part in (ratio[::2], ratio[1::2], ratio):  # each noise level and all together
        assert stats.kstest(part, law.cdf).pvalue > 1e-3
    # power: the swapped parameters (a classic mistake) are rejected
    if n != D:
        assert stats.kstest(ratio, stats.betaprime(D / 2, n / 2).cdf).pvalue < 1e-6
    if D > 4:  # finite variance: compare the mean with N / (D - 2)
        se = math.sqrt(law.var() / m)
        assert abs(ratio.mean() - n / (D - 2)) < 5 * se


def test_directions_are_isotropic(x64):
    n, m = 5, M
    proc = PFGMPP(D=3.0, data_dim=n)
    y = jnp.full((m, n), 2.0)
    x = proc.sample_kernel(jax.random.key(3), y, 1.5)
    z = np.asarray(x - y)
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    assert np.all(np.abs(u.mean(0)) < 5 * math.sqrt(1 / (n * m)))
    cov = u.T @ u / m
    assert np.all(np.abs(cov - np.eye(n) / n) < 5 * math.sqrt(3 / (n * (n + 2)) / m))
    # uniform on S^{N-1}: the squared projection on any unit vector is Beta(1/2, (N-1)/2)
    # (moments up to order 2 cannot tell the sphere from, e.g., a normalised cube)
    v = np.random.default_rng(3).normal(size=n)
    for w in (np.eye(n)[0], np.eye(n)[-1], v / np.linalg.norm(v)):
        assert stats.kstest((u @ w) ** 2, stats.beta(0.5, (n - 1) / 2).cdf).pvalue > 1e-3
    # radius and direction are independent: the radius does not correlate with u_1^2
    rad = np.log(np.linalg.norm(z, axis=1))
    assert abs(np.corrcoef(rad, u[:, 0] ** 2)[0, 1]) < 5 / math.sqrt(m)


def test_prior(x64):
    proc = PFGMPP(D=20.0, data_dim=12, t_max=10.0)
    m = M
    z = proc.prior_sample(jax.random.key(4), (m, 3, 4), jnp.float64)
    assert z.shape == (m, 3, 4) and z.dtype == jnp.float64
    ratio = np.sum(np.asarray(z).reshape(m, -1) ** 2, -1) / proc.r_max**2
    assert stats.kstest(ratio, stats.betaprime(6, 10).cdf).pvalue > 1e-3
    np.testing.assert_allclose(proc.prior_log_prob(z[:5]),
                               proc.log_kernel(z[:5], 0.0, proc.r_max), rtol=1e-12)


def test_jit_and_float32():
    proc = PFGMPP(D=128, data_dim=3 * 4 * 4)
    y = jnp.ones((8, 3, 4, 4))
    sample = jax.jit(lambda p, k, y_, s: p.sample_kernel(k, y_, s))
    x = sample(proc, jax.random.key(5), y, jnp.linspace(0.01, 80.0, 8))
    assert x.shape == y.shape and x.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(x)))
    lp = jax.jit(lambda p, x_: p.log_kernel(x_, y, p.r_max))(proc, x)
    assert lp.shape == (8,) and bool(jnp.all(jnp.isfinite(lp)))


# ---- D -> infinity -------------------------------------------------------------------
def test_large_D_limit_is_gaussian(x64):
    """With r = sigma sqrt(D), ||x - y||^2 -> sigma^2 chi^2_N as D grows."""
    n, sig, m = 4, 0.7, M
    chi_mean, chi_var = n * sig**2, 2 * n * sig**4
    y = jnp.zeros((m, n))
    exact_err, mc_err, ks_p = [], [], []
    for D in [10.0, 100.0, 1e4, 1e6]:
        proc = PFGMPP(D=D, data_dim=n)
        r2 = sig**2 * D
        law = stats.betaprime(n / 2, D / 2)
        mean, var = r2 * law.mean(), r2**2 * law.var()  # exact moments of ||x-y||^2
        exact_err.append((abs(mean - chi_mean) / chi_mean, abs(var - chi_var) / chi_var))
        d2 = radius_ratio(proc, jax.random.key(6), y, sig) * r2
        # samples agree with the exact finite-D moments (the sampler, not just the law)
        assert abs(d2.mean() - mean) < 5 * math.sqrt(var / m)
        if D >= 100:
            se_var = math.sqrt((np.mean((d2 - d2.mean()) ** 4) - d2.var() ** 2) / m)
            assert abs(d2.var() - var) < 5 * se_var
        mc_err.append((abs(d2.mean() - chi_mean) / chi_mean,
                       abs(d2.var() - chi_var) / chi_var))
        ks_p.append(stats.kstest(d2 / sig**2, stats.chi2(n).cdf).pvalue)
    exact_err, mc_err = np.array(exact_err), np.array(mc_err)
    # exact errors: mean 2/(D-2), variance O(1/D); strictly decreasing, tiny at D = 1e6
    assert np.all(np.diff(exact_err, axis=0) < 0)
    np.testing.assert_allclose(exact_err[:, 0], 2 / (np.array([10, 100, 1e4, 1e6]) - 2),
                               rtol=1e-6)
    assert exact_err[-1, 0] < 3e-6 and exact_err[-1, 1] < 2e-5
    # Monte Carlo: decreasing while above the sampling noise, within it at large D
    assert np.all(np.diff(mc_err[:3], axis=0) < 0)
    assert mc_err[-1, 0] < 5 * math.sqrt(2 / n / m) and mc_err[-1, 1] < 0.03
    assert ks_p[0] < 1e-10 and ks_p[3] > 1e-3


def test_large_D_log_kernel_tends_to_gaussian(x64):
    n, sig = 3, 1.3
    rng = np.random.default_rng(7)
    y = rng.normal(size=(1, n))
    x = y + sig * rng.normal(size=(50, n))
    gauss = stats.multivariate_normal(y[0], sig**2 * np.eye(n)).logpdf(x)
    errs = []
    for D in [10.0, 1e3, 1e5, 1e7, 1e12]:
        proc = PFGMPP(D=D, data_dim=n)
        errs.append(np.max(np.abs(np.asarray(proc.log_kernel(x, y, proc.r_from_sigma(sig)))
                                  - gauss)))
    assert np.all(np.diff(errs) < 0)
    assert errs[-1] < 1e-9
