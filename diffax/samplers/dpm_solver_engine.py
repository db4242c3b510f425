"""The DPM-Solver engine shared by DPM-Solver, DPM-Solver++ and the adaptive DPM-Solver.

Built on the exponential-integrator algebra of :mod:`.exponential_integrators`: option
checks (:func:`check_solver_options`), the singlestep stages of Lu et al. (2022a),
Algorithms 1-2 (:func:`singlestep_stages`, with the embedded lower-order solution the
adaptive solver uses), the singlestep, DPM-Solver-fast and multistep runners (the latter
on :mod:`diffax.samplers.multistep`) and :func:`solve`. It sees the model only as
``f(x, t) -> m`` in the parameterization ``param`` ("eps": DPM-Solver, "x0":
DPM-Solver++).
"""

from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import multistep
from diffax.samplers.base import SampleOutput, run_scan
from diffax.samplers.exponential_integrators import (StepCoefficients, half_log_snr,
                                                     multistep_orders, multistep_weights,
                                                     step_coefficients, t_from_half_log_snr)

Array = jax.Array


# ---- singlestep ------------------------------------------------------------------------

SINGLESTEP_ORDERS = (1, 2, 3)


def singlestep_fast_orders(nfe: int, order: int) -> tuple[int, ...]:
    """Order of each step of "DPM-Solver-fast" for a budget of ``nfe`` model evaluations.

    Lu et al. (2022a), Sec. 3.4 (and the order-2 analogue of their implementation): spend
    the budget on as many order-``order`` steps as fit and end with lower orders, so that
    the orders (= evaluations per step) sum to ``nfe`` exactly. With nfe = 3q + rem,
    order 3 gives ``3 x (q - 1), 2, 1`` (rem 0), ``3 x q, 1`` (rem 1) or ``3 x q, 2``
    (rem 2): floor(nfe / 3) + 1 steps; order 2 gives ``2 x q`` followed by one
    first-order step when nfe is odd; order 1 gives nfe first-order steps.
    """
    checks.choice("singlestep_fast_orders", "order", order, SINGLESTEP_ORDERS)
    checks.positive_int("singlestep_fast_orders", "nfe", nfe)
    q, rem = divmod(int(nfe), order)
    if order == 3 and rem == 0:
        # one third-order step becomes a second- and a first-order step (K = q + 1)
        return (3,) * (q - 1) + (2, 1)
    return (order,) * q + ((rem,) if rem else ())


class SinglestepTables(NamedTuple):
    """Per-step tables of singlestep DPM-Solver-k (Lu et al., 2022a, Algorithms 1-2).

    ``t_mid`` (N, k-1): intermediate times s_j (at lambda_s + r_j h); ``A_mid``,
    ``c1_mid``, ``c2_mid`` (N, k-1): coefficients of the steps s -> s_j; ``ratio``
    (N, k-1): the effective r_j = (lambda_{s_j} - lambda_s)/h (recomputed from the times).
    """

    full: StepCoefficients
    t_mid: Array
    A_mid: Array
    c1_mid: Array
    c2_mid: Array
    ratio: Array


def singlestep_tables_at(process: GaussianProcess, param: str, t_s: Array, t_t: Array,
                         t_mid: Array) -> SinglestepTables:
    """Tables of the steps ``t_s -> t_t`` (shape (N,)) with intermediate stages at the
    given times ``t_mid`` (shape (N, k-1), strictly between t_s and t_t)."""
    full = step_coefficients(process, param, t_s, t_t)
    mid = step_coefficients(process, param, t_s[:, None], t_mid)
    return SinglestepTables(full, t_mid, mid.A, mid.c1, mid.c2, mid.h / full.h[:, None])


def singlestep_tables(process: GaussianProcess, param: str, ts: Array,
                      fractions: tuple[float, ...]) -> SinglestepTables:
    """Tables of the steps ts[i] -> ts[i+1] with stages at lambda_s + r h, r in
    ``fractions``."""
    t_s, t_t = ts[:-1], ts[1:]
    if not fractions:
        full = step_coefficients(process, param, t_s, t_t)
        empty = jnp.zeros((t_s.shape[0], 0), ts.dtype)
        return SinglestepTables(full, empty, empty, empty, empty, empty)
    lam_s = half_log_snr(process, t_s)
    h = half_log_snr(process, t_t) - lam_s
    t_mid = jnp.stack([t_from_half_log_snr(process, lam_s + r * h) for r in fractions], -1)
    return singlestep_tables_at(process, param, t_s, t_t, t_mid)


