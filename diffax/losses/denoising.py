"""Denoising score matching for every prediction kind and Gaussian process.

For data x0, t ~ p(t), eps ~ N(0, I) and x_t = alpha(t) x0 + sigma(t) eps, a model of
kind k (eps, x0, v, score, velocity; see ``diffax.predictions``) is regressed onto the
kind-k value of the pair (x0, eps),

    L = E_{x0, t, eps} [ lambda_k(t) * mean_dims (model(x_t, t) - target_k(x0, eps, x_t, t))^2 ],
    target_k = from_x0_eps(k, x0, eps, x_t, t),

(Vincent, 2011, "A Connection Between Score Matching and Denoising Autoencoders";
Ho et al., 2020; Song et al., 2021). Since target_k is linear in (x0, eps), its
conditional mean given x_t is the kind-k prediction of the posterior means, so for any
positive weight the minimiser is the exact MMSE predictor (what
``GaussianMixture.predict`` returns). The weight lambda_k is the chosen x0-space
weighting converted to kind k (``diffax.losses.weighting``) and p(t) is a named time
distribution (``diffax.losses.time_sampling``).

:func:`edm_loss` is the EDM training objective (Karras et al., 2022) as a special case.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax

from diffax import checks
from diffax.losses.base import (
    LossFn,
    ModelFn,
    check_process,
    compute_dtype,
    split_batch,
    split_options,
    weighted_regression,
)
from diffax.losses.time_sampling import TIME_SAMPLERS, make_time_sampler, time_sampling_defaults
from diffax.losses.weighting import WEIGHTINGS, make_weighting, weighting_defaults
from diffax.predictions import KINDS, from_x0_eps
from diffax.processes.base import GaussianProcess

Array = jax.Array


def dsm_objective(model_fn: ModelFn, process: GaussianProcess, kind: str, x0: Array,
                  cond: dict, t: Array, eps: Array, weight: Array, *,
                  where: str = "denoising loss",
                  extra_aux: Mapping[str, Array] | None = None) -> tuple[Array, dict]:
    """The weighted denoising regression at given ``(x0, t, eps)`` and per-example
    ``weight``: perturbs ``x_t = alpha x0 + sigma eps``, builds the kind-``kind`` target
    with :func:`diffax.predictions.from_x0_eps` and returns ``(loss, aux)``
    (see :func:`diffax.losses.base.weighted_regression`)."""
    dtype = x0.dtype
    x_t = process.perturb(x0, t, eps).astype(dtype)
    target = from_x0_eps(kind, x0, eps, x_t, t, process).astype(dtype)
    return weighted_regression(model_fn, x_t, t, cond, target, weight, where, extra_aux)


def denoising_loss(process: GaussianProcess, *, kind: str = "eps", weighting: str = "uniform",
                   time_sampling: str = "uniform", **options: Any) -> LossFn:
    """Denoising score matching for a model that predicts ``kind``.

    Args:
      process: any ``GaussianProcess`` (VP, sub-VP, VE, EDM, rectified flow, ...).
      kind: the model's prediction kind, one of ``diffax.predictions.KINDS``
        ("eps", "x0", "v", "score", "velocity").
      weighting: a name in ``WEIGHTINGS`` ("uniform", "snr", "min_snr", "likelihood",
        "edm"); defined in x0 space and converted exactly to ``kind`` space (see
        ``diffax.losses.weighting``). "uniform" is unit weight in ``kind`` space.
      time_sampling: a name in ``TIME_SAMPLERS`` ("uniform", "antithetic", "stratified",
        "lognormal", "uniform_log_snr", "logit_normal").
      **options: options of the weighting (``gamma`` for min_snr, ``sigma_data`` for
        edm) and of the time sampler (``t_min``, ``t_max``; ``p_mean``, ``p_std`` for
        lognormal; ``logit_mean``, ``logit_std`` for logit_normal).

    Returns:
      ``loss_fn(model_fn, batch, key) -> (loss, aux)``: loss is
      ``mean_b w(t_b) mean_dims (model_fn(x_t, t)_b - target_b)^2``; aux holds ``loss``
      and the per-example ``t``, ``weight``, ``mse`` (unweighted) and
      ``loss_per_example``. Computed in the dtype of ``batch["x"]`` (at least float32).

    Raises:
      ValueError: unknown kind, weighting, time sampling or option, or a bad option value.
    """
    return build_denoising_loss(process, kind, weighting, time_sampling, options,
                                where="denoising_loss")


def weighting_and_time_sampler(process: GaussianProcess, kind: str, weighting: str,
                               time_sampling: str, options: Mapping[str, Any], *,
                               where: str) -> tuple[Callable, Callable]:
    """``(weight_fn, sample_t)`` of a denoising regression: the process, ``kind``,
    ``weighting`` and ``time_sampling`` checked and ``options`` split between them (errors
    name ``where``)."""
    check_process(process, where)
    checks.choice(where, "prediction kind", kind, sorted(KINDS))
    checks.choice(where, "weighting", weighting, WEIGHTINGS)
    checks.choice(where, "time_sampling", time_sampling, TIME_SAMPLERS)
    w_opts, t_opts = split_options(
        where, options,
        {f"weighting={weighting!r}": weighting_defaults(weighting),
         f"time_sampling={time_sampling!r}": time_sampling_defaults(time_sampling)})
    try:
        return (make_weighting(weighting, process, kind, **w_opts),
                make_time_sampler(time_sampling, process, **t_opts))
    except ValueError as err:  # name the public entry point in the message
        raise ValueError(f"{where}: {err}") from None


def build_denoising_loss(process: GaussianProcess, kind: str, weighting: str,
                         time_sampling: str, options: Mapping[str, Any], *,
                         where: str) -> LossFn:
    """:func:`denoising_loss` with the caller's name ``where`` in error messages."""
    weight_fn, sample_t = weighting_and_time_sampler(process, kind, weighting, time_sampling,
                                                     options, where=where)

    def loss_fn(model_fn: ModelFn, batch: dict, key: Array) -> tuple[Array, dict]:
        x0, cond = split_batch(batch, where)
        dtype = compute_dtype(x0)
        x0 = x0.astype(dtype)
        k_t, k_eps = jax.random.split(key)
        t = sample_t(k_t, x0.shape[0], dtype)
        eps = jax.random.normal(k_eps, x0.shape, dtype)
        return dsm_objective(model_fn, process, kind, x0, cond, t, eps, weight_fn(t),
                             where=where)

    return loss_fn


