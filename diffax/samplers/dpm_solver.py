"""DPM-Solver: exponential integrators for the diffusion ODE with a noise predictor.

Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver: A Fast ODE Solver for Diffusion
Probabilistic Model Sampling in Around 10 Steps", NeurIPS 2022 (arXiv:2206.00927).
In lambda = log(alpha/sigma) time, one step s -> t with h = lambda_t - lambda_s reads
(see :mod:`.exponential_integrators`; eps_s = eps_theta(x_s, s)):

* DPM-Solver-1 (= DDIM, Song et al., 2021):
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s.
* DPM-Solver-2 (singlestep, Algorithm 1, r1 = 1/2): s1 = t(lambda_s + r1 h),
      u   = (alpha_s1/alpha_s) x_s - sigma_s1 (e^{r1 h} - 1) eps_s,
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s
            - sigma_t/(2 r1) (e^h - 1) (eps(u, s1) - eps_s).
* DPM-Solver-3 (singlestep, Algorithm 2, r1 = 1/3, r2 = 2/3):
      u1  = (alpha_s1/alpha_s) x_s - sigma_s1 (e^{r1 h} - 1) eps_s,
      u2  = (alpha_s2/alpha_s) x_s - sigma_s2 (e^{r2 h} - 1) eps_s
            - sigma_s2 (r2/r1) ((e^{r2 h} - 1)/(r2 h) - 1) (eps(u1, s1) - eps_s),
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s
            - sigma_t/r2 ((e^h - 1)/h - 1) (eps(u2, s2) - eps_s).
* DPM-Solver-fast (Lu et al., 2022a, Sec. 3.4), ``method="singlestep"``: for a budget of
  N model evaluations, singlestep steps of orders
  :func:`~diffax.samplers.exponential_integrators.singlestep_fast_orders` (mostly
  ``order``, ending with lower orders) whose evaluations sum to N exactly. Here
  ``timesteps`` lists the N + 1 times t_0 > ... > t_N at which the model is evaluated
  (t_N excepted): a step of order k spans k grid intervals, from t_c to t_{c+k}, with its
  intermediate stages at the grid times in between (r_j = (lambda_{c+j} - lambda_c)/h).
  On a grid uniform in time (or in sqrt(t)) this is the algorithm of the reference
  implementation's ``method="singlestep"``: its outer steps are the points of the N-step
  grid at the cumulative orders, and its inner stages the same grid's points in between.
  (For ``skip_type="logSNR"`` the reference instead takes K equal outer steps in lambda;
  here a uniform-lambda grid gives steps proportional to their order.)
* ``method="singlestep_fixed"``: order ``order`` on every step, ``timesteps`` are the
  steps' end points and the stages sit at lambda_s + r_j h (r1, r2 as above).
* Multistep DPM-Solver-2M / -3M (Lu et al., 2022b, "DPM-Solver++", Appendix; the
  noise-prediction counterparts of Algorithm 2): the derivatives come from the model
  values at the previous 1-2 grid points (divided differences on the lambda grid),
  one model evaluation per step; the first steps use lower orders (warm-up) and
  ``lower_order_final`` lowers the order of the last steps when N < 10. 2M uses the
  "dpmsolver" (midpoint) form, x_t = ... - sigma_t (e^h - 1) (eps_i + (eps_i -
  eps_{i-1})/(2 r)); 3M uses the Taylor form with the second divided difference
  weighted by its Taylor coefficient (the reference implementation weights it by half
  of that, which makes its 3M second order: see
  :func:`~diffax.samplers.exponential_integrators.multistep_weights`).

NFE for a grid of N steps (len(timesteps) - 1): N for ``"singlestep"`` (DPM-Solver-fast)
and ``"multistep"``; k N for ``"singlestep_fixed"`` of order k.

Orders: singlestep-fixed and multistep DPM-Solver-k have global order k (measured in
tests/samplers/test_dpm_solver.py). DPM-Solver-fast of order 3 ends with a first-order
step unless N = 2 (mod 3) (orders ..., 3, 2); in theory that step's O(h^2) local error
caps the asymptotic order at 2 for those budgets. On the oracle it is not visible (3.15
for N = 24, 48, 96, as for N = 23, 47, 95): the last step is short in lambda and the
model output hardly changes there. The rule is meant for small budgets; docs/samplers.md
compares it with fixed orders at NFE 5-50.
"""

from __future__ import annotations

from typing import Callable

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from diffax.processes.base import GaussianProcess
from diffax.samplers import exponential_integrators as ei
from diffax.samplers.base import (
    ModelFn,
    SampleOutput,
    check_timesteps,
    predictor,
    run_scan,
)
from diffax.samplers.registry import register

Array = jax.Array
METHODS = ("singlestep", "singlestep_fixed", "multistep")
ORDERS = (1, 2, 3)
DEFAULT_FRACTIONS = {1: (), 2: (0.5,), 3: (1.0 / 3.0, 2.0 / 3.0)}


def check_options(name: str, order: int, method: str, r1: float | None,
                  r2: float | None) -> tuple[float, ...]:
    """Validate order/method/r1/r2; return the singlestep stage fractions (r1[, r2])."""
    if order not in ORDERS:
        raise ValueError(f"{name}: order must be one of {list(ORDERS)}, got order={order!r}.")
    if method not in METHODS:
        raise ValueError(f"{name}: unknown method {method!r}; valid choices: {list(METHODS)}.")
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
    :class:`~diffax.samplers.exponential_integrators.SinglestepTables`). ``x_lower`` is
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


