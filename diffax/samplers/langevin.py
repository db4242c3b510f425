"""Langevin-dynamics samplers: predictor-corrector and annealed Langevin dynamics.

**Predictor-corrector** (Song et al., 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations", Appendix G, Algorithms 2-5). For each step t_i -> t_{i+1}: one
predictor step of the reverse SDE (``euler_maruyama``, ``reverse_diffusion`` or
``ancestral`` from :mod:`.sde`, or ``"none"``), then ``n_corrector_steps`` Langevin
corrector steps targeting p_{t_{i+1}}:

    eps_j = 2 r_i (snr ||z|| / ||score(x, t_{i+1})||)^2,
    x    <- x + eps_j score(x, t_{i+1}) + sqrt(2 eps_j) z,          z ~ N(0, I),

with ||.|| the per-example Euclidean norm averaged over the batch.

The step size sets the signal-to-noise ratio ||eps score|| / ||sqrt(2 eps) z|| to
``snr`` (default 0.16, score_sde's CIFAR-10 VE setting). As in score_sde's code the
norms are averaged over the batch, so one step size is shared by the batch (vmap
over independent chains gives each chain its own). Per-example norms are not
offered: in low dimension ||z|| and ||score|| do not concentrate and a score that
vanishes near a mode gives an unbounded step. r_i = (alpha_{t_i} / alpha_{t_{i+1}})^2
is score_sde's VP factor alpha_i = 1 - beta_i in general form (the squared forward
transition coefficient of the step just taken; 1 for VE and EDM). The predictor
comes first and the corrector acts at the new time, as in the paper's algorithms
(score_sde's code corrects before predicting), so the final state is corrected at
t_N, and with ``predictor="none"`` (corrector-only sampling) the chain visits
t_1, ..., t_N. NFE = N (n_corrector_steps + 1), or N n_corrector_steps with
``"none"``.

**Annealed Langevin dynamics** (Song & Ermon, 2019, "Generative Modeling by
Estimating Gradients of the Data Distribution", Algorithm 1). For each noise level
sigma_i = sigma(t_i), i = 1..N (the state starts at t_0), ``steps_per_level``
Langevin steps

    x <- x + (a_i / 2) score(x, t_i) + sqrt(a_i) z,   a_i = step_size sigma_i^2 / sigma_N^2.

NFE = N steps_per_level. Defaults (step_size 2e-5, 100 steps per level) are NCSN's.

With ``denoise=True`` (score_sde's ``noise_removal``) the last predictor step adds no
noise. Langevin noise is never removed: it is part of the MCMC proposal and has the
scale of the data (a noise-free last corrector step would shrink the samples'
variance by about (1 - eps / var)^2, ~10% at snr = 0.16 in two dimensions). All
samplers here are stochastic and need ``key``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax.processes.base import GaussianProcess
from diffax import checks
from diffax.samplers import base
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    last_step_mask,
    require_key,
    run_scan,
)
from diffax.samplers.registry import register
from diffax.samplers.reverse_sde import PREDICTORS, VARIANCES, predictor_coefficients

Array = jax.Array

PC_PREDICTORS = PREDICTORS + ("none",)


def _mean_norm(v: Array) -> Array:
    """Euclidean norm over all but the leading axis, averaged over the batch."""
    return jnp.mean(jnp.sqrt(jnp.sum(v.reshape(v.shape[0], -1) ** 2, axis=-1)))


@register("pc_langevin", order=None, stochastic=True, nfe=lambda n: 2 * n,
          options=dict(predictor="reverse_diffusion", n_corrector_steps=1))
def pc_sampler(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
               timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
               return_trajectory: bool = False, cond: dict | None = None,
               predictor: str = "reverse_diffusion", n_corrector_steps: int = 1,
               snr: float = 0.16, variance: str = "small", denoise: bool = True) -> SampleOutput:
    """Predictor-corrector sampling with the Langevin corrector (see module docstring).

    ``predictor``: one of ``euler_maruyama``, ``reverse_diffusion``, ``ancestral``,
    ``none``; ``variance`` is passed to the ancestral predictor.
    """
    name = "pc_sampler"
    checks.choice(name, "predictor", predictor, PC_PREDICTORS)
    checks.choice(name, "variance", variance, VARIANCES)
    checks.integer(name, "n_corrector_steps", n_corrector_steps, minimum=0)
    if predictor == "none" and n_corrector_steps == 0:
        raise ValueError(f"{name}: predictor='none' needs n_corrector_steps >= 1, got 0.")
    checks.positive(name, "snr", snr, skip_traced=True)
    checks.boolean(name, "denoise", denoise)
    ts = check_timesteps(timesteps, process, name=name)
    key = require_key(key, name)

    n, m = ts.shape[0] - 1, n_corrector_steps
    dtype = x_init.dtype
    t, s = ts[:-1], ts[1:]
    mask = last_step_mask(n, denoise, dtype)
    use_predictor = predictor != "none"
    if use_predictor:
        target, a, b, c = predictor_coefficients(predictor, process, t, s, variance)
        a, b = a.astype(dtype), b.astype(dtype)
        c = c.astype(dtype) * mask
        pred = base.predictor(model_fn, prediction, process, target, cond)
    else:
        a = b = c = jnp.zeros((n,), dtype)
    # score_sde's alpha factor of the corrector (1 for VE/EDM).
    r = jnp.exp(2.0 * (process.log_alpha(t) - process.log_alpha(s))).astype(dtype)
    score = base.predictor(model_fn, prediction, process, "score", cond)
    snr = jnp.asarray(snr, dtype)

    def corrector(x, k, t_next, r_i):
        g = score(x, t_next)
        z = jax.random.normal(k, x.shape, x.dtype)
        ratio = snr * _mean_norm(z) / _mean_norm(g)
        eps = 2.0 * r_i * ratio**2
        return (x + eps * g + jnp.sqrt(2.0 * eps) * z).astype(x.dtype), None

    def step(x, inp):
        t_i, t_next, a_i, b_i, c_i, r_i, k = inp
        k_pred, k_corr = jax.random.split(k)
        if use_predictor:
            z = jax.random.normal(k_pred, x.shape, x.dtype)
            x = a_i * x + b_i * pred(x, t_i) + c_i * z
        if m > 0:
            x, _ = jax.lax.scan(lambda xc, kc: corrector(xc, kc, t_next, r_i), x,
                                jax.random.split(k_corr, m))
        return x

    xs = (t, s, a, b, c, r, jax.random.split(key, n))
    x, traj = run_scan(step, x_init, xs, lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=n * (m + int(use_predictor)))


@register("annealed_langevin", order=None, stochastic=True, nfe=lambda n: 100 * n,
          options=dict(steps_per_level=100))
def annealed_langevin(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                      timesteps: Array, *, prediction: str = "eps",
                      key: Array | None = None, return_trajectory: bool = False,
                      cond: dict | None = None, step_size: float = 2e-5,
                      steps_per_level: int = 100) -> SampleOutput:
    """Annealed Langevin dynamics (NCSN) at the levels t_1..t_N (see module docstring).

    The trajectory holds the state after each level.
    """
    name = "annealed_langevin"
    checks.positive_int(name, "steps_per_level", steps_per_level)
    checks.positive(name, "step_size", step_size, skip_traced=True)
    ts = check_timesteps(timesteps, process, name=name)
    key = require_key(key, name)

    n, m = ts.shape[0] - 1, steps_per_level
    dtype = x_init.dtype
    levels = ts[1:]
    log_sig = process.log_sigma(levels)
    a = (step_size * jnp.exp(2.0 * (log_sig - log_sig[-1]))).astype(dtype)
    score = base.predictor(model_fn, prediction, process, "score", cond)

    def step(x, inp):
        t_i, a_i, k = inp

        def langevin(xc, kj):
            z = jax.random.normal(kj, xc.shape, xc.dtype)
            xn = xc + 0.5 * a_i * score(xc, t_i) + jnp.sqrt(a_i) * z
            return xn.astype(xc.dtype), None  # float64 tables must not promote x

        x, _ = jax.lax.scan(langevin, x, jax.random.split(k, m))
        return x

    xs = (levels, a, jax.random.split(key, n))
    x, traj = run_scan(step, x_init, xs, lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=n * m)
