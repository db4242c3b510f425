"""DPM-Solver++ (data prediction) and SDE-DPM-Solver++(2M).

Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of
Diffusion Probabilistic Models" (arXiv:2211.01095). In lambda = log(alpha/sigma) time,
h = lambda_t - lambda_s, with the data prediction x0_s = x0_theta(x_s, s):

* DPM-Solver++(1) (= DDIM):  x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) x0_s.
* DPM-Solver++(2S) (Algorithm 1, r1 = 1/2): s1 = t(lambda_s + r1 h),
      u   = (sigma_s1/sigma_s) x_s - alpha_s1 (e^{-r1 h} - 1) x0_s,
      x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1)
            [(1 - 1/(2 r1)) x0_s + 1/(2 r1) x0(u, s1)].
  (3S: the data-prediction DPM-Solver-3, stages at r1 = 1/3, r2 = 2/3.)
  ``method="singlestep"`` is DPM-Solver-fast (Lu et al., 2022a, Sec. 3.4): on a grid of
  N + 1 evaluation times, steps of mixed orders whose evaluations sum to N (see
  :mod:`diffax.samplers.dpm_solver`); ``"singlestep_fixed"`` uses ``order`` everywhere.
* DPM-Solver++(2M) (Algorithm 2), r = h_{i-1}/h_i:
      x_{i+1} = (sigma_{i+1}/sigma_i) x_i - alpha_{i+1} (e^{-h_i} - 1)
                [(1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}].
* DPM-Solver++(3M): third-order multistep with divided differences (see
  :func:`diffax.samplers.exponential_integrators.multistep_weights`; its second
  difference carries the Taylor weight, twice that of the reference implementation,
  whose 3M measures second order).
* SDE-DPM-Solver++(2M) (the authors' exponential integrator of the reverse-time SDE
  with data prediction, introduced with their implementation, diffusers PR #3344,
  2023; ``eta`` as in k-diffusion's ``sample_dpmpp_2m_sde``):
      x_{i+1} = (sigma_{i+1}/sigma_i) e^{-eta h} x_i + alpha_{i+1} (1 - e^{-(1+eta) h})
                [(1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}]
                + sigma_{i+1} sqrt(1 - e^{-2 eta h}) z_i,     z_i ~ N(0, I),
  with eta = 1 the reverse-time SDE (eta = 0 recovers DPM-Solver++(2M)).

``thresholding=True`` applies dynamic thresholding (Saharia et al., 2022, "Imagen";
DPM-Solver++ Sec. 4) to every data prediction: s = max(quantile_p(|x0|), max_val) per
example, x0 <- clip(x0, -s, s) * max_val / s. For max_val = 1 (data in [-1, 1]) this is
exactly the papers' clip(x0, -s, s)/s; for other max_val the data range
[-max_val, max_val] is kept.

Multistep methods take ``lower_order_final`` (default True): with fewer than 10 steps
the last steps use orders min(order, N - i) (reference implementation).
NFE for N steps: N for ``"singlestep"`` (DPM-Solver-fast), ``"multistep"`` and the SDE
solver; k N for ``"singlestep_fixed"`` of order k.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import exponential_integrators as ei
from diffax.samplers import multistep
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    predictor,
    require_key,
)
from diffax.samplers.dpm_solver_family import checked_solve, register_variants
from diffax.samplers.registry import register

Array = jax.Array


def dynamic_threshold(x0: Array, ratio: float = 0.995, max_val: float = 1.0) -> Array:
    """Imagen dynamic thresholding of a batch of data predictions (leading axis = batch).

    s = max(quantile_ratio(|x0|), max_val) per example; x0 <- clip(x0, -s, s) max_val/s.
    """
    flat = jnp.abs(x0).reshape(x0.shape[0], -1)
    s = jnp.maximum(jnp.quantile(flat, ratio, axis=1), max_val)
    s = s.reshape((-1,) + (1,) * (x0.ndim - 1))
    return jnp.clip(x0, -s, s) * (max_val / s)


def _check_threshold(name: str, ratio: float, max_val: float) -> None:
    checks.probability(name, "threshold_ratio", ratio, lo_open=True)
    checks.positive(name, "threshold_max", max_val)


def data_predictor(model_fn: ModelFn, prediction: str, process: GaussianProcess,
                   cond: dict | None, thresholding: bool, ratio: float,
                   max_val: float) -> Callable[[Array, Array], Array]:
    """``f(x, t) -> x0`` (one model call), dynamically thresholded if requested."""
    f = predictor(model_fn, prediction, process, "x0", cond)
    if not thresholding:
        return f
    return lambda x, t: dynamic_threshold(f(x, t), ratio, max_val)


@register_variants("dpm_solver++")
def dpm_solver_pp(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                  timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
                  return_trajectory: bool = False, cond: dict | None = None,
                  order: int = 2, method: str = "multistep", lower_order_final: bool = True,
                  r1: float | None = None, r2: float | None = None,
                  thresholding: bool = False, threshold_ratio: float = 0.995,
                  threshold_max: float = 1.0, second_difference: str = "taylor"
                  ) -> SampleOutput:
    """DPM-Solver++ (data prediction), singlestep or multistep, order 1-3.

    Options as :func:`diffax.samplers.dpm_solver.dpm_solver`, plus dynamic
    thresholding of the data prediction (``thresholding``, quantile
    ``threshold_ratio``, data bound ``threshold_max``). ``key`` is ignored.
    """
    _check_threshold("dpm_solver_pp", threshold_ratio, threshold_max)
    return checked_solve("dpm_solver_pp",
                         lambda: data_predictor(model_fn, prediction, process, cond,
                                                thresholding, threshold_ratio, threshold_max),
                         process, "x0", x_init, timesteps, order=order, method=method,
                         lower_order_final=lower_order_final, r1=r1, r2=r2,
                         return_trajectory=return_trajectory,
                         second_difference=second_difference)


@register("sde_dpm_solver++_2m", order=None, stochastic=True, options=dict(order=2))
def sde_dpm_solver_pp(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                      timesteps: Array, *, prediction: str = "eps",
                      key: Array | None = None, return_trajectory: bool = False,
                      cond: dict | None = None, order: int = 2, eta: float = 1.0,
                      lower_order_final: bool = True, thresholding: bool = False,
                      threshold_ratio: float = 0.995,
                      threshold_max: float = 1.0) -> SampleOutput:
    """SDE-DPM-Solver++ (order 1 or 2M), stochastic; ``key`` is required.

    ``eta`` >= 0 scales the injected noise (variance sigma_t^2 (1 - e^{-2 eta h}));
    eta = 1 solves the reverse-time SDE, eta = 0 is the deterministic DPM-Solver++.
    One model call per step (NFE = N).
    """
    name = "sde_dpm_solver_pp"
    checks.choice(name, "order", order, (1, 2))
    checks.in_range(name, "eta", eta, lo=0.0)
    _check_threshold(name, threshold_ratio, threshold_max)
    key = require_key(key, name)
    ts = check_timesteps(timesteps, process, name=name)
    f = data_predictor(model_fn, prediction, process, cond, thresholding, threshold_ratio,
                       threshold_max)
    n = ts.shape[0] - 1

    la, ls = process.log_alpha(ts), process.log_sigma(ts)
    h = (la[1:] - ls[1:]) - (la[:-1] - ls[:-1])
    decay = jnp.exp(ls[1:] - ls[:-1] - eta * h)
    c = jnp.exp(la[1:]) * -jnp.expm1(-(1.0 + eta) * h)
    noise_std = jnp.exp(ls[1:]) * jnp.sqrt(-jnp.expm1(-2.0 * eta * h))
    r = multistep.lagged(h, (1,))[:, 0] / h  # h_{i-1} / h_i
    k = jnp.asarray(ei.multistep_orders(n, order, lower_order_final))
    w0 = jnp.where(k == 2, c * (1.0 + 0.5 / r), c)
    w1 = jnp.where(k == 2, -0.5 * c / r, 0.0)
    x, traj = multistep.run(f, x_init, ts, decay, jnp.stack([w0, w1], -1),
                            noise=(noise_std, jax.random.split(key, n)),
                            return_trajectory=return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=n)
