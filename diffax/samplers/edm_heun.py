"""Heun sampler of Karras et al. (2022), "Elucidating the Design Space of
Diffusion-Based Generative Models" (EDM), Algorithms 1 and 2.

**Formulation (our choice: EDM's scaled coordinates).** For any Gaussian process
x_t = alpha x0 + sigma eps, the state y = x / alpha and the EDM noise level
s = sigma / alpha = exp(-lambda / 2) turn the probability-flow ODE into EDM's form
with sigma(t) = t, s(t) = 1 (their eq. 4 and Section 3):

    dy/ds = eps_hat(alpha y, t(s)) = (y - D(y; s)) / s,

where eps_hat is the model's noise prediction (via :mod:`diffax.predictions`) and D the
denoiser. Karras et al. use exactly this for VP and VE models ("we use sigma(t) = t
and s(t) = 1"), and it is much better conditioned than Heun in the process's own time
t (e.g. for VE, whose sigma grows exponentially in t). Heun's method on it is

    e_i  = eps_hat(x_i, t_i),               y_e = x_i / alpha_i + (s_{i+1} - s_i) e_i,
    e'_i = eps_hat(alpha_{i+1} y_e, t_{i+1}),
    x_{i+1} = alpha_{i+1} (x_i / alpha_i + (s_{i+1} - s_i) (e_i / 2 + e'_i / 2)).

For the EDM process (alpha = 1, s = sigma = t) e_i = (x_i - D(x_i; t_i)) / t_i = d_i and
this is Algorithm 1 verbatim. (In x it equals the DDIM step with the averaged noise,
i.e. PNDM's pseudo improved Euler step.) Global order 2. Karras et al. skip the
correction when sigma_{i+1} = 0; our grids end at t_min > 0, so by default every step
is corrected (NFE = 2N); ``final_euler=True`` makes the last step a plain Euler step
(NFE = 2N - 1), what Algorithm 1 does on a grid ending at sigma = 0. The model is
evaluated at the grid times t_i (no time re-mapping for the deterministic sampler).
alpha must be > 0 on the grid (e.g. rectified flow needs t_max < 1).

**Stochastic (Algorithm 2).** Before step i the noise level is raised ("churn"):

    gamma_i = min(S_churn / N, sqrt(2) - 1)  if S_min <= s_i <= S_max  else 0,
    s_hat = (1 + gamma_i) s_i,
    y_hat = y_i + sqrt(s_hat^2 - s_i^2) S_noise xi,   xi ~ N(0, I),

with s_i = sigma(t_i) / alpha(t_i) the EDM noise level (what ``s_min``/``s_max``
compare against), then the Heun step above runs from (y_hat, s_hat) to s_{i+1}. The
model needs a time: t_hat = process.t_from_log_snr(-2 log s_hat), and the state is
mapped back with alpha(t_hat):

    x_hat = alpha(t_hat) / alpha(t_i) x_i + alpha(t_hat) sqrt(s_hat^2 - s_i^2) S_noise xi.

If x_i ~ p_{t_i} then x_hat ~ p_{t_hat} exactly. t_hat may exceed t_max (by up to a
factor sqrt(2) in noise level); the process formulas are used there as they are.
Steps with gamma_i = 0 use t_hat = t_i and x_hat = x_i exactly, so ``s_churn=0``
reproduces the deterministic sampler bit for bit. Defaults: S_churn = 40, S_min = 0,
S_max = inf, S_noise = 1 (Karras et al., Table 5, tune S_churn, S_min, S_max and
S_noise = 1.003 per data set; pass them explicitly). NFE = 2N (2N - 1 with
``final_euler``).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    predictor,
    require_key,
    run_scan,
)
from diffax.samplers.registry import register

Array = jax.Array


def heun_nfe(n: int, final_euler: bool = False) -> int:
    """Model evaluations of N Heun steps: 2N, or 2N - 1 with a final Euler step."""
    return 2 * n - (1 if final_euler and n > 0 else 0)


def _heun_step(eps_fn, x, t, s, a, t_next, s_next, a_next, correct: bool):
    """One step of Algorithm 1 in scaled coordinates y = x / alpha, noise level s
    = sigma / alpha, from (x, t) to t_next (Euler when ``correct`` is False)."""
    h = s_next - s
    y = x / a
    e = eps_fn(x, t)
    y_next = y + h * e
    if not correct:
        return a_next * y_next
    e_next = eps_fn(a_next * y_next, t_next)
    return a_next * (y + h * (0.5 * e + 0.5 * e_next))


def _noise_level(process: GaussianProcess, ts: Array) -> tuple[Array, Array]:
    """``(alpha, s = sigma / alpha)`` at ``ts`` (s = t exactly for the EDM process)."""
    a = process.alpha(ts)
    return a, process.sigma(ts) / a


def _integrate(step, x_init: Array, xs: tuple, n: int, final_euler: bool,
               return_trajectory: bool) -> tuple[Array, Array | None]:
    """Scan ``step(x, xs_i, correct=True)`` over the first steps, then the last step
    uncorrected (one unrolled Euler step) when ``final_euler``."""
    n_heun = n - 1 if final_euler else n
    x, traj = run_scan(lambda c, i: step(c, i, True), x_init,
                       jax.tree_util.tree_map(lambda a: a[:n_heun], xs), lambda c: c,
                       x_init, return_trajectory)
    if final_euler:
        x = step(x, jax.tree_util.tree_map(lambda a: a[n_heun], xs), False)
        if return_trajectory:
            traj = jnp.concatenate([traj, x[None]], axis=0)
    return x, traj


def _prepare(process, x_init, timesteps, name):
    ts = check_timesteps(timesteps, process, name=name)
    if jnp.issubdtype(x_init.dtype, jnp.floating):
        ts = ts.astype(x_init.dtype)
    return ts, ts.shape[0] - 1


@register("edm_heun", order=2, nfe=heun_nfe, options=dict(final_euler=False))
def edm_heun(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Array,
             *, prediction: str = "eps", key: Array | None = None,
             return_trajectory: bool = False, cond: dict | None = None,
             final_euler: bool = False) -> SampleOutput:
    """EDM Algorithm 1: deterministic Heun in scaled coordinates (``key`` is ignored).

    Args:
      final_euler: take the last step with Euler (no correction), NFE 2N - 1.
    """
    checks.boolean("edm_heun", "final_euler", final_euler)
    ts, n = _prepare(process, x_init, timesteps, "edm_heun")
    eps_fn = predictor(model_fn, prediction, process, "eps", cond)
    a, s = _noise_level(process, ts)

    def step(x, c, correct):
        return _heun_step(eps_fn, x, *c, correct)

    xs = (ts[:-1], s[:-1], a[:-1], ts[1:], s[1:], a[1:])
    x, traj = _integrate(step, x_init, xs, n, final_euler, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=heun_nfe(n, final_euler))


def _check_churn(s_churn, s_min, s_max, s_noise) -> None:
    """Python/NumPy numbers are checked (>= 0, s_min <= s_max); JAX arrays, traced or
    not, are not (see :func:`diffax.checks.host_float`)."""
    where = "edm_heun_stochastic"
    vals = {k: checks.in_range(where, k, v, lo=0, finite=False)
            for k, v in dict(s_churn=s_churn, s_min=s_min, s_max=s_max,
                             s_noise=s_noise).items() if not isinstance(v, jax.Array)}
    if "s_min" in vals and "s_max" in vals and not vals["s_min"] <= vals["s_max"]:
        raise ValueError(f"{where}: need s_min <= s_max, got s_min={s_min}, s_max={s_max}.")


def churn_schedule(process: GaussianProcess, ts: Array, s_churn: Any = 40.0, s_min: Any = 0.0,
                   s_max: Any = math.inf, s_noise: Any = 1.0
                   ) -> tuple[Array, Array, Array, Array, Array]:
    """Per-step churn tables for steps starting at ``ts`` (shape (N,)):
    ``(t_hat, s_hat, alpha_hat, ratio = alpha_hat / alpha(t), noise_std)`` with
    x_hat = ratio x + noise_std xi (see the module docstring)."""
    n = ts.shape[0]
    a, s = _noise_level(process, ts)
    active = (s >= s_min) & (s <= s_max)
    gamma = jnp.where(active, jnp.minimum(s_churn / n, math.sqrt(2.0) - 1.0), 0.0)
    gamma = gamma.astype(ts.dtype)
    on = gamma > 0
    s_hat = s * (1.0 + gamma)
    t_hat = jnp.where(on, process.t_from_log_snr(-2.0 * jnp.log(s_hat)), ts)
    a_hat = jnp.where(on, process.alpha(t_hat), a)
    ratio = jnp.where(on, a_hat / a, 1.0)
    # sqrt(s_hat^2 - s^2) = s sqrt(gamma (2 + gamma)): exact zero at gamma = 0.
    noise_std = a_hat * s * jnp.sqrt(gamma * (2.0 + gamma)) * s_noise
    return t_hat, s_hat, a_hat, ratio.astype(ts.dtype), noise_std.astype(ts.dtype)


@register("edm_heun_stochastic", order=None, stochastic=True, nfe=heun_nfe,
          options=dict(final_euler=False))
def edm_heun_stochastic(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                        timesteps: Array, *, prediction: str = "eps",
                        key: Array | None = None, return_trajectory: bool = False,
                        cond: dict | None = None, s_churn: Any = 40.0, s_min: Any = 0.0,
                        s_max: Any = math.inf, s_noise: Any = 1.0,
                        final_euler: bool = False) -> SampleOutput:
    """EDM Algorithm 2: Heun with stochastic churn (needs ``key``).

    Args:
      s_churn, s_min, s_max, s_noise: EDM's S_churn, S_tmin, S_tmax, S_noise; s_min and
        s_max bound the noise level sigma/alpha at which churn is applied.
      final_euler: take the last step with Euler (no correction), NFE 2N - 1.
    """
    checks.boolean("edm_heun_stochastic", "final_euler", final_euler)
    _check_churn(s_churn, s_min, s_max, s_noise)
    key = require_key(key, "edm_heun_stochastic")
    if checks.host_float(s_churn) == 0.0:
        # Algorithm 2 with S_churn = 0 is Algorithm 1: run the very same computation
        # (bitwise equal; a churn of exactly zero per step agrees to rounding only,
        # because XLA fuses the two programs differently).
        return edm_heun(model_fn, process, x_init, timesteps, prediction=prediction,
                        return_trajectory=return_trajectory, cond=cond,
                        final_euler=final_euler)
    ts, n = _prepare(process, x_init, timesteps, "edm_heun_stochastic")
    eps_fn = predictor(model_fn, prediction, process, "eps", cond)
    a, s = _noise_level(process, ts)
    t_hat, s_hat, a_hat, ratio, noise_std = churn_schedule(process, ts[:-1], s_churn, s_min,
                                                           s_max, s_noise)
    keys = jax.random.split(key, n)

    def step(x, c, correct):
        th, sh, ah, r, std, t_next, s_next, a_next, k = c
        xi = jax.random.normal(k, x.shape, x.dtype)
        x_hat = r * x + std * xi
        return _heun_step(eps_fn, x_hat, th, sh, ah, t_next, s_next, a_next, correct)

    xs = (t_hat, s_hat, a_hat, ratio, noise_std, ts[1:], s[1:], a[1:], keys)
    x, traj = _integrate(step, x_init, xs, n, final_euler, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=heun_nfe(n, final_euler))
