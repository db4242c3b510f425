"""The scan shared by one-evaluation samplers whose step is a deterministic update of
the state plus, optionally, fresh Gaussian noise of a precomputed scale:

    x_{i+1} = update(x_i, t_i, c_i) + n_i z_i,     z_i ~ N(0, I),   i = 0..N-1,

where ``c_i`` are the step's coefficient-table entries (one model evaluation happens
inside ``update``) and ``n_i`` the noise scale. With ``denoise`` the last scale is set
to 0 (score_sde's ``noise_removal``; DDPM's last step returns the posterior mean), so
the sampler ends on the mean of its final transition. One key per step is split from
``key`` (``jax.random.split(key, N)``), the draws take the state's shape and dtype,
and NFE = N. Users: the reverse-SDE samplers of :mod:`.sde` (``update = a x + b
pred(x, t)``), DDIM and its inversion (:mod:`.ddim`, ``update = a x0_hat + b eps_hat``).
"""

from __future__ import annotations

from typing import Callable

import jax

from diffax.samplers.base import SampleOutput, last_step_mask, run_scan

Array = jax.Array


def run_noisy_steps(update: Callable[..., Array], x_init: Array, coefs: tuple, *,
                    noise: Array | None = None, key: Array | None = None,
                    denoise: bool = True, return_trajectory: bool = False) -> SampleOutput:
    """Scan ``x <- update(x, *coefs_i) [+ noise_i z_i]`` over the N steps.

    Args:
      update: ``update(x, t_i, *c_i) -> x_mean``, the deterministic part of a step.
      x_init: the initial state.
      coefs: per-step arrays of leading size N, passed to ``update`` in order (the first
        is usually the step's start time t_i).
      noise: per-step noise scales (N,), or None for a deterministic sampler (then
        ``key`` and ``denoise`` are unused).
      key: PRNG key (checked by the caller), split into one key per step.
      denoise: set the last noise scale to 0.
      return_trajectory: also return the N + 1 states.
    """
    n = coefs[0].shape[0]
    if noise is None:
        def step(x, inp):
            return update(x, *inp)

        xs = tuple(coefs)
    else:
        noise = noise * last_step_mask(n, denoise, x_init.dtype)

        def step(x, inp):
            *c, n_i, k = inp
            z = jax.random.normal(k, x.shape, x.dtype)
            return update(x, *c) + n_i * z

        xs = (*coefs, noise, jax.random.split(key, n))
    x, traj = run_scan(step, x_init, xs, lambda x: x, x_init, return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=n)
