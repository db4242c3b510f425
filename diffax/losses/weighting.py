"""Loss weightings lambda(t) of denoising score matching, in any prediction space.

Notation: x_t = alpha x0 + sigma eps, SNR(t) = alpha^2 / sigma^2, and a model that
predicts kind k (``diffax.predictions``) implies an estimate x0_hat of the clean data.

**One weighting, every parameterization.** At fixed (x_t, t) every prediction kind is
a linear, homogeneous function of (x0, eps), and a change of x0_hat forces
eps_hat = (x_t - alpha x0_hat) / sigma to change by -(alpha / sigma) times as much. The
error of a kind-k prediction is therefore a fixed multiple of the x0 error,

    pred_k - target_k = r_k(t) (x0_hat - x0),
    r_k(t) = from_x0_eps(k, x0=1, eps=-alpha/sigma)
           = 1 (x0),  -alpha/sigma (eps),  -(alpha^2 + sigma^2)/sigma (v),
             alpha/sigma^2 (score),  alpha' - sigma' alpha/sigma (velocity),

and the x0-space loss w(t) ||x0_hat - x0||^2 equals the kind-space loss
[w(t) / r_k(t)^2] ||pred_k - target_k||^2 exactly. Each weighting below is *defined*
by its x0-space weight w(t); :func:`make_weighting` converts it to the model's kind
space, so the objective (and its minimiser and gradients) does not depend on the
parameterization: e.g. ``"snr"`` with kind ``"x0"`` equals ``"uniform"`` with kind
``"eps"``. r_k is obtained from :func:`diffax.predictions.from_x0_eps`, never
re-derived.

Weightings (x0-space weight w(t)):

* ``"uniform"``: weight 1 *in the model's own kind space*, w(t) = r_k(t)^2. With kind
  eps this is the DDPM "simple" loss (Ho et al., 2020, "Denoising Diffusion
  Probabilistic Models", eq. 14), w = SNR; with kind x0 plain denoiser regression;
  with kind velocity conditional flow matching (Lipman et al., 2023).
* ``"snr"``: w(t) = SNR(t) = alpha^2/sigma^2, i.e. unit weight on the eps error
  (Kingma et al., 2021, "Variational Diffusion Models").
* ``"min_snr"``: w(t) = min(SNR(t), gamma), option ``gamma=5.0`` (Hang et al., 2023,
  "Efficient Diffusion Training via Min-SNR Weighting Strategy"): eps-space
  weight min(SNR, gamma)/SNR, v-space weight min(SNR, gamma)/(SNR + 1) for VP.
* ``"likelihood"``: lambda(t) = g(t)^2 on the score-space loss ||s_theta - grad log
  p||^2 (Song et al., 2021, "Maximum Likelihood Training of Score-Based Diffusion
  Models", Thm. 1), i.e. w(t) = g(t)^2 alpha^2 / sigma^4 and eps-space weight
  g(t)^2/sigma^2. With t ~ U[t_min, t_max] and data dimension D, the loss times
  D (t_max - t_min) / 2 is their denoising objective J_DSM(theta; g^2), which bounds
  the negative log-likelihood up to theta-independent terms.
* ``"edm"``: lambda(s) = (s^2 + sigma_data^2) / (s sigma_data)^2 on the x0 (denoiser)
  loss, option ``sigma_data=0.5`` (Karras et al., 2022, "Elucidating the Design Space
  of Diffusion-Based Generative Models", eq. 8 and Table 1), with s = sigma/alpha, the
  noise level of x_t/alpha (s = sigma = t for the EDM process). With EDM
  preconditioning this gives unit weight on the raw network's regression target.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import WeightFn
from diffax.predictions import check_kind, from_x0_eps
from diffax.processes.base import GaussianProcess
from diffax.processes.protocol import GAUSSIAN, family_of
from diffax.registry import Registry

Array = jax.Array


def kind_error_scale(kind: str, process: GaussianProcess, t: Array) -> Array:
    """r_k(t) with pred_k - target_k = r_k(t) (x0_hat - x0) at fixed (x_t, t); shape t.shape.

    Uses the linearity of :func:`diffax.predictions.from_x0_eps` in (x0, eps): the
    error direction (dx0, deps) = (1, -alpha/sigma) keeps x_t fixed.
    """
    check_kind(kind)
    t = jnp.asarray(t)
    alpha, sigma = process.alpha(t), process.sigma(t)
    one = jnp.ones_like(alpha)
    return from_x0_eps(kind, one, -alpha / sigma, one, t, process)


def snr(process: GaussianProcess, t: Array) -> Array:
    """SNR(t) = alpha(t)^2 / sigma(t)^2."""
    return (process.alpha(t) / process.sigma(t)) ** 2


def _snr_x0(process, t):
    return snr(process, t)


def _min_snr_x0(process, t, *, gamma):
    return jnp.minimum(snr(process, t), gamma)


def _likelihood_x0(process, t):
    # g^2 on the score loss; the score error is (alpha / sigma^2) times the x0 error.
    return process.diffusion_sq(t) * kind_error_scale("score", process, t) ** 2


def _edm_x0(process, t, *, sigma_data):
    s = process.sigma(t) / process.alpha(t)
    return (s**2 + sigma_data**2) / (s * sigma_data) ** 2


@dataclasses.dataclass(frozen=True)
class Weighting:
    """A named weighting: its x0-space weight ``x0_weight(process, t, **options)``
    (``None`` for unit weight in the model's own kind space) and option defaults."""

    x0_weight: Callable[..., Array] | None
    defaults: dict
    positive: tuple[str, ...] = ()  # options that must be > 0


# Every weighting is a function of alpha(t), sigma(t): the Gaussian family.
WEIGHTINGS: Registry[Weighting] = Registry("weighting")
WEIGHTINGS.add("uniform", Weighting(None, {}), family=GAUSSIAN)
WEIGHTINGS.add("snr", Weighting(_snr_x0, {}), family=GAUSSIAN)
WEIGHTINGS.add("min_snr", Weighting(_min_snr_x0, {"gamma": 5.0}, ("gamma",)), family=GAUSSIAN)
WEIGHTINGS.add("likelihood", Weighting(_likelihood_x0, {}), family=GAUSSIAN)
WEIGHTINGS.add("edm", Weighting(_edm_x0, {"sigma_data": 0.5}, ("sigma_data",)),
               family=GAUSSIAN)


def weighting_defaults(name: str, where: str = "weighting") -> dict:
    """The options (with defaults) that weighting ``name`` accepts."""
    checks.choice(where, "weighting", name, WEIGHTINGS)
    return dict(WEIGHTINGS[name].defaults)


def _checked_options(spec: Weighting, options: dict, where: str) -> dict:
    """``options`` over ``spec``'s defaults; unknown or non-positive values raise."""
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; valid options: "
                         f"{sorted(spec.defaults)}.")
    opts = {**spec.defaults, **options}
    for key in spec.positive:
        opts[key] = checks.positive(where, key, opts[key])
    return opts


