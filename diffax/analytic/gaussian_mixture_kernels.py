"""The jitted computations behind :class:`diffax.analytic.GaussianMixture`: every exact
per-example quantity at ``(x, t)`` from one kernel, and exact sampling of x0 and x_t.

With ``Sigma_k = U_k diag(lam_k) U_k^T`` (one eigendecomposition per call) the marginal
of component k at time t has covariance ``C_k = alpha^2 Sigma_k + sigma^2 I =
U_k diag(alpha^2 lam_k + sigma^2) U_k^T``, so log-densities, responsibilities
``r_k(x) = w_k N(x; alpha mu_k, C_k) / p_t(x)``, the score
``-sum_k r_k C_k^{-1}(x - alpha mu_k)`` and the denoiser
``E[x0 | x_t = x] = sum_k r_k [mu_k + alpha Sigma_k C_k^{-1}(x - alpha mu_k)]`` cost
O(K d^2) per example (see :mod:`diffax.analytic.gaussian_mixture` for the model).
Every prediction kind of :mod:`diffax.predictions` follows from ``(E[x0|x_t],
E[eps|x_t])`` with :func:`diffax.predictions.from_x0_eps`.

The functions take the mixture as a pytree with fields ``weights`` (K,), ``means``
(K, d), ``covs`` (K, d, d) and properties ``dim``, ``dtype``; they do not import the
class (which imports them).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from diffax.predictions import KINDS, from_x0_eps
from diffax.processes.base import GaussianProcess, broadcast_to_x

Array = jax.Array


# ---- the (t, process) arguments --------------------------------------------------------------


def check_time_args(t: Any, process: GaussianProcess | None, where: str) -> None:
    """Python-level checks of the (t, process) pair, before anything is traced."""
    if process is None:
        if t is not None:
            raise ValueError(
                f"GaussianMixture.{where}: got t={t!r} but process=None; pass the "
                "GaussianProcess that defines alpha(t), sigma(t), or leave both t and "
                "process as None for the data distribution (t = 0)."
            )
        return
    if not isinstance(process, GaussianProcess):
        raise ValueError(
            f"GaussianMixture.{where}: process must be a diffax GaussianProcess, got "
            f"{type(process).__name__}."
        )
    if t is None:
        raise ValueError(f"GaussianMixture.{where}: process given but t=None; pass t.")


def float_time(t: Any) -> Array:
    """``t`` as an array of a floating dtype (integers become the default float)."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    return t


def time_coefs(t: Any, process: GaussianProcess | None, where: str):
    """``(alpha, sigma)`` at ``t``, or ``None`` for the data distribution."""
    check_time_args(t, process, where)
    if process is None:
        return None
    t = float_time(t)
    return process.alpha(t), process.sigma(t)


# ---- jitted evaluation -----------------------------------------------------------------------


def eigen(gm: Any, dtype) -> tuple[Array, Array]:
    """``Sigma_k = U_k diag(lam_k) U_k^T`` for every component: (K, d), (K, d, d).
    (``eigh`` symmetrises its input itself.)"""
    return jnp.linalg.eigh(gm.covs.astype(dtype))


def single_all(gm: Any, lam: Array, u: Array, x: Array, a: Array,
                s: Array) -> dict:
    """Every per-example quantity at one x (d,) with scalars alpha, sigma.

    With ``Sigma_k = U_k diag(lam_k) U_k^T`` the marginal covariance is
    ``C_k = U_k diag(alpha^2 lam_k + sigma^2) U_k^T``, so with ``z = U_k^T (x - alpha mu_k)``
    and ``c = alpha^2 lam_k + sigma^2``: Mahalanobis term ``sum z^2 / c``, log-determinant
    ``sum log c``, ``C_k^{-1}(x - alpha mu_k) = U_k (z / c)`` and
    ``Sigma_k C_k^{-1}(x - alpha mu_k) = U_k (lam_k z / c)``: O(K d^2) per example and
    no factorisation inside a sampler's loop.
    """
    d = gm.dim
    c = a**2 * lam + s**2  # (K, d)
    diff = x - a * gm.means.astype(x.dtype)  # (K, d)
    z = jnp.einsum("kij,ki->kj", u, diff)  # U_k^T diff
    zc = z / c
    maha = jnp.sum(z * zc, axis=-1)
    logdet = jnp.sum(jnp.log(c), axis=-1)
    log_comp = (jnp.log(gm.weights.astype(x.dtype))
                - 0.5 * (maha + logdet + d * math.log(2.0 * math.pi)))
    log_p = logsumexp(log_comp)
    resp = jnp.exp(log_comp - log_p)
    cinv_diff = jnp.einsum("kij,kj->ki", u, zc)  # C_k^{-1}(x - alpha mu_k)
    mixed = resp @ cinv_diff  # sum_k r_k C_k^{-1}(x - alpha mu_k)
    x0_k = gm.means.astype(x.dtype) + a * jnp.einsum("kij,kj->ki", u, lam * zc)
    return {
        "log_prob": log_p,
        "responsibilities": resp,
        "score": -mixed,
        "x0": resp @ x0_k,
        # E[eps | x] = -sigma score; equal to (x - alpha E[x0|x]) / sigma, without the
        # cancellation when sigma is small.
        "eps": s * mixed,
    }


