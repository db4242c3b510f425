"""Guidance by the gradient of a loss of the denoised estimate (the likelihood-gradient
term of DPS and steered diffusion), as a ``model_fn`` wrapper for every sampler.

For a per-example loss L(x0, y) of the denoised estimate x0_hat(x_t, t) (a measurement
residual, an inverse model's energy), the gradient through the denoiser,

    g(x_t) = grad_{x_t} L(x0_hat(x_t, t)),

costs one model evaluation and one vector-Jacobian product. Since
p(y | x_t) ~ exp(-L(x0_hat(x_t))) up to its scale (Chung et al., 2023, "Diffusion
Posterior Sampling for General Noisy Inverse Problems", eq. 16), guidance replaces the
score by

    score(x_t) - w g(x_t),      w = weight(L, t)   (a number or one per example),

converted back to the model's prediction kind through :mod:`diffax.predictions`, so any
sampler runs it (DPS: w = scale / ||y - A x0_hat||; scales may be numbers or functions
of the time batch ``t``, see :func:`as_schedule`). The solvers
:func:`~diffax.inverse.dps` and :func:`~diffax.inverse.steered` apply the same gradient
as their papers do: a displacement after each DDIM/ancestral step.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from diffax import predictions
from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.samplers.base import ModelFn, x0_eps_predictor

Array = jax.Array
LossFn = Callable[[Array], Array]  # x0 (B, ...) -> per-example losses (B,)
GradFn = Callable[[Array, Array], tuple[Array, Array, Array, Array]]


def x0_loss_gradient(model_fn: ModelFn, prediction: str, process: GaussianProcess,
                     loss_fn: LossFn, cond: dict | None = None) -> GradFn:
    """``f(x, t) -> (g, x0_hat, eps_hat, losses)`` with g = grad_x sum_b L_b(x0_hat(x, t)),
    from one model evaluation (``t`` a scalar or one time per example)."""
    denoise = x0_eps_predictor(model_fn, prediction, process, cond)

    def f(x, t):
        def total(z):
            x0, eps = denoise(z, t)
            losses = loss_fn(x0)
            return jnp.sum(losses), (x0, eps, losses)

        g, (x0, eps, losses) = jax.grad(total, has_aux=True)(x)
        return g, x0, eps, losses

    return f


def as_schedule(scale: Any) -> Callable[[Array], Array]:
    """A guidance scale as a function of the time batch: callables are kept, numbers
    become constants."""
    return scale if callable(scale) else (lambda t: scale)


def loss_guidance(model_fn: ModelFn, process: GaussianProcess, loss_fn: LossFn, *,
                  prediction: str = "eps",
                  weight: Callable[[Array, Array], Array] | None = None) -> ModelFn:
    """``model_fn`` (same prediction kind) whose score is
    score - w grad_x sum_b L_b(x0_hat(x, t)), w = ``weight(losses, t)`` (a scalar or one
    weight per example; default 1)."""
    predictions.check_kind(prediction)

    def guided(x, t, **cond):
        g, x0, eps, losses = x0_loss_gradient(model_fn, prediction, process, loss_fn,
                                              cond)(x, t)
        w = 1.0 if weight is None else weight(losses, t)
        score = predictions.from_x0_eps("score", x0, eps, x, t, process)
        return predictions.convert(score - broadcast_to_x(w, x) * g, "score", prediction, x,
                                   t, process)

    return guided


def squared_residual(operator: Callable[[Array], Array], y: Array) -> LossFn:
    """L_b = ||y_b - A(x0_b)||^2 per example (A: any differentiable operator)."""
    def loss(x0):
        r = jnp.asarray(y, x0.dtype) - operator(x0)
        return jnp.sum(r.reshape(r.shape[0], -1) ** 2, axis=-1)

    return loss


__all__ = ["as_schedule", "loss_guidance", "squared_residual", "x0_loss_gradient"]
