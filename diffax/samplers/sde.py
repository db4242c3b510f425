"""Stochastic samplers of the reverse-time SDE: Euler-Maruyama, reverse diffusion,
ancestral (DDPM) sampling.

The forward process ``x_t = alpha_t x0 + sigma_t eps`` solves ``dx = f x dt + g dW``
(f = d log alpha/dt, g^2 = -sigma^2 d lambda/dt, lambda = log(alpha^2/sigma^2)); its
time reversal is (Anderson, 1982; Song et al., 2021, "Score-Based Generative Modeling
through Stochastic Differential Equations", eq. 6)

    dx = [f(t) x - g(t)^2 score(x, t)] dt + g(t) dW_bar.

One step from t = t_i to s = t_{i+1} < t of every sampler here is affine in the
state, one model prediction and a fresh normal draw z:

    x_s = a_i x_t + b_i pred(x_t, t) + c_i z.

Writing alpha_{t|s} = alpha_t / alpha_s and sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2
sigma_s^2 for the forward transition x_t | x_s ~ N(alpha_{t|s} x_s, sigma_{t|s}^2 I),
and h = lambda_s - lambda_t > 0 (so sigma_{t|s}^2 / sigma_t^2 = 1 - e^{-h}):

* ``euler_maruyama`` (pred = score; Song et al. 2021, ``EulerMaruyamaPredictor``):
  a = 1 + (s - t) f(t),  b = (t - s) g(t)^2,  c = g(t) sqrt(t - s).
* ``reverse_diffusion`` (pred = score; Song et al. 2021, eq. 46, the
  ``ReverseDiffusionPredictor``): the reverse of the discretised forward SDE
  x_t = x_s + F(x_s) + G z with F(x) = (alpha_{t|s} - 1) x, G = sigma_{t|s}:
  a = 2 - alpha_{t|s},  b = sigma_{t|s}^2,  c = sigma_{t|s}.
  For VP this is score_sde's beta_i form (alpha_{t|s} = sqrt(1 - beta_i),
  sigma_{t|s}^2 = beta_i), for VE its sigma_i^2 - sigma_{i-1}^2 form, here with the
  exact transition of the given time grid instead of beta(t)/N.
* ``ancestral`` (pred = x0; Ho et al., 2020, "Denoising Diffusion Probabilistic
  Models", eqs. 6-7, written for any Gaussian process): sample the Gaussian posterior
  q(x_s | x_t, x0) at x0 = x0_hat(x_t, t),

      mean = alpha_{t|s} sigma_s^2 / sigma_t^2 x_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x0
           = e^{-h/2} (sigma_s / sigma_t) x_t + alpha_s (1 - e^{-h}) x0,
      var  = sigma_{t|s}^2 sigma_s^2 / sigma_t^2 = sigma_s^2 (1 - e^{-h})   ("small",
             DDPM's beta_tilde), or sigma_{t|s}^2 = sigma_t^2 (1 - e^{-h})   ("large",
             DDPM's beta).

  With the "small" variance this is DDIM with eta = 1 (:mod:`.ddim`).

All three take one model evaluation per step: NFE = N. They are stochastic and need
``key``. With ``denoise=True`` (score_sde's ``noise_removal``) the last step adds no
noise, i.e. returns the mean of the final transition.
"""

from __future__ import annotations

import jax

from diffax.processes.base import GaussianProcess
from diffax import checks
from diffax.samplers import base
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps, require_key
from diffax.samplers.noisy_steps import run_noisy_steps
from diffax.samplers.registry import register
from diffax.samplers.reverse_sde import VARIANCES, predictor_coefficients

Array = jax.Array


def _sample_affine(name: str, model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                   timesteps: Array, prediction: str, key: Array | None,
                   return_trajectory: bool, cond: dict | None, denoise: bool,
                   variance: str = "small") -> SampleOutput:
    ts = check_timesteps(timesteps, process, name=name)
    checks.boolean(name, "denoise", denoise)
    key = require_key(key, name)
    target, a, b, c = predictor_coefficients(name, process, ts[:-1], ts[1:], variance)
    dtype = x_init.dtype
    a, b = a.astype(dtype), b.astype(dtype)
    pred = base.predictor(model_fn, prediction, process, target, cond)

    def update(x, t, a_i, b_i):
        return a_i * x + b_i * pred(x, t)

    return run_noisy_steps(update, x_init, (ts[:-1], a, b), noise=c.astype(dtype), key=key,
                           denoise=denoise, return_trajectory=return_trajectory)


@register("euler_maruyama", order=None, stochastic=True)
def euler_maruyama(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                   timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
                   return_trajectory: bool = False, cond: dict | None = None,
                   denoise: bool = True) -> SampleOutput:
    """Euler-Maruyama on the reverse SDE (stochastic; NFE = N):

        x_s = x_t + (s - t) [f(t) x_t - g(t)^2 score(x_t, t)] + g(t) sqrt(t - s) z.
    """
    return _sample_affine("euler_maruyama", model_fn, process, x_init, timesteps,
                          prediction, key, return_trajectory, cond, denoise)


@register("reverse_diffusion", order=None, stochastic=True)
def reverse_diffusion(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                      timesteps: Array, *, prediction: str = "eps",
                      key: Array | None = None, return_trajectory: bool = False,
                      cond: dict | None = None, denoise: bool = True) -> SampleOutput:
    """score_sde's reverse-diffusion predictor (stochastic; NFE = N):

        x_s = (2 - alpha_{t|s}) x_t + sigma_{t|s}^2 score(x_t, t) + sigma_{t|s} z.
    """
    return _sample_affine("reverse_diffusion", model_fn, process, x_init, timesteps,
                          prediction, key, return_trajectory, cond, denoise)


@register("ancestral", order=None, stochastic=True)
def ancestral(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
              timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
              return_trajectory: bool = False, cond: dict | None = None,
              denoise: bool = True, variance: str = "small") -> SampleOutput:
    """Ancestral sampling from the posterior q(x_s | x_t, x0_hat) (stochastic; NFE = N):

        x_s = e^{-h/2} (sigma_s/sigma_t) x_t + alpha_s (1 - e^{-h}) x0_hat + std z,

    std = sigma_s sqrt(1 - e^{-h}) (``variance="small"``) or sigma_t sqrt(1 - e^{-h})
    (``"large"``), h = lambda_s - lambda_t.
    """
    checks.choice("ancestral", "variance", variance, VARIANCES)
    return _sample_affine("ancestral", model_fn, process, x_init, timesteps, prediction,
                          key, return_trajectory, cond, denoise, variance)
