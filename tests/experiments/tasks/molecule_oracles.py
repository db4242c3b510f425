"""Exact Gaussian molecules on EDM's zero-centre-of-mass subspace, shared by the molecule
likelihood tests (test_molecules_likelihood.py, test_molecules_discrete_likelihood.py):
per-molecule subspace bases, Gaussian data on them, the exact eps-model and density."""

import math

import jax.numpy as jnp
import numpy as np

N, F = 4, 2            # rows per molecule, feature channels
COUNTS = [1, 2, 3, 4]  # real atoms of the four test molecules
D = N * (3 + F)


def subspace_basis(n: int) -> np.ndarray:
    """(D, d_S) orthonormal columns spanning {positions of n atoms with zero sum} x {the
    features of the n real atoms}."""
    cols = []
    centred = np.eye(n) - 1.0 / n  # its column space: vectors with zero sum over atoms
    u, sv, _ = np.linalg.svd(centred)
    h = u[:, sv > 0.5]  # (n, n - 1)
    for j in range(h.shape[1]):
        for k in range(3):
            c = np.zeros((N, 3 + F))
            c[:n, k] = h[:, j]
            cols.append(c.ravel())
    for i in range(n):
        for f in range(F):
            c = np.zeros((N, 3 + F))
            c[i, 3 + f] = 1.0
            cols.append(c.ravel())
    return np.stack(cols, 1)


def gaussian_problem(seed=0):
    """Per molecule: Q (D, d), mean mu (d,), covariance C (d, d) on the subspace, padded to
    d_max with zero columns and an identity block; exact data x0 = Q (mu + L xi)."""
    rng = np.random.default_rng(seed)
    dims = [3 * (n - 1) + F * n for n in COUNTS]
    dmax = max(dims)
    Q = np.zeros((len(COUNTS), D, dmax))
    C = np.tile(np.eye(dmax), (len(COUNTS), 1, 1))
    mu = np.zeros((len(COUNTS), dmax))
    x0 = np.zeros((len(COUNTS), D))
    for b, (n, d) in enumerate(zip(COUNTS, dims)):
        Q[b, :, :d] = subspace_basis(n)
        a = rng.normal(size=(d, d)) * 0.4
        C[b, :d, :d] = a @ a.T + 0.2 * np.eye(d)
        mu[b, :d] = rng.normal(size=d)
        xi = rng.normal(size=d)
        x0[b] = Q[b, :, :d] @ (mu[b, :d] + np.linalg.cholesky(C[b, :d, :d]) @ xi)
    mask = (np.arange(N) < np.array(COUNTS)[:, None]).astype(np.float64)
    return Q, C, mu, x0.reshape(-1, N, 3 + F), mask, dims


def exact_eps_model(process, Q, C, mu):
    """The exact eps-prediction of x_t = alpha x0 + sigma eps, x0 ~ N(Q mu, Q C Q^T), on
    the subspace: sigma Q (alpha^2 C + sigma^2 I)^-1 Q^T (x - alpha Q mu)."""
    Q, C, mu = map(jnp.asarray, (Q, C, mu))

    def model(x, t, **cond):
        a, s = process.alpha(t)[:, None], process.sigma(t)[:, None]
        xf = x.reshape(x.shape[0], -1)
        r = jnp.einsum("bDd,bD->bd", Q, xf) - a * mu
        K = a[..., None] ** 2 * C + s[..., None] ** 2 * jnp.eye(C.shape[-1])
        eps = s * jnp.einsum("bDd,bd->bD", Q, jnp.linalg.solve(K, r[..., None])[..., 0])
        return eps.reshape(x.shape)

    return model


def exact_log_density(process, Q, C, mu, x0, dims, t):
    """log N_d(Q^T x0; alpha mu, alpha^2 C + sigma^2 I) at time t, per molecule."""
    a, s = float(process.alpha(t)), float(process.sigma(t))
    out = []
    for b, d in enumerate(dims):
        y = Q[b, :, :d].T @ x0[b].ravel() - a * mu[b, :d]
        K = a**2 * C[b, :d, :d] + s**2 * np.eye(d)
        out.append(-0.5 * y @ np.linalg.solve(K, y) - 0.5 * np.linalg.slogdet(K)[1]
                   - 0.5 * d * math.log(2 * math.pi))
    return np.array(out)
