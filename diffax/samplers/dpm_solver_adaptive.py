"""Adaptive step-size DPM-Solver-12 and DPM-Solver-23.

Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling
in Around 10 Steps", NeurIPS 2022, Sec. 3.4 and Algorithm 4 (step-size rule after
Jolicoeur-Martineau et al., 2021, "Gotta Go Fast"). In lambda = log(alpha/sigma)
time each trial step s -> t = t(lambda_s + h) computes an embedded pair sharing its
model calls,

    order 2 (DPM-Solver-12): x_low = DPM-Solver-1, x_high = DPM-Solver-2 (r1 = 1/2),
    order 3 (DPM-Solver-23): x_low = DPM-Solver-2 (r1 = 1/3), x_high = DPM-Solver-3,

and the scaled error (RMS over each example's features, max over the batch)

    delta = max(atol, rtol max(|x_low|, |x_prev|)),
    E = max_b || (x_high - x_low) / delta ||_RMS.

The step is accepted if E <= 1 (x <- x_high, x_prev <- x_low), and in either case
h <- min(theta h E^(-1/order), lambda_end - lambda_s). Every trial costs ``order``
model evaluations.

Design. The number of steps depends on the data, so the solver is a
``lax.while_loop`` (not a fixed scan) and returns :class:`AdaptiveSampleOutput`, whose
``nfe`` is an integer *array* holding the evaluations actually spent (``order`` times
the number of trials), next to the accepted/rejected counts and a ``success`` flag
(False if ``max_steps`` trials did not reach the end). ``timesteps`` gives the times
at which the state is reported: the solver integrates each interval [t_i, t_{i+1}]
adaptively, clipping the last step of an interval to land on t_{i+1} exactly and
carrying the proposed step size over; with ``timesteps = [t_start, t_end]`` this is
exactly Algorithm 4. One step size is shared by the whole batch (as in the reference
implementation); under ``jax.vmap`` each example adapts its own.

Transformations: jit and vmap work; differentiation is forward-mode only
(``jax.jvp``/``jax.jacfwd``), because JAX cannot reverse-differentiate
``lax.while_loop``. For reverse-mode gradients use a fixed-step DPM-Solver.

Not in the registry: the registry's NFE accounting (``nfe(N)`` for N steps) does not
apply to a data-dependent step count. Bind the variants with
``functools.partial(dpm_solver_adaptive, order=2)`` (DPM-Solver-12) or ``order=3``
(DPM-Solver-23); :data:`VARIANTS` lists them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from diffax.processes.base import GaussianProcess
from diffax.samplers import exponential_integrators as ei
from diffax.samplers.base import ModelFn, check_timesteps, predictor
from diffax.samplers.dpm_solver import DEFAULT_FRACTIONS, singlestep_coefs, singlestep_step

Array = jax.Array

ALGORITHMS = {"dpm_solver": "eps", "dpm_solver++": "x0"}
VARIANTS = {"dpm_solver_adaptive_12": dict(order=2), "dpm_solver_adaptive_23": dict(order=3)}


class AdaptiveSampleOutput(struct.PyTreeNode):
    """Result of the adaptive solver.

    ``x``: state at ``timesteps[-1]``; ``trajectory``: states at every timestep (or
    None); ``nfe``: model evaluations actually spent (int32 array, ``order`` per trial);
    ``num_accepted`` / ``num_rejected``: trial steps; ``success``: whether the end
    time was reached within ``max_steps`` trials.
    """

    x: Array
    trajectory: Array | None
    nfe: Array
    num_accepted: Array
    num_rejected: Array
    success: Array


def _check(order, algorithm, rtol, atol, h_init, theta, max_steps) -> None:
    name = "dpm_solver_adaptive"
    if order not in (2, 3):
        raise ValueError(f"{name}: order must be 2 (DPM-Solver-12) or 3 (DPM-Solver-23), "
                         f"got order={order!r}.")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{name}: unknown algorithm {algorithm!r}; valid choices: "
                         f"{sorted(ALGORITHMS)}.")
    for key, val in (("rtol", rtol), ("atol", atol)):
        if not val >= 0.0:
            raise ValueError(f"{name}: {key} must be >= 0, got {key}={val}.")
    if not (rtol > 0.0 or atol > 0.0):
        raise ValueError(f"{name}: rtol and atol cannot both be 0.")
    if not h_init > 0.0:
        raise ValueError(f"{name}: h_init must be > 0, got h_init={h_init}.")
    if not 0.0 < theta <= 1.0:
        raise ValueError(f"{name}: theta must be in (0, 1], got theta={theta}.")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"{name}: max_steps must be a positive int, got {max_steps!r}.")


def dpm_solver_adaptive(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                        timesteps: Array, *, prediction: str = "eps",
                        key: Array | None = None, return_trajectory: bool = False,
                        cond: dict | None = None, order: int = 3,
                        algorithm: str = "dpm_solver", rtol: float = 0.05,
                        atol: float = 0.0078, h_init: float = 0.05, theta: float = 0.9,
                        max_steps: int = 1000) -> AdaptiveSampleOutput:
    """Adaptive DPM-Solver-12 (``order=2``) / -23 (``order=3``), Lu et al. Algorithm 4.

    Args:
      algorithm: "dpm_solver" (noise prediction) or "dpm_solver++" (data prediction).
      rtol, atol: tolerances (defaults of the paper, tuned for data in [-1, 1]).
      h_init: first trial step in lambda = log(alpha/sigma).
      theta: safety factor of the step-size update.
      max_steps: bound on the total number of trial steps.
    ``key`` is ignored (deterministic).
    """
    _check(order, algorithm, rtol, atol, h_init, theta, max_steps)
    param = ALGORITHMS[algorithm]
    ts = check_timesteps(timesteps, process, name="dpm_solver_adaptive")
    f = predictor(model_fn, prediction, process, param, cond)
    fractions = DEFAULT_FRACTIONS[order]
    dt = x_init.dtype
    lam_grid = ei.half_log_snr(process, ts)

    def trial(state, lam_end, t_end):
        x, x_prev, lam_s, t_s, h_prop, n_trials, n_acc = state
        remaining = lam_end - lam_s
        last = h_prop >= remaining
        h = jnp.minimum(h_prop, remaining)
        t = jnp.where(last, t_end, ei.t_from_half_log_snr(process, lam_s + h))
        tab = ei.singlestep_tables(process, param, jnp.stack([t_s, t]), fractions)
        coefs = jax.tree_util.tree_map(lambda a: a[0], singlestep_coefs(tab, dt))
        x_high, x_low = singlestep_step(f, x, t_s, tab.t_mid[0], coefs, order)
        x_high, x_low = x_high.astype(dt), x_low.astype(dt)
        delta = jnp.maximum(atol, rtol * jnp.maximum(jnp.abs(x_low), jnp.abs(x_prev)))
        err = ((x_high - x_low) / delta).reshape(x.shape[0], -1)
        e = jnp.max(jnp.sqrt(jnp.mean(err**2, axis=1)))
        accept = e <= 1.0
        lam_t = jnp.where(last, lam_end, ei.half_log_snr(process, t))
        h_next = theta * h * jnp.maximum(e, 1e-12) ** (-1.0 / order)
        return (jnp.where(accept, x_high, x), jnp.where(accept, x_low, x_prev),
                jnp.where(accept, lam_t, lam_s), jnp.where(accept, t, t_s),
                h_next.astype(h_prop.dtype), n_trials + 1, n_acc + accept.astype(n_acc.dtype))

    def segment(carry, inp):
        x, x_prev, h_prop, n_trials, n_acc = carry
        t_a, t_b, lam_a, lam_b = inp
        state = (x, x_prev, lam_a, t_a, h_prop, n_trials, n_acc)
        state = jax.lax.while_loop(
            lambda s: (s[2] < lam_b) & (s[5] < max_steps),
            lambda s: trial(s, lam_b, t_b), state)
        x, x_prev, lam_s, _, h_prop, n_trials, n_acc = state
        return (x, x_prev, h_prop, n_trials, n_acc), (x, lam_s >= lam_b)

    h0 = jnp.asarray(h_init, lam_grid.dtype)
    zero = jnp.zeros((), jnp.int32)
    carry = (x_init, x_init, h0, zero, zero)
    xs = (ts[:-1], ts[1:], lam_grid[:-1], lam_grid[1:])
    (x, _, _, n_trials, n_acc), (traj, reached) = jax.lax.scan(segment, carry, xs)
    trajectory = jnp.concatenate([x_init[None], traj], 0) if return_trajectory else None
    return AdaptiveSampleOutput(x=x, trajectory=trajectory, nfe=order * n_trials,
                                num_accepted=n_acc, num_rejected=n_trials - n_acc,
                                success=jnp.all(reached))
