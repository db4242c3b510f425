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

Design. The number of steps depends on the data. Trials run in one loop over all
intervals of ``timesteps``, whose state holds the index of the current interval; the
result is an :class:`AdaptiveSampleOutput`, whose ``nfe`` is an integer *array*
holding the evaluations actually spent (``order`` times the number of trials), next to
the accepted/rejected counts and a ``success`` flag. ``timesteps`` gives the times at
which the state is reported: the solver integrates each interval [t_i, t_{i+1}]
adaptively, clipping the last step of an interval to land on t_{i+1} exactly and
carrying the proposed step size over; with ``timesteps = [t_start, t_end]`` this is
exactly Algorithm 4. One step size is shared by the whole batch (as in the reference
implementation); under ``jax.vmap`` each example adapts its own.

``max_steps`` bounds the number of trials. When it runs out before ``timesteps[-1]``
the output is the state where the solver stopped (not at ``timesteps[-1]``): check
``success`` (False then) before using ``x``; ``trajectory`` repeats that state at every
time not reached.

Two loops give the same trials and results (``loop``):

* ``"while"`` (default): a ``lax.while_loop`` that stops when the end is reached. The
  fastest forward pass; jit, vmap and forward-mode differentiation
  (``jax.jvp``/``jax.jacfwd``), but JAX cannot reverse-differentiate a while loop.
* ``"scan"``: a ``lax.scan`` of exactly ``max_steps`` iterations, each running a trial
  (under ``lax.cond``) only while the end is not reached; reverse-mode differentiable
  (``jax.grad``/``jax.vjp``) in ``x_init`` and the model's parameters.
  The gradient is that of the computed output, step-size control included (the
  accept/reject decisions are piecewise constant). Each iteration is rematerialised
  (``jax.checkpoint``), so reverse mode stores only the loop state per iteration,
  about ``2 * max_steps`` copies of ``x`` (plus one more with ``return_trajectory``),
  and recomputes each trial once in the backward pass. Set ``max_steps`` near the
  trials you expect: the finished iterations are cheap without vmap, but under
  ``jax.vmap`` ``lax.cond`` becomes a select, so every one of the ``max_steps``
  iterations then evaluates the model.

Registered as ``dpm_solver_adaptive_12`` (``order=2``) and ``dpm_solver_adaptive_23``
(``order=3``) with ``adaptive=True``: an NFE budget does not apply (see
:mod:`diffax.samplers.registry`); the registry's ``nfe(N)`` is the bound
``order * max_steps`` of the default ``max_steps``, and ``steps_for_nfe`` gives one
interval, ``timesteps = [t_start, t_end]``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import dpm_solver_engine as engine
from diffax.samplers import exponential_integrators as ei
from diffax.samplers.base import AdaptiveSampleOutput, ModelFn, check_timesteps, predictor
from diffax.samplers.registry import register

Array = jax.Array

ALGORITHMS = {"dpm_solver": "eps", "dpm_solver++": "x0"}
VARIANTS = {"dpm_solver_adaptive_12": dict(order=2), "dpm_solver_adaptive_23": dict(order=3)}
MAX_STEPS = 1000  # default bound on the trials
LOOPS = {"while": "lax.while_loop: fastest, forward-mode differentiation only",
         "scan": "lax.scan over max_steps: reverse-mode differentiable (jax.grad)"}


class _State(NamedTuple):
    """Loop state: current and previous (embedded lower-order) solution, index of the
    interval being integrated (``len(timesteps) - 1`` once done), current lambda and t,
    proposed step in lambda, trial and accepted-step counts."""

    x: Array
    x_prev: Array
    seg: Array
    lam: Array
    t: Array
    h: Array
    n_trials: Array
    n_acc: Array


