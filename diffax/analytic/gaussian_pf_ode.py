"""Closed-form probability-flow ODE for Gaussian data.

For data ``x0 ~ N(mu, Sigma)`` and a Gaussian process ``x_t = alpha_t x0 + sigma_t eps``
the marginal is ``p_t = N(alpha_t mu, C_t)`` with ``C_t = alpha_t^2 Sigma + sigma_t^2 I``,
the score is ``-C_t^{-1}(x - alpha_t mu)`` and the probability-flow ODE

    dx/dt = f_t x - 1/2 g_t^2 score(x, t)

is linear. With ``y = x - alpha_t mu`` and ``alpha' = f alpha`` it reads
``dy/dt = (f_t I + 1/2 g_t^2 C_t^{-1}) y``. All ``C_t`` share the eigenvectors ``U`` of
``Sigma = U diag(l) U^T``; on eigenvalue ``c_t = alpha_t^2 l + sigma_t^2`` we have
``dc/dt = 2 f c + g^2`` (because ``g^2 = d sigma^2/dt - 2 f sigma^2``), hence

    d/dt sqrt(c_t) = (f_t + g_t^2 / (2 c_t)) sqrt(c_t),

so ``sqrt(c_t)`` solves the scalar ODE and the flow map from time s to time t is

    x_t = alpha_t mu + C_t^{1/2} C_s^{-1/2} (x_s - alpha_s mu)
        = alpha_t mu + U diag(sqrt(c_t / c_s)) U^T (x_s - alpha_s mu).

(Wang & Vastola, "Diffusion Models Generate Images Like Painters: an Analytical
Theory of Outline First, Details Later", 2023; "The Hidden Linear Structure in
Score-Based Models and its Application", 2023.) It pushes ``N(alpha_s mu, C_s)``
exactly onto ``N(alpha_t mu, C_t)``, in either time direction, and is valid for every
:class:`~diffax.processes.GaussianProcess`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax.processes.base import GaussianProcess

Array = jax.Array


def _check_inputs(mean, cov, x_s, where: str):
    mean = jnp.asarray(mean)
    cov = jnp.asarray(cov)
    x_s = jnp.asarray(x_s)
    if mean.ndim != 1:
        raise ValueError(f"{where}: mean must have shape (d,), got shape {mean.shape}.")
    d = mean.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"{where}: cov must have shape (d, d) = ({d}, {d}) to match mean, "
                         f"got shape {cov.shape}.")
    if x_s.ndim < 1 or x_s.shape[-1] != d:
        raise ValueError(f"{where}: x_s must have shape (..., d) with d={d}, got shape "
                         f"{x_s.shape}.")
    return mean, cov, x_s


def _flow(mean, evals, evecs, process, x_s, s, t):
    a_s, sig_s = process.alpha(s), process.sigma(s)
    a_t, sig_t = process.alpha(t), process.sigma(t)
    c_s = a_s**2 * evals + sig_s**2
    c_t = a_t**2 * evals + sig_t**2
    ratio = jnp.sqrt(c_t / c_s)  # eigenvalues of C_t^{1/2} C_s^{-1/2}
    y = (x_s - a_s * mean) @ evecs  # coordinates in the eigenbasis of Sigma
    return a_t * mean + (y * ratio) @ evecs.T


def _prepare(mean, cov, x_s, times):
    dtype = jnp.result_type(mean, cov, x_s, *times, float)
    mean, cov, x_s = mean.astype(dtype), cov.astype(dtype), x_s.astype(dtype)
    evals, evecs = jnp.linalg.eigh(cov)  # symmetrises its input itself
    return mean, evals, evecs, x_s, [jnp.asarray(tt, dtype) for tt in times]


def gaussian_pf_ode_solution(mean: Any, cov: Any, process: GaussianProcess, x_s: Any,
                             s: Any, t: Any) -> Array:
    """Exact PF-ODE flow map from time ``s`` to time ``t`` for data ``N(mean, cov)``.

    ``mean`` (d,), ``cov`` (d, d) symmetric positive semi-definite, ``x_s`` (..., d),
    ``s`` and ``t`` scalars (either order: t < s integrates towards the data). Needs
    ``alpha_s^2 l + sigma_s^2 > 0`` for every eigenvalue l of ``cov`` (always true
    for sigma_s > 0 or cov positive definite). Returns ``x_t`` with the shape of ``x_s``.
    """
    where = "gaussian_pf_ode_solution"
    mean, cov, x_s = _check_inputs(mean, cov, x_s, where)
    if jnp.ndim(s) != 0 or jnp.ndim(t) != 0:
        raise ValueError(f"{where}: s and t must be scalars, got shapes {jnp.shape(s)} and "
                         f"{jnp.shape(t)}; use gaussian_pf_ode_trajectory for many times.")
    mean, evals, evecs, x_s, (s, t) = _prepare(mean, cov, x_s, (s, t))
    return _flow(mean, evals, evecs, process, x_s, s, t)


def gaussian_pf_ode_trajectory(mean: Any, cov: Any, process: GaussianProcess, x_s: Any,
                               ts: Any) -> Array:
    """Exact PF-ODE trajectory started from ``x_s`` at time ``ts[0]``, evaluated at every
    time in ``ts`` (shape (T,), any order). Returns shape ``(T,) + x_s.shape``; the first
    entry equals ``x_s``."""
    where = "gaussian_pf_ode_trajectory"
    mean, cov, x_s = _check_inputs(mean, cov, x_s, where)
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"{where}: ts must be a non-empty 1-D array of times, got shape "
                         f"{ts.shape}.")
    mean, evals, evecs, x_s, (ts,) = _prepare(mean, cov, x_s, (ts,))
    return jax.vmap(lambda t: _flow(mean, evals, evecs, process, x_s, ts[0], t))(ts)


__all__ = ["gaussian_pf_ode_solution", "gaussian_pf_ode_trajectory"]
