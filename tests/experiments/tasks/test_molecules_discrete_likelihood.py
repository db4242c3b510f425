"""EDM's discrete-feature likelihood of molecules (experiments/tasks/molecules_likelihood.py:
the decoder of atom types and charges, and the bound with positions as a density and
features as a probability mass) against scipy, the Gaussian tail and exact oracles."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import get_process
from molecule_oracles import COUNTS, D, F, N, exact_eps_model, subspace_basis


def test_discrete_feature_decoder_by_hand(x64):
    """EDM's decoder with scipy's normal CDF: 3 atom types and a charge, sigma_0 = 0.1 so
    that every bin has visible mass; the padding row's garbage adds nothing."""
    from scipy.stats import norm

    from experiments.tasks.molecules_likelihood import (DiscreteFeatures,
                                                        discrete_feature_log_mass)

    feats = DiscreteFeatures(num_one_hot=3, one_hot_scale=0.25, charge_scale=0.1)
    h_data = np.array([[[0, 1, 0, 6], [1, 0, 0, 1], [0, 0, 0, 0]]], float)  # C, H, padding
    h = h_data * np.array([0.25, 0.25, 0.25, 0.1])
    rng = np.random.default_rng(3)
    alpha0, sigma0 = 0.98, 0.1
    z0 = alpha0 * h + sigma0 * rng.normal(size=h.shape)
    z0[0, 2] = [5.0, -3.0, 7.0, 40.0]  # padding: ignored
    mask = np.array([[1.0, 1.0, 0.0]])
    want = 0.0
    for i in range(2):
        u, tau = z0[0, i, :3] / (alpha0 * 0.25), sigma0 / (alpha0 * 0.25)
        mass = norm.cdf((1.5 - u) / tau) - norm.cdf((0.5 - u) / tau)
        want += np.log(mass[h_data[0, i, :3].argmax()] / mass.sum())
        u, tau = z0[0, i, 3] / (alpha0 * 0.1), sigma0 / (alpha0 * 0.1)
        c = h_data[0, i, 3]
        want += np.log(norm.cdf((c + 0.5 - u) / tau) - norm.cdf((c - 0.5 - u) / tau))
    got = discrete_feature_log_mass(jnp.asarray(z0), jnp.asarray(h), jnp.asarray(mask),
                                    alpha0, sigma0, feats)
    np.testing.assert_allclose(np.asarray(got), [want], rtol=1e-10)
    assert -20 < want < -0.5  # a value that a swapped bin or scale would change
    # no charge channel: one-hot only, and the layout is checked
    only = DiscreteFeatures(num_one_hot=3, one_hot_scale=0.25)
    with pytest.raises(ValueError, match="4 feature channels"):
        discrete_feature_log_mass(jnp.asarray(z0), jnp.asarray(h), jnp.asarray(mask),
                                  alpha0, sigma0, only)


def test_discrete_feature_decoder_in_the_tails(x64):
    """At EDM's sigma_0 (vp_polynomial, 0.0035) a clean reading gives log p = 0 to
    rounding, and a reading 0.3 away from the charge's bin edge stays finite and equals
    the Gaussian tail's asymptotic series (a naive log(Phi - Phi) is -inf)."""
    from scipy.special import log_ndtr

    from experiments.tasks.molecules_likelihood import (DiscreteFeatures,
                                                        discrete_feature_log_mass)

    process = get_process("vp_polynomial")
    t0 = jnp.asarray(process.t_min)
    alpha0, sigma0 = float(process.alpha(t0)), float(process.sigma(t0))
    feats = DiscreteFeatures(num_one_hot=2, one_hot_scale=0.25, charge_scale=0.1)
    h = np.array([[[0.25, 0.0, 0.6]]])  # type 0, charge 6
    mask = np.ones((1, 1))
    clean = discrete_feature_log_mass(jnp.asarray(alpha0 * h), jnp.asarray(h),
                                      jnp.asarray(mask), alpha0, sigma0, feats)
    assert abs(float(clean[0])) < 1e-12
    far = alpha0 * h.copy()
    far[0, 0, 2] = alpha0 * 0.1 * 6.8  # reads 6.8: the bin [5.5, 6.5] is 0.3 / tau away
    got = float(discrete_feature_log_mass(jnp.asarray(far), jnp.asarray(h),
                                          jnp.asarray(mask), alpha0, sigma0, feats)[0])
    tau = sigma0 / (alpha0 * 0.1)
    x = 0.3 / tau
    series = -x**2 / 2 - np.log(x * np.sqrt(2 * np.pi)) + np.log1p(-1 / x**2 + 3 / x**4)
    assert np.isfinite(got) and got < -30
    np.testing.assert_allclose(got, series, rtol=1e-5)
    np.testing.assert_allclose(got, log_ndtr(-x), rtol=1e-12)