def _check(order, algorithm, rtol, atol, h_init, theta, max_steps, loop) -> None:
    name = "dpm_solver_adaptive"
    if order not in (2, 3):
        raise ValueError(f"{name}: order must be 2 (DPM-Solver-12) or 3 (DPM-Solver-23), "
                         f"got order={order!r}.")
    checks.choice(name, "algorithm", algorithm, ALGORITHMS)
    # both checked before the test (an `or` of the two checks skipped atol when rtol > 0)
    rtol = checks.in_range(name, "rtol", rtol, lo=0.0)
    atol = checks.in_range(name, "atol", atol, lo=0.0)
    if not (rtol > 0.0 or atol > 0.0):
        raise ValueError(f"{name}: rtol and atol cannot both be 0.")
    checks.positive(name, "h_init", h_init)
    checks.in_range(name, "theta", theta, lo=0, hi=1, lo_open=True)
    checks.positive_int(name, "max_steps", max_steps)
    if loop not in LOOPS:
        raise ValueError(f"{name}: unknown loop {loop!r}; valid choices: {sorted(LOOPS)} "
                         f"({'; '.join(f'{k}: {v}' for k, v in LOOPS.items())}).")


def _safe_sqrt(a: Array) -> Array:
    """sqrt with a zero (not NaN) derivative at 0, where an exact step has E = 0."""
    pos = a > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, a, 1.0)), 0.0)


@register("dpm_solver_adaptive_12", order=None, adaptive=True, nfe=lambda n: 2 * MAX_STEPS,
          options=VARIANTS["dpm_solver_adaptive_12"])
@register("dpm_solver_adaptive_23", order=None, adaptive=True, nfe=lambda n: 3 * MAX_STEPS,
          options=VARIANTS["dpm_solver_adaptive_23"])
