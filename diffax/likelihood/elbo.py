"""The variational bound (ELBO) of Gaussian diffusion models, continuous and discrete time.

For the hierarchical model z_{t_max} -> ... -> z_{t_0} -> x with the forward process
q(z_t | x) = N(alpha_t x, sigma_t^2 I) and log-SNR lambda_t = log(alpha_t^2 / sigma_t^2)
(Kingma et al., 2021, "Variational Diffusion Models", VDM; Ho et al., 2020, DDPM):

    log p(x) >= ELBO(x) = E_q[log p(x | z_{t_0})] - KL(q(z_{t_max} | x) || p(z_{t_max}))
                          - L_diffusion(x).

* **Discrete time** over a grid t_0 < t_1 < ... < t_N with the reverse kernel
  p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t, t)) (the posterior variance, DDPM's
  beta_tilde), every KL is a closed form (VDM eq. 13, valid for any Gaussian process):

      KL(q(z_s | z_t, x) || p(z_s | z_t)) = 1/2 (SNR_s - SNR_t) ||x - x_hat||^2
                                          = 1/2 (exp(lambda_s - lambda_t) - 1) ||eps - eps_hat||^2,

  and L_diffusion = sum_i E_eps[KL_i], with z_{t_i} = alpha x + sigma eps.
* **Continuous time** (N -> infinity, VDM eq. 17):

      L_diffusion = 1/2 int_{lambda_max}^{lambda_0} E_eps ||eps - eps_hat(z_lambda)||^2 d lambda,

  estimated with stratified (low-discrepancy) samples of lambda, uniform in log-SNR:
  the integrand is then O(1) everywhere (VDM's variance argument). ``time_sampling="t"``
  draws t uniformly instead, weighting by -d lambda/dt.

The decoder is Gaussian, p(x | z_{t_0}) = N(x; x_hat(z_{t_0}), sigma_0^2/alpha_0^2 I), so

    E_q[log p(x | z_{t_0})] = -d/2 (log 2 pi - lambda_0) - 1/2 E ||eps - eps_hat(z_{t_0})||^2,

a density for continuous (e.g. dequantized) data, comparable with the PF-ODE likelihood
and :func:`diffax.likelihood.bits_per_dim`. The prior is N(0, sigma(t_max)^2 I) (the
process's :meth:`prior_log_prob`; KL in closed form) or any ``prior_log_prob`` (Monte
Carlo KL). For the exact denoiser and the exact prior the continuous bound is tight up
to the decoder (the reverse SDE's path measure then equals the forward one); it grows
with N towards the continuous one (VDM, Sec. 4.1). Terms are per example, in nats.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diffax import checks
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.processes.vp import DiscreteDDPM
from diffax.samplers.base import ModelFn

Array = jax.Array
TIME_SAMPLING = ("log_snr", "t")


class ELBOResult(struct.PyTreeNode):
    """Per-example terms (shape (B,), nats): ``elbo = reconstruction - prior_kl -
    diffusion_loss`` is a lower bound on log p(x)."""

    elbo: Array
    reconstruction: Array
    prior_kl: Array
    diffusion_loss: Array


def _sum_sq(a: Array) -> Array:
    return jnp.sum(a.reshape(a.shape[0], -1) ** 2, axis=-1)


def _eps_error(eps_fn, process: GaussianProcess, x: Array, t: Array, eps: Array) -> Array:
    """||eps - eps_hat(z_t, t)||^2 per example, z_t = alpha_t x + sigma_t eps."""
    a = broadcast_to_x(process.alpha(t), x)
    s = broadcast_to_x(process.sigma(t), x)
    z = a * x + s * eps
    return _sum_sq(eps - eps_fn(z, t))


def _batched_model(model_fn: ModelFn, prediction: str, process: GaussianProcess,
                   cond: dict | None) -> Callable[[Array, Array], Array]:
    """eps_hat(z, t) with one time per example (t of shape (B,))."""
    from diffax import predictions

    cond = cond or {}

    def f(z, t):
        return predictions.convert(model_fn(z, t, **cond), prediction, "eps", z, t, process)

    return f


def _prior_kl(process: GaussianProcess, x: Array, t_max: float, key: Array, n_eps: int,
              prior_log_prob: Callable[[Array], Array] | None) -> Array:
    d = math.prod(x.shape[1:])
    a1, s1 = process.alpha(jnp.asarray(t_max, x.dtype)), process.sigma(jnp.asarray(t_max, x.dtype))
    if prior_log_prob is None:
        # KL(N(a x, s^2 I) || N(0, p^2 I)), p = sigma(t_max) (process.prior_log_prob).
        p2 = process.prior_std.astype(x.dtype) ** 2
        return 0.5 * (d * (s1**2 / p2 - 1.0 - jnp.log(s1**2 / p2)) + a1**2 * _sum_sq(x) / p2)
    # Monte Carlo: KL = -H(q) - E_q log p(z), H(q) = d/2 (1 + log 2 pi s^2).
    entropy = 0.5 * d * (1.0 + math.log(2.0 * math.pi) + 2.0 * jnp.log(s1))

    def one(k):
        z = a1 * x + s1 * jax.random.normal(k, x.shape, x.dtype)
        return prior_log_prob(z)

    cross = jnp.mean(jax.vmap(one)(jax.random.split(key, n_eps)), axis=0)
    return -entropy - cross


def _reconstruction(eps_fn, process: GaussianProcess, x: Array, t0: float, key: Array,
                    n_eps: int) -> Array:
    d = math.prod(x.shape[1:])
    t = jnp.full((x.shape[0],), t0, x.dtype)
    lam0 = process.log_snr(t)

    def one(k):
        return _eps_error(eps_fn, process, x, t, jax.random.normal(k, x.shape, x.dtype))

    err = jnp.mean(jax.vmap(one)(jax.random.split(key, n_eps)), axis=0)
    return -0.5 * d * (math.log(2.0 * math.pi) - lam0) - 0.5 * err


def continuous_elbo(model_fn: ModelFn, process: GaussianProcess, x: Array, key: Array, *,
                    prediction: str = "eps", cond: dict | None = None, n_time: int = 64,
                    n_eps: int = 1, time_sampling: str = "log_snr",
                    t_min: float | None = None, t_max: float | None = None,
                    prior_log_prob: Callable[[Array], Array] | None = None) -> ELBOResult:
    """Continuous-time VDM bound on log p(x) per example (nats), unbiased Monte Carlo.

    Args:
      model_fn, prediction, cond: the model and its prediction kind (any kind; converted
        to eps by :mod:`diffax.predictions`).
      x: data batch (B, ...), float (dequantize 8-bit images first).
      key: PRNG key for the time offsets and the noise.
      n_time: stratified time samples per example (one shared uniform offset per
        example, u_k = (k + u) / n_time), each with ``n_eps`` noise draws.
      time_sampling: ``"log_snr"`` (uniform in lambda, low variance) or ``"t"``.
      t_min, t_max: decoder and prior times (default: the process's).
      prior_log_prob: density of z_{t_max} (default N(0, sigma(t_max)^2 I), exact KL).
    """
    where = "continuous_elbo"
    x = checks.float_batch(where, "x", x, min_ndim=2)
    checks.choice(where, "time_sampling", time_sampling, tuple(TIME_SAMPLING))
    checks.positive_int(where, "n_time", n_time)
    checks.positive_int(where, "n_eps", n_eps)
    t0 = process.t_min if t_min is None else t_min
    t1 = process.t_max if t_max is None else t_max
    checks.interval(where, t0, t1, lo=process.t_min, hi=process.t_max)
    eps_fn = _batched_model(model_fn, prediction, process, cond)
    k_u, k_eps, k_rec, k_prior = jax.random.split(key, 4)
    b = x.shape[0]
    u = (jnp.arange(n_time, dtype=x.dtype)[:, None]
         + jax.random.uniform(k_u, (1, b), x.dtype)) / n_time  # (n_time, B)
    lam0 = process.log_snr(jnp.asarray(t0, x.dtype))
    lam1 = process.log_snr(jnp.asarray(t1, x.dtype))
    if time_sampling == "log_snr":
        t = process.t_from_log_snr(lam1 + u * (lam0 - lam1))
        weight = jnp.broadcast_to(lam0 - lam1, u.shape)
    else:  # the times in the data's dtype: NumPy/JAX float64 times would promote float32 data
        ta, tb = jnp.asarray(t0, x.dtype), jnp.asarray(t1, x.dtype)
        t = ta + u * (tb - ta)
        weight = -process.d_log_snr_dt(t) * (tb - ta)

    def one(args):
        ti, wi, k = args
        errs = jax.vmap(lambda kk: _eps_error(eps_fn, process, x, ti,
                                              jax.random.normal(kk, x.shape, x.dtype)))(
            jax.random.split(k, n_eps))
        return wi * jnp.mean(errs, axis=0)

    terms = jax.lax.map(one, (t, weight, jax.random.split(k_eps, n_time)))
    diffusion = 0.5 * jnp.mean(terms, axis=0)
    rec = _reconstruction(eps_fn, process, x, t0, k_rec, max(n_eps, 16))
    kl = _prior_kl(process, x, t1, k_prior, max(n_eps, 16), prior_log_prob)
    return ELBOResult(elbo=rec - kl - diffusion, reconstruction=rec, prior_kl=kl,
                      diffusion_loss=diffusion)


def ddpm_grid(process: DiscreteDDPM) -> np.ndarray:
    """The native grid of a discrete DDPM: t_n = n / N, n = 1..N (t_1 is the decoder
    time, DDPM's L_0 step)."""
    if not isinstance(process, DiscreteDDPM):
        raise ValueError(f"ddpm_grid: needs a DiscreteDDPM, got {type(process).__name__}; "
                         "pass timesteps explicitly for other processes.")
    return np.arange(1, process.n_steps + 1) / process.n_steps


def discrete_elbo(model_fn: ModelFn, process: GaussianProcess, x: Array, key: Array, *,
                  timesteps: Any = None, prediction: str = "eps", cond: dict | None = None,
                  n_eps: int = 1, n_terms: int | None = None,
                  prior_log_prob: Callable[[Array], Array] | None = None) -> ELBOResult:
    """Discrete-time bound on log p(x) over an increasing grid ``timesteps`` t_0 < ... < t_N.

    The decoder sits at t_0 and the prior at t_N; the N transitions t_i -> t_{i-1} each
    contribute 1/2 (exp(lambda_{i-1} - lambda_i) - 1) E||eps - eps_hat(z_{t_i})||^2.
    For a :class:`DiscreteDDPM` the default grid is its own N steps (:func:`ddpm_grid`),
    which is DDPM's L_0 + sum L_{t-1} + L_T with the posterior variance beta_tilde.

    ``n_terms``: evaluate every transition (None, exact sum) or an unbiased stratified
    subset of that many (N / n_terms times their sum), for large N.
    """
    where = "discrete_elbo"
    x = checks.float_batch(where, "x", x, min_ndim=2)
    checks.positive_int(where, "n_eps", n_eps)
    if timesteps is None:
        timesteps = ddpm_grid(process)
    ts = np.asarray(timesteps, dtype=np.float64)
    if ts.ndim != 1 or ts.shape[0] < 2 or not np.all(np.diff(ts) > 0):
        raise ValueError(f"{where}: timesteps must be a 1-D increasing grid t_0 < ... < t_N "
                         f"with N >= 1, got {ts!r}.")
    for name, t in (("timesteps[0]", ts[0]), ("timesteps[-1]", ts[-1])):
        process.validate_time(float(t), name)
    n = ts.shape[0] - 1
    if n_terms is not None:
        checks.positive_int(where, "n_terms", n_terms)
        if n_terms > n:
            raise ValueError(f"{where}: n_terms={n_terms} exceeds the {n} transitions of the "
                             "grid; pass n_terms=None for the exact sum.")
    eps_fn = _batched_model(model_fn, prediction, process, cond)
    tj = jnp.asarray(ts, x.dtype)
    lam = process.log_snr(tj)
    coef = 0.5 * jnp.expm1(lam[:-1] - lam[1:])  # (N,), transition i -> i-1 at t_i = ts[1:]
    k_sel, k_eps, k_rec, k_prior = jax.random.split(key, 4)
    b = x.shape[0]
    if n_terms is None:
        idx = jnp.broadcast_to(jnp.arange(n)[:, None], (n, b))
        scale = 1.0
    else:  # one index per stratum of N / n_terms transitions, per example
        edges = np.linspace(0, n, n_terms + 1)
        lo, width = jnp.asarray(edges[:-1])[:, None], jnp.asarray(np.diff(edges))[:, None]
        u = jax.random.uniform(k_sel, (n_terms, b))
        idx = jnp.clip(jnp.floor(lo + u * width).astype(jnp.int32), 0, n - 1)
        scale = jnp.asarray(np.diff(edges), x.dtype)[:, None]  # stratum sizes

    def one(args):
        i, k = args
        errs = jax.vmap(lambda kk: _eps_error(eps_fn, process, x, tj[1:][i],
                                              jax.random.normal(kk, x.shape, x.dtype)))(
            jax.random.split(k, n_eps))
        return coef[i] * jnp.mean(errs, axis=0)

    terms = jax.lax.map(one, (idx, jax.random.split(k_eps, idx.shape[0])))
    diffusion = jnp.sum(terms * scale, axis=0)
    rec = _reconstruction(eps_fn, process, x, float(ts[0]), k_rec, max(n_eps, 16))
    kl = _prior_kl(process, x, float(ts[-1]), k_prior, max(n_eps, 16), prior_log_prob)
    return ELBOResult(elbo=rec - kl - diffusion, reconstruction=rec, prior_kl=kl,
                      diffusion_loss=diffusion)


__all__ = ["ELBOResult", "continuous_elbo", "ddpm_grid", "discrete_elbo"]