@pytest.mark.slow
def test_discrete_feature_bound_on_gaussian_positions_and_fixed_types(x64):
    """Positions Gaussian on the zero-CoM subspace, features a fixed one-hot and charge
    (a point mass): log p(x, h) = log N(positions) exactly. With the exact eps model the
    discrete-feature bound's mean over 16 copies is within 4 standard errors (+1e-3) of
    it; the Gaussian-feature bound is larger by the decoder's density of the point mass,
    F n (lambda_0 - log 2 pi) / 2 (here F n x 4.2 nats), as the VDM bound says."""
    from experiments.tasks.molecules_likelihood import (DiscreteFeatures,
                                                        subspace_elbo_discrete_features)

    process = get_process("vp_polynomial")
    rng = np.random.default_rng(1)
    feats = DiscreteFeatures(num_one_hot=1, one_hot_scale=0.25, charge_scale=0.1)
    dims = [3 * (n - 1) for n in COUNTS]
    dmax = max(dims)
    Q = np.zeros((len(COUNTS), D, dmax))
    C = np.tile(np.eye(dmax), (len(COUNTS), 1, 1))
    mu = np.zeros((len(COUNTS), dmax))
    x0 = np.zeros((len(COUNTS), N, 3 + F))
    for b, (n, d) in enumerate(zip(COUNTS, dims)):
        Q[b, :, :d] = subspace_basis(n)[:, :d]  # the position columns come first
        a = rng.normal(size=(d, d)) * 0.4
        C[b, :d, :d] = a @ a.T + 0.2 * np.eye(d)
        mu[b, :d] = rng.normal(size=d)
        y = mu[b, :d] + np.linalg.cholesky(C[b, :d, :d] + 1e-300) @ rng.normal(size=d) \
            if d else np.zeros(0)
        x0[b] = (Q[b, :, :d] @ y).reshape(N, 3 + F)
        x0[b, :n, 3] = 0.25          # one type
        x0[b, :n, 4] = 0.1 * (b + 1)  # charge b + 1
    mask = (np.arange(N) < np.array(COUNTS)[:, None]).astype(np.float64)
    h = x0[..., 3:]
    reps = 16
    rep = lambda a: np.concatenate([a] * reps)  # noqa: E731
    pos_model = exact_eps_model(process, rep(Q), rep(C), rep(mu))

    def model(x, t, node_mask):
        a, s = process.alpha(t)[:, None, None], process.sigma(t)[:, None, None]
        eps = pos_model(x, t)  # the positions' exact eps (no feature columns in Q)
        feat = (x[..., 3:] - a * rep(h)) / s * node_mask[..., None]
        return eps.at[..., 3:].set(feat)

    gauss, disc = subspace_elbo_discrete_features(
        model, process, "eps", jnp.asarray(rep(x0)), jnp.asarray(rep(mask)),
        jax.random.PRNGKey(0), feats, n_time=64)
    want = []
    for b, d in enumerate(dims):
        y = Q[b, :, :d].T @ x0[b].ravel() - mu[b, :d]
        want.append(-0.5 * y @ np.linalg.solve(C[b, :d, :d], y)
                    - 0.5 * np.linalg.slogdet(C[b, :d, :d])[1] - 0.5 * d * math.log(2 * math.pi)
                    if d else 0.0)
    want = np.array(want)
    est = np.asarray(disc.elbo).reshape(reps, -1)
    sem = est.std(0, ddof=1) / np.sqrt(reps)
    print("discrete-feature elbo error", est.mean(0) - want, "sem", sem)
    assert np.all(np.abs(est.mean(0) - want) < 4 * sem + 1e-3)
    assert np.all(np.asarray(disc.elbo) <= np.asarray(gauss.elbo))
    lam0 = float(process.log_snr(process.t_min))
    point_mass = 0.5 * F * np.array(COUNTS) * (lam0 - math.log(2 * math.pi))
    g = np.asarray(gauss.elbo).reshape(reps, -1)
    g_sem = g.std(0, ddof=1) / np.sqrt(reps)
    print("gaussian-feature elbo error", g.mean(0) - want - point_mass, "sem", g_sem)
    assert np.all(np.abs(g.mean(0) - want - point_mass) < 4 * g_sem + 1e-3)
    assert np.all(point_mass > 8)