def dpm_solver_adaptive(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                        timesteps: Array, *, prediction: str = "eps",
                        key: Array | None = None, return_trajectory: bool = False,
                        cond: dict | None = None, order: int = 3,
                        algorithm: str = "dpm_solver", rtol: float = 0.05,
                        atol: float = 0.0078, h_init: float = 0.05, theta: float = 0.9,
                        max_steps: int = MAX_STEPS, loop: str = "while") -> AdaptiveSampleOutput:
    """Adaptive DPM-Solver-12 (``order=2``) / -23 (``order=3``), Lu et al. Algorithm 4.

    Args:
      algorithm: "dpm_solver" (noise prediction) or "dpm_solver++" (data prediction).
      rtol, atol: tolerances (defaults of the paper, tuned for data in [-1, 1]).
      h_init: first trial step in lambda = log(alpha/sigma).
      theta: safety factor of the step-size update.
      max_steps: bound on the total number of trial steps; if it is reached first,
        ``success`` is False and ``x`` is not at ``timesteps[-1]``.
      loop: "while" (default; fastest, forward-mode differentiation only) or "scan"
        (a ``max_steps``-long checkpointed ``lax.scan``: reverse-mode differentiable,
        same trials and results); see the module docstring for the costs.
    ``key`` is ignored (deterministic).
    """
    _check(order, algorithm, rtol, atol, h_init, theta, max_steps, loop)
    param = ALGORITHMS[algorithm]
    ts = check_timesteps(timesteps, process, name="dpm_solver_adaptive")
    f = predictor(model_fn, prediction, process, param, cond)
    fractions = engine.DEFAULT_FRACTIONS[order]
    dt = x_init.dtype
    n = ts.shape[0] - 1  # number of intervals
    lam_grid = ei.half_log_snr(process, ts)
    # next_seg[k]: the first interval j >= k that is not empty (n if none). An interval
    # is empty only if rounding gives lambda_j >= lambda_{j+1}; it takes no trial.
    nonempty = jnp.append(lam_grid[:-1] < lam_grid[1:], True)
    idx = jnp.arange(n + 1)
    next_seg = jax.lax.cummin(jnp.where(nonempty, idx, n), reverse=True)

    def active(s: _State) -> Array:
        return (s.seg < n) & (s.n_trials < max_steps)

    def trial(s: _State) -> _State:
        """One trial step of Algorithm 4 in the current interval [.., t_{seg+1}]."""
        k = jnp.minimum(s.seg, n - 1)
        lam_end, t_end = lam_grid[k + 1], ts[k + 1]
        remaining = lam_end - s.lam
        last = s.h >= remaining
        h = jnp.minimum(s.h, remaining)
        t = jnp.where(last, t_end, ei.t_from_half_log_snr(process, s.lam + h))
        tab = engine.singlestep_tables(process, param, jnp.stack([s.t, t]), fractions)
        coefs = jax.tree_util.tree_map(lambda a: a[0], engine.singlestep_coefs(tab, dt))
        x_high, x_low = engine.singlestep_step(f, s.x, s.t, tab.t_mid[0], coefs, order)
        x_high, x_low = x_high.astype(dt), x_low.astype(dt)
        delta = jnp.maximum(atol, rtol * jnp.maximum(jnp.abs(x_low), jnp.abs(s.x_prev)))
        err = ((x_high - x_low) / delta).reshape(s.x.shape[0], -1)
        e = jnp.max(_safe_sqrt(jnp.mean(err**2, axis=1)))
        accept = e <= 1.0
        lam_t = jnp.where(last, lam_end, ei.half_log_snr(process, t))
        h_next = theta * h * jnp.maximum(e, 1e-12) ** (-1.0 / order)
        lam_new = jnp.where(accept, lam_t, s.lam)
        t_new = jnp.where(accept, t, s.t)
        # Interval done: move to the next non-empty one and start from its grid time.
        done = lam_new >= lam_end
        seg = jnp.where(done, next_seg[k + 1], s.seg)
        return _State(jnp.where(accept, x_high, s.x), jnp.where(accept, x_low, s.x_prev),
                      seg, jnp.where(done, lam_grid[seg], lam_new),
                      jnp.where(done, ts[seg], t_new), h_next.astype(s.h.dtype),
                      s.n_trials + 1, s.n_acc + accept.astype(s.n_acc.dtype))

    seg0 = next_seg[0]
    zero = jnp.zeros((), jnp.int32)
    state = _State(x_init, x_init, seg0, lam_grid[seg0], ts[seg0],
                   jnp.asarray(h_init, lam_grid.dtype), zero, zero)
    rows = idx.reshape((n + 1,) + (1,) * x_init.ndim)  # trajectory row index

    if loop == "while":
        if return_trajectory:
            def body(c):
                s, traj = c
                s_new = trial(s)
                # rows s.seg+1 .. s_new.seg: the intervals just finished (several if
                # empty ones were skipped) report the new state.
                hit = (rows > s.seg) & (rows <= s_new.seg)
                return s_new, jnp.where(hit, s_new.x[None], traj)

            traj0 = jnp.broadcast_to(x_init[None], (n + 1,) + x_init.shape)
            state, traj = jax.lax.while_loop(lambda c: active(c[0]), body, (state, traj0))
        else:
            state = jax.lax.while_loop(active, trial, state)
            traj = None
    else:
        def scan_body(s, _):
            s = jax.lax.cond(active(s), trial, lambda s: s, s)
            return s, ((s.x, s.seg) if return_trajectory else None)

        state, hist = jax.lax.scan(jax.checkpoint(scan_body, prevent_cse=False), state,
                                   None, length=max_steps)
        if return_trajectory:
            # Row k is the state after the first trial that finished interval k - 1.
            xs = jnp.concatenate([x_init[None], hist[0]], 0)
            segs = jnp.concatenate([seg0[None], hist[1]], 0)
            first = jnp.searchsorted(segs, idx, side="left")
            traj = xs[jnp.minimum(first, max_steps)]
        else:
            traj = None

    if traj is not None:  # times never reached (max_steps ran out) repeat the last state
        traj = jnp.where(rows > state.seg, state.x[None], traj).at[0].set(x_init)
    return AdaptiveSampleOutput(x=state.x, trajectory=traj, nfe=order * state.n_trials,
                                num_accepted=state.n_acc,
                                num_rejected=state.n_trials - state.n_acc,
                                success=state.seg >= n)