# ---- the DPM-Solver engine: options, singlestep and multistep runners -------------------

METHODS = ("singlestep", "singlestep_fixed", "multistep")
ORDERS = (1, 2, 3)
DEFAULT_FRACTIONS = {1: (), 2: (0.5,), 3: (1.0 / 3.0, 2.0 / 3.0)}


def check_solver_options(name: str, order: int, method: str, r1: float | None,
                         r2: float | None) -> tuple[float, ...]:
    """Validate order/method/r1/r2; return the singlestep stage fractions (r1[, r2])."""
    checks.choice(name, "order", order, ORDERS)
    checks.choice(name, "method", method, METHODS)
    fr = list(DEFAULT_FRACTIONS[order])
    if method != "singlestep_fixed" or order == 1:
        if r1 is not None or r2 is not None:
            raise ValueError(f"{name}: r1/r2 only apply to method='singlestep_fixed' with "
                             f"order 2 or 3 (method='singlestep' places the stages at the "
                             f"grid times), got r1={r1}, r2={r2} with method={method!r}, "
                             f"order={order}.")
        return tuple(fr)
    if r1 is not None:
        fr[0] = float(r1)
    if r2 is not None:
        if order != 3:
            raise ValueError(f"{name}: r2 only applies to order 3, got r2={r2} with order=2.")
        fr[1] = float(r2)
    if not all(0.0 < r < 1.0 for r in fr) or (order == 3 and not fr[0] < fr[1]):
        raise ValueError(f"{name}: need 0 < r1 < 1 (and r1 < r2 < 1 for order 3), "
                         f"got {dict(zip(('r1', 'r2'), fr))}.")
    return tuple(fr)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), tree)


def singlestep_stages(f: Callable[[Array, Array], Array], x: Array, t: Array, t_mid: Array,
                      coefs: tuple, order: int) -> tuple[Array, Array, tuple[Array, ...]]:
    """One singlestep DPM-Solver-``order`` step from ``t``: ``(x_next, x_lower, stages)``.

    ``coefs = (A, c1, c2, A_mid, c1_mid, c2_mid, r)`` for this step (see
    :class:`SinglestepTables`). ``x_lower`` is
    the embedded lower-order solution sharing the same model calls (order 1 for
    order 2; DPM-Solver-2 with r1 = r_1 for order 3), used by the adaptive solver.
    ``stages`` are the ``order - 1`` intermediate states u_j at ``t_mid[j]`` (first-
    order u_1, second-order u_2), where the model is evaluated.
    """
    A, c1, c2, A_m, c1_m, c2_m, r = coefs
    m = f(x, t)
    first = A * x + c1 * m
    if order == 1:
        return first, first, ()
    u1 = A_m[0] * x + c1_m[0] * m
    m1 = f(u1, t_mid[0])
    second = first + (0.5 * c1 / r[0]) * (m1 - m)
    if order == 2:
        return second, first, (u1,)
    u2 = A_m[1] * x + c1_m[1] * m + (c2_m[1] * r[1] / r[0]) * (m1 - m)
    m2 = f(u2, t_mid[1])
    return first + (c2 / r[1]) * (m2 - m), second, (u1, u2)


def singlestep_step(f: Callable[[Array, Array], Array], x: Array, t: Array, t_mid: Array,
                    coefs: tuple, order: int) -> tuple[Array, Array]:
    """:func:`singlestep_stages` without the stages: ``(x_next, x_lower)``."""
    return singlestep_stages(f, x, t, t_mid, coefs, order)[:2]


def singlestep_coefs(tab: SinglestepTables, dtype) -> tuple:
    """The per-step coefficient tuple of :func:`singlestep_step`, cast to ``dtype``."""
    return _cast((tab.full.A, tab.full.c1, tab.full.c2, tab.A_mid, tab.c1_mid, tab.c2_mid,
                  tab.ratio), dtype)