def edm_loss(process: GaussianProcess, *, sigma_data: float = 0.5, p_mean: float = -1.2,
             p_std: float = 1.2) -> LossFn:
    """The EDM training loss (Karras et al., 2022, eq. 8 and Table 1):

        E_{s, x0, n} [ lambda(s) ||D(x0 + n; s) - x0||^2 ],  ln s ~ N(p_mean, p_std^2),
        lambda(s) = (s^2 + sigma_data^2) / (s sigma_data)^2,  n ~ N(0, s^2 I),

    for any Gaussian process with s = sigma/alpha (t from the log-SNR, clipped to the
    process's interval). ``model_fn`` must be the preconditioned denoiser (kind
    ``"x0"``), e.g. ``diffax.predictions.edm_precondition(net, process, sigma_data)``;
    then the raw network's regression target has unit weight.
    Equal to ``denoising_loss(process, kind="x0", weighting="edm",
    time_sampling="lognormal", sigma_data=..., p_mean=..., p_std=...)``.
    """
    return build_denoising_loss(
        process, "x0", "edm", "lognormal",
        {"sigma_data": sigma_data, "p_mean": p_mean, "p_std": p_std}, where="edm_loss")


__all__ = ["build_denoising_loss", "denoising_loss", "dsm_objective", "edm_loss"]