def singlestep_coefs(tab: ei.SinglestepTables, dtype) -> tuple:
    """The per-step coefficient tuple of :func:`singlestep_step`, cast to ``dtype``."""
    return _cast((tab.full.A, tab.full.c1, tab.full.c2, tab.A_mid, tab.c1_mid, tab.c2_mid,
                  tab.ratio), dtype)


def run_singlestep(f: Callable[[Array, Array], Array], process: GaussianProcess,
                   param: str, ts: Array, x_init: Array, order: int,
                   fractions: tuple[float, ...],
                   return_trajectory: bool) -> tuple[Array, Array | None]:
    """Singlestep DPM-Solver-``order`` with model output ``f(x, t)`` of kind ``param``
    ("eps": DPM-Solver, "x0": DPM-Solver++). ``order`` model calls per step."""
    tab = ei.singlestep_tables(process, param, ts, fractions)
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
    orders = ei.singlestep_fast_orders(n, order)
    starts = np.cumsum((0,) + orders)[:-1]
    dt = x_init.dtype
    x, pieces, first = x_init, [x_init[None]], 0
    for k, group in itertools.groupby(orders):
        c = starts[first: first + len(list(group))]
        first += c.shape[0]
        t_mid = ts[c[:, None] + np.arange(1, k)[None, :]]  # (steps, k - 1)
        tab = ei.singlestep_tables_at(process, param, ts[c], ts[c + k], t_mid)

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
                  return_trajectory: bool) -> tuple[Array, Array | None]:
    """Multistep DPM-Solver-``order`` (one model call per step): x_{i+1} = A_i x_i +
    sum_j W_ij m_{i-j} with warm-up/final orders baked into the weight table."""
    coefs = ei.step_coefficients(process, param, ts[:-1], ts[1:])
    orders = ei.multistep_orders(ts.shape[0] - 1, order, lower_order_final)
    w = ei.multistep_weights(coefs, orders)[:, :order]
    dt = x_init.dtype
    hist0 = tuple(jnp.zeros_like(x_init) for _ in range(order - 1))

    def step(carry, inp):
        x, hist = carry
        t, A, wi = inp
        m = f(x, t).astype(dt)
        x_new = A * x + wi[0] * m
        for j, mj in enumerate(hist):
            x_new = x_new + wi[j + 1] * mj
        return x_new.astype(dt), ((m,) + hist)[: order - 1]

    (x, _), traj = run_scan(step, (x_init, hist0), (ts[:-1], *_cast((coefs.A, w), dt)),
                            lambda c: c[0], x_init, return_trajectory)
    return x, traj


def solve(f: Callable[[Array, Array], Array], process: GaussianProcess, param: str,
          x_init: Array, ts: Array, *, order: int, method: str, lower_order_final: bool,
          fractions: tuple[float, ...], return_trajectory: bool) -> SampleOutput:
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
                                return_trajectory)
        nfe = n
    return SampleOutput(x=x, trajectory=traj, nfe=nfe)


def dpm_solver(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
               timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
               return_trajectory: bool = False, cond: dict | None = None, order: int = 2,
               method: str = "multistep", lower_order_final: bool = True,
               r1: float | None = None, r2: float | None = None) -> SampleOutput:
    """DPM-Solver (noise prediction), singlestep or multistep, order 1-3.

    Args:
      order: 1 (DDIM), 2 or 3.
      method: "multistep" (one evaluation per step), "singlestep" (DPM-Solver-fast:
        ``timesteps`` are the N + 1 evaluation times, steps of mixed orders up to
        ``order`` spend exactly N evaluations) or "singlestep_fixed" (``order``
        evaluations on every step, stages at lambda_s + r_j h). See the module doc.
      lower_order_final: multistep only; with fewer than 10 steps, step i uses order
        min(order, N - i) (Lu et al.'s reference implementation).
      r1, r2: "singlestep_fixed" stage fractions in lambda (defaults 1/2; 1/3 and 2/3).
    ``key`` is ignored (deterministic).
    """
    fractions = check_options("dpm_solver", order, method, r1, r2)
    ts = check_timesteps(timesteps, process, name="dpm_solver")
    f = predictor(model_fn, prediction, process, "eps", cond)
    return solve(f, process, "eps", x_init, ts, order=order, method=method,
                 lower_order_final=lower_order_final, fractions=fractions,
                 return_trajectory=return_trajectory)


register("dpm_solver_1", dpm_solver, order=1, nfe=lambda n: n,
         options=dict(order=1, method="singlestep"))
register("dpm_solver_2s", dpm_solver, order=2, nfe=lambda n: n,
         options=dict(order=2, method="singlestep"))
register("dpm_solver_3s", dpm_solver, order=3, nfe=lambda n: n,
         options=dict(order=3, method="singlestep"))
register("dpm_solver_2s_fixed", dpm_solver, order=2, nfe=lambda n: 2 * n,
         options=dict(order=2, method="singlestep_fixed"))
register("dpm_solver_3s_fixed", dpm_solver, order=3, nfe=lambda n: 3 * n,
         options=dict(order=3, method="singlestep_fixed"))
register("dpm_solver_2m", dpm_solver, order=2, nfe=lambda n: n,
         options=dict(order=2, method="multistep"))
register("dpm_solver_3m", dpm_solver, order=3, nfe=lambda n: n,
         options=dict(order=3, method="multistep"))