def run_singlestep(f: Callable[[Array, Array], Array], process: GaussianProcess,
                   param: str, ts: Array, x_init: Array, order: int,
                   fractions: tuple[float, ...],
                   return_trajectory: bool) -> tuple[Array, Array | None]:
    """Singlestep DPM-Solver-``order`` with model output ``f(x, t)`` of kind ``param``
    ("eps": DPM-Solver, "x0": DPM-Solver++). ``order`` model calls per step."""
    tab = singlestep_tables(process, param, ts, fractions)
    dt = x_init.dtype

    def step(x, inp):
        t, t_mid, coefs = inp
        return singlestep_step(f, x, t, t_mid, coefs, order)[0].astype(dt)

    return run_scan(step, x_init, (ts[:-1], tab.t_mid, singlestep_coefs(tab, dt)),
                    lambda x: x, x_init, return_trajectory)


def run_singlestep_fast(f: Callable[[Array, Array], Array], process: GaussianProcess,
                        param: str, ts: Array, x_init: Array, order: int,
                        return_trajectory: bool) -> tuple[Array, Array | None]:
    """DPM-Solver-fast on the evaluation grid ``ts`` (N + 1 times): steps of orders
    ``singlestep_fast_orders(N, order)``, step j from ts[c_j] to ts[c_j + k_j] with its
    stages at the grid times in between (c_j = k_0 + ... + k_{j-1}); N model calls.

    One ``lax.scan`` per run of equal orders (at most three). The trajectory holds one
    state per grid time: the step end points, and the stage states u_1 (first order) and
    u_2 (second order) at the intermediate times.
    """
    n = ts.shape[0] - 1
    orders = singlestep_fast_orders(n, order)
    starts = np.cumsum((0,) + orders)[:-1]
    dt = x_init.dtype
    x, pieces, first = x_init, [x_init[None]], 0
    for k, group in itertools.groupby(orders):
        c = starts[first: first + len(list(group))]
        first += c.shape[0]
        t_mid = ts[c[:, None] + np.arange(1, k)[None, :]]  # (steps, k - 1)
        tab = singlestep_tables_at(process, param, ts[c], ts[c + k], t_mid)

        def step(x, inp, k=k):
            t, tm, coefs = inp
            x_next, _, stages = singlestep_stages(f, x, t, tm, coefs, k)
            x_next = x_next.astype(dt)
            states = jnp.stack([*(u.astype(dt) for u in stages), x_next]) \
                if return_trajectory else None
            return x_next, states

        x, states = jax.lax.scan(step, x, (ts[c], tab.t_mid, singlestep_coefs(tab, dt)))
        if return_trajectory:
            pieces.append(states.reshape((-1,) + x.shape))
    return x, (jnp.concatenate(pieces, axis=0) if return_trajectory else None)


def run_multistep(f: Callable[[Array, Array], Array], process: GaussianProcess,
                  param: str, ts: Array, x_init: Array, order: int, lower_order_final: bool,
                  return_trajectory: bool, second_difference: str = "taylor"
                  ) -> tuple[Array, Array | None]:
    """Multistep DPM-Solver-``order`` (one model call per step): x_{i+1} = A_i x_i +
    sum_j W_ij m_{i-j} with warm-up/final orders baked into the weight table."""
    coefs = step_coefficients(process, param, ts[:-1], ts[1:])
    w = multistep_weights(coefs, multistep_orders(ts.shape[0] - 1, order, lower_order_final),
                          second_difference)
    return multistep.run(f, x_init, ts, coefs.A, w[:, :order],
                         return_trajectory=return_trajectory)


def solve(f: Callable[[Array, Array], Array], process: GaussianProcess, param: str,
          x_init: Array, ts: Array, *, order: int, method: str, lower_order_final: bool,
          fractions: tuple[float, ...], return_trajectory: bool,
          second_difference: str = "taylor") -> SampleOutput:
    """Dispatch to the singlestep or multistep runner and count NFE."""
    n = ts.shape[0] - 1
    if method == "singlestep":
        x, traj = run_singlestep_fast(f, process, param, ts, x_init, order, return_trajectory)
        nfe = n
    elif method == "singlestep_fixed":
        x, traj = run_singlestep(f, process, param, ts, x_init, order, fractions,
                                 return_trajectory)
        nfe = order * n
    else:
        x, traj = run_multistep(f, process, param, ts, x_init, order, lower_order_final,
                                return_trajectory, second_difference)
        nfe = n
    return SampleOutput(x=x, trajectory=traj, nfe=nfe)
