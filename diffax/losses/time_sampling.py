"""Noise-level (time) distributions for training losses.

:func:`make_time_sampler` returns ``sample_t(key, batch_size, dtype) -> t`` of shape
``(batch_size,)`` with every t in ``[t_min, t_max]`` (default: the process's
truncation interval). Samplers:

* ``"uniform"``: t ~ U[t_min, t_max] (Song et al., 2021; Ho et al., 2020 in continuous
  time).
* ``"antithetic"``: the low-discrepancy sampler of Kingma et al. (2021), "Variational
  Diffusion Models": one u0 ~ U[0, 1) per batch and
  u_i = (u0 + i/B) mod 1, t_i = t_min + (t_max - t_min) u_i. Each u_i is marginally
  uniform and the batch has exactly one point in each bin [j/B, (j+1)/B), which
  lowers the variance of the batch-mean loss.
* ``"stratified"``: independent jitter in each bin, u_(i) = (i + U_i) / B,
  U_i ~ U[0, 1), assigned to the examples in a random order: also one point per bin
  and each t_i marginally uniform, with the offsets within bins independent.
  (Both samplers keep each example's t marginally uniform, so the loss stays unbiased
  even if the batch is ordered, e.g. by label or by device shard.)
* ``"lognormal"``: EDM's noise distribution (Karras et al., 2022, Table 1):
  ln(sigma/alpha) ~ N(p_mean, p_std^2), options ``p_mean=-1.2``, ``p_std=1.2``; the
  noise level is mapped to time through the log-SNR, lambda = -2 ln(sigma/alpha),
  t = process.t_from_log_snr(lambda), and clipped to [t_min, t_max].
* ``"uniform_log_snr"``: lambda ~ U[lambda(t_max), lambda(t_min)],
  t = process.t_from_log_snr(lambda) (clipped against round-off): uniform in log-SNR,
  which makes the noise schedule irrelevant to the time distribution (cf. the
  change of variables to log-SNR in Kingma et al., 2021, and Kingma & Gao, 2023,
  "Understanding Diffusion Objectives as the ELBO with Simple Data Augmentation").
* ``"logit_normal"``: Esser et al. (2024), "Scaling Rectified Flow Transformers for
  High-Resolution Image Synthesis", logit-normal sampling: u = sigmoid(n), n ~ N(logit_mean,
  logit_std^2), options ``logit_mean=0.0``, ``logit_std=1.0``, mapped affinely onto
  [t_min, t_max], t = t_min + (t_max - t_min) u (for a rectified flow with its default
  truncation this is their t up to the 1e-3 margins).

Every sampler works in the requested floating dtype and jits (the process may carry
traced hyper-parameters).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import TimeSampler
from diffax.processes.base import GaussianProcess
from diffax.processes.protocol import GAUSSIAN, family_of
from diffax.registry import Registry

Array = jax.Array


def _affine(u: Array, t_min: float, t_max: float) -> Array:
    """u in [0, 1] -> t in [t_min, t_max] (clipped against round-off)."""
    return jnp.clip(t_min + (t_max - t_min) * u, t_min, t_max)


def _clip(t: Array, t_min: float, t_max: float) -> Array:
    return jnp.clip(t, t_min, t_max)


def _uniform(key, n, dtype, process, t_min, t_max):
    return _affine(jax.random.uniform(key, (n,), dtype), t_min, t_max)


def _antithetic(key, n, dtype, process, t_min, t_max):
    u0 = jax.random.uniform(key, (), dtype)
    u = jnp.mod(u0 + jnp.arange(n, dtype=dtype) / n, 1.0)
    return _affine(u, t_min, t_max)


def _stratified(key, n, dtype, process, t_min, t_max):
    k_jitter, k_perm = jax.random.split(key)
    jitter = jax.random.uniform(k_jitter, (n,), dtype)
    # (i + U) / n < 1 in exact arithmetic; guard the top bin against round-up.
    u = jnp.minimum((jnp.arange(n, dtype=dtype) + jitter) / n, 1.0)
    # A random assignment of bins to examples makes every t_i marginally uniform.
    return _affine(jax.random.permutation(k_perm, u), t_min, t_max)


def _lognormal(key, n, dtype, process, t_min, t_max, *, p_mean, p_std):
    log_s = p_mean + p_std * jax.random.normal(key, (n,), dtype)
    t = process.t_from_log_snr(-2.0 * log_s).astype(dtype)
    return _clip(t, t_min, t_max)


def _uniform_log_snr(key, n, dtype, process, t_min, t_max):
    lam_lo = process.log_snr(jnp.asarray(t_max, dtype))
    lam_hi = process.log_snr(jnp.asarray(t_min, dtype))
    u = jax.random.uniform(key, (n,), dtype)
    lam = lam_lo + (lam_hi - lam_lo) * u
    return _clip(process.t_from_log_snr(lam).astype(dtype), t_min, t_max)


def _logit_normal(key, n, dtype, process, t_min, t_max, *, logit_mean, logit_std):
    u = jax.nn.sigmoid(logit_mean + logit_std * jax.random.normal(key, (n,), dtype))
    return _affine(u, t_min, t_max)


@dataclasses.dataclass(frozen=True)
class TimeSampling:
    """A named time distribution: ``fn(key, n, dtype, process, t_min, t_max, **opts)``,
    its option defaults, and which options must be > 0 (the others must be finite)."""

    fn: Callable[..., Array]
    defaults: dict
    positive: tuple[str, ...] = ()


# Samplers that use only [t_min, t_max] fit any process (no family); those that go
# through the log-SNR need a Gaussian one.
TIME_SAMPLERS: Registry[TimeSampling] = Registry("time sampler")
TIME_SAMPLERS.add("uniform", TimeSampling(_uniform, {}))
TIME_SAMPLERS.add("antithetic", TimeSampling(_antithetic, {}))
TIME_SAMPLERS.add("stratified", TimeSampling(_stratified, {}))
TIME_SAMPLERS.add("lognormal",
                  TimeSampling(_lognormal, {"p_mean": -1.2, "p_std": 1.2}, ("p_std",)),
                  family=GAUSSIAN)
TIME_SAMPLERS.add("uniform_log_snr", TimeSampling(_uniform_log_snr, {}), family=GAUSSIAN)
TIME_SAMPLERS.add("logit_normal",
                  TimeSampling(_logit_normal, {"logit_mean": 0.0, "logit_std": 1.0},
                               ("logit_std",)))

# Options every sampler accepts: the interval (default: the process's).
INTERVAL_DEFAULTS = {"t_min": None, "t_max": None}


def time_sampling_defaults(name: str, where: str = "time_sampling") -> dict:
    """The options (with defaults) that time sampler ``name`` accepts."""
    checks.choice(where, "time_sampling", name, TIME_SAMPLERS)
    return {**INTERVAL_DEFAULTS, **TIME_SAMPLERS[name].defaults}


def resolve_interval(process: GaussianProcess, t_min: Any, t_max: Any,
                     where: str) -> tuple[float, float]:
    """``(t_min, t_max)`` as floats (``None``: the process's), checked to satisfy
    process.t_min <= t_min < t_max <= process.t_max."""
    lo = process.t_min if t_min is None else checks.finite(where, "t_min", t_min)
    hi = process.t_max if t_max is None else checks.finite(where, "t_max", t_max)
    if not (process.t_min <= lo < hi <= process.t_max):
        raise ValueError(
            f"{where}: need process.t_min <= t_min < t_max <= process.t_max, got "
            f"t_min={lo}, t_max={hi} for {type(process).__name__} with interval "
            f"[{process.t_min}, {process.t_max}]."
        )
    return float(lo), float(hi)


def make_time_sampler(name: str, process: GaussianProcess, *, t_min: float | None = None,
                      t_max: float | None = None, **options: Any) -> TimeSampler:
    """``sample_t(key, batch_size, dtype=jnp.float32) -> t`` of shape ``(batch_size,)``
    for the named distribution (see the module docstring) on ``[t_min, t_max]``.

    Arguments are validated here: unknown names or options, non-positive scales and
    intervals outside the process's raise ValueError.
    """
    where = f"time_sampling {name!r}"
    spec = TIME_SAMPLERS[checks.choice("make_time_sampler", "time_sampling", name,
                                       TIME_SAMPLERS)]
    TIME_SAMPLERS.check_family(name, family_of(process), what=type(process).__name__)
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; valid options: "
                         f"{sorted({**INTERVAL_DEFAULTS, **spec.defaults})}.")
    opts = {**spec.defaults, **options}
    for key, value in opts.items():
        opts[key] = (checks.positive if key in spec.positive else checks.finite)(where, key,
                                                                                 value)
    lo, hi = resolve_interval(process, t_min, t_max, where)

    def sample_t(key: Array, batch_size: int, dtype: Any = jnp.float32) -> Array:
        checks.floating(where, "dtype", dtype)
        return spec.fn(key, int(batch_size), jnp.dtype(dtype), process, lo, hi, **opts)

    return sample_t


__all__ = ["TIME_SAMPLERS", "TimeSampling", "make_time_sampler", "resolve_interval",
           "time_sampling_defaults"]