@jax.jit
def evaluate(gm: Any, x: Array, t: Any,
              process: GaussianProcess | None) -> dict:
    """All exact quantities at every example of ``x`` (..., d), with one (alpha, sigma)
    for all examples (scalar t) or one per example (t of shape x.shape[:k]).

    One compiled function serves every method (unused outputs are dead code for XLA),
    so tests and eager callers compile once per process and shape. With a process the
    dict also holds every prediction kind under ``"pred_<kind>"``.
    """
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != gm.dim:
        raise ValueError(
            f"GaussianMixture: x must have shape (..., d) with d={gm.dim}, got shape "
            f"{x.shape}."
        )
    if process is None:
        dtype = jnp.result_type(x, gm.means, float)
        a, s = jnp.ones((), dtype), jnp.zeros((), dtype)
    else:
        t = float_time(t)
        dtype = jnp.result_type(x, gm.means, t, float)
        t = t.astype(dtype)
        a, s = process.alpha(t).astype(dtype), process.sigma(t).astype(dtype)
    x = x.astype(dtype)
    batch = x.shape[:-1]
    flat = x.reshape((-1, gm.dim))
    lam, u = eigen(gm, dtype)  # once per call, outside the per-example map
    fn = functools.partial(single_all, gm, lam, u)
    if a.ndim == 0:
        out = jax.vmap(fn, in_axes=(0, None, None))(flat, a, s)
    else:
        if a.ndim > len(batch) or batch[: a.ndim] != a.shape:
            raise ValueError(
                f"GaussianMixture: t of shape {a.shape} does not match the leading "
                f"dimensions of x with shape {x.shape}; pass a scalar t or one t per "
                "example (shape (B,) for x of shape (B, d))."
            )
        expand = (1,) * (len(batch) - a.ndim)
        a = jnp.broadcast_to(a.reshape(a.shape + expand), batch).reshape(-1)
        s = jnp.broadcast_to(s.reshape(s.shape + expand), batch).reshape(-1)
        out = jax.vmap(fn)(flat, a, s)
    out = jax.tree_util.tree_map(lambda o: o.reshape(batch + o.shape[1:]), out)
    if process is not None:
        for kind in KINDS:
            out["pred_" + kind] = from_x0_eps(kind, out["x0"], out["eps"], x, t, process)
    return out


@functools.partial(jax.jit, static_argnames=("n", "return_component"))
def sample(gm: Any, key: Array, n: int, return_component: bool):
    """``n`` exact draws of x0: a component ``k ~ Categorical(w)``, then
    ``mu_k + L_k z`` with ``Sigma_k = L_k L_k^T`` (Cholesky) and ``z ~ N(0, I)``."""
    k_idx, k_eps = jax.random.split(key)
    idx = jax.random.categorical(k_idx, jnp.log(gm.weights), shape=(n,))
    chol = jnp.linalg.cholesky(gm.covs)
    eps = jax.random.normal(k_eps, (n, gm.dim), gm.dtype)
    x = gm.means[idx] + jnp.einsum("nij,nj->ni", chol[idx], eps)
    return (x, idx) if return_component else x


@functools.partial(jax.jit, static_argnames=("n",))
def sample_marginal(gm: Any, key: Array, n: int, t: Any,
                     process: GaussianProcess) -> Array:
    """``n`` exact draws of ``x_t = alpha(t) x0 + sigma(t) eps`` with x0 from
    :func:`sample` and ``eps ~ N(0, I)``."""
    t = float_time(t)
    a, s = process.alpha(t), process.sigma(t)
    k0, k1 = jax.random.split(key)
    x0 = sample(gm, k0, n, False)
    dtype = jnp.result_type(x0, a, s)
    x0 = x0.astype(dtype)
    eps = jax.random.normal(k1, x0.shape, dtype)
    return broadcast_to_x(a.astype(dtype), x0) * x0 + broadcast_to_x(s.astype(dtype), x0) * eps