def x0_weight(name: str, process: GaussianProcess, t: Array, **options: Any) -> Array:
    """The x0-space weight w(t) of weighting ``name`` (``"uniform"`` has none: its
    weight is 1 in the model's own kind space; use :func:`make_weighting`).

    The process family and the options are checked, and the options default, as in
    :func:`make_weighting` (e.g. ``gamma=5.0`` for ``"min_snr"``, ``sigma_data=0.5`` for
    ``"edm"``).
    """
    spec = WEIGHTINGS[checks.choice("x0_weight", "weighting", name, WEIGHTINGS)]
    if spec.x0_weight is None:
        raise ValueError("x0_weight: weighting 'uniform' is defined in the model's own kind "
                         "space, not in x0 space; use make_weighting(name, process, kind).")
    WEIGHTINGS.check_family(name, family_of(process), what=type(process).__name__)
    opts = _checked_options(spec, options, f"x0_weight: weighting {name!r}")
    return spec.x0_weight(process, jnp.asarray(t), **opts)


def make_weighting(name: str, process: GaussianProcess, kind: str, **options: Any) -> WeightFn:
    """``weight_fn(t)``: the per-example weight of weighting ``name`` on the squared
    error in ``kind`` space, w(t) / r_k(t)^2 (see the module docstring).

    Options are validated here (unknown or non-positive values raise ValueError).
    """
    where = f"weighting {name!r}"
    spec = WEIGHTINGS[checks.choice("make_weighting", "weighting", name, WEIGHTINGS)]
    WEIGHTINGS.check_family(name, family_of(process), what=type(process).__name__)
    check_kind(kind)
    opts = _checked_options(spec, options, where)

    if spec.x0_weight is None:
        def weight_fn(t: Array) -> Array:
            return jnp.ones_like(jnp.asarray(t, dtype=jnp.result_type(t, float)))
    elif kind == "x0":
        def weight_fn(t: Array) -> Array:
            return spec.x0_weight(process, jnp.asarray(t), **opts)
    else:
        def weight_fn(t: Array) -> Array:
            t = jnp.asarray(t)
            return spec.x0_weight(process, t, **opts) / kind_error_scale(kind, process, t) ** 2

    return weight_fn


__all__ = ["WEIGHTINGS", "Weighting", "kind_error_scale", "make_weighting", "snr",
           "weighting_defaults", "x0_weight"]
