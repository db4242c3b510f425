"""Exponential-integrator algebra in log-SNR time, shared by the DPM-Solver family.

With lambda = log(alpha / sigma) (half the log-SNR of :mod:`diffax.processes`) and a
step from s to t, h = lambda_t - lambda_s > 0, the probability-flow ODE has the exact
solutions (Lu et al., 2022a, eq. (3.4); Lu et al., 2022b, eq. (8))

    noise prediction:  x_t = (alpha_t/alpha_s) x_s - sigma_t int_0^h e^{h-tau} eps(tau) dtau
    data prediction:   x_t = (sigma_t/sigma_s) x_s + alpha_t int_0^h e^{-(h-tau)} x0(tau) dtau

(tau = lambda - lambda_s). Expanding the model output m(tau) = sum_k m^(k) tau^k / k!
and integrating term by term,

    x_t = A x_s + c_1 m + c_2 D_1 + c_3 D_2,      D_k ~ h^k m^(k),
    c_k = P h phi_k(z),

with A = alpha_t/alpha_s, P = -sigma_t, z = h (noise) or A = sigma_t/sigma_s,
P = alpha_t, z = -h (data), and the phi-functions of exponential integrators

    phi_1(z) = (e^z - 1)/z,   phi_{k+1}(z) = (phi_k(z) - 1/k!)/z,   phi_k(0) = 1/k!.

:func:`phis` evaluates them without cancellation for small |z| (Taylor series), so the
coefficients stay accurate for tiny steps in float32 (UniPC uses them too). The
DPM-Solver samplers differ only in how they estimate D_1, D_2 (intermediate stages or
past steps); the weight tables are computed here before the scan.

The second half is the DPM-Solver engine shared by DPM-Solver (noise prediction),
DPM-Solver++ (data prediction) and the adaptive DPM-Solver: option checks, the
singlestep stages (:func:`singlestep_stages`, with the embedded lower-order solution),
the singlestep, DPM-Solver-fast and multistep runners (the latter on
:mod:`diffax.samplers.multistep`) and :func:`solve`. It sees the model only as
``f(x, t) -> m`` in the parameterization ``param``.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import multistep
from diffax.samplers.base import SampleOutput, run_scan

Array = jax.Array

PARAMETERIZATIONS = ("eps", "x0")
_SMALL = 0.5  # |z| below this: Taylor series; above: recursion from expm1.
_SERIES_TERMS = 14  # truncation error below 0.5^14 / 17! < 2e-19.


def phis(z: Array, k_max: int = 3) -> tuple[Array, ...]:
    """``(phi_1(z), ..., phi_kmax(z))``, accurate for every z.

    For |z| < 1/2 the series phi_k(z) = sum_n z^n/(n + k)! gives phi_kmax, and the lower
    ones follow from phi_k = 1/k! + z phi_{k+1} (no cancellation); otherwise
    phi_1 = expm1(z)/z and phi_{k+1} = (phi_k - 1/k!)/z lose at most a few bits.
    """
    if k_max < 1:
        raise ValueError(f"phis: k_max must be >= 1, got k_max={k_max}.")
    z = jnp.asarray(z)
    small = jnp.abs(z) < _SMALL
    # Double-where: neither branch sees values that produce inf/nan (or nan gradients).
    zd = jnp.where(small, 1.0, z)
    direct = [jnp.expm1(zd) / zd]
    for j in range(1, k_max):
        direct.append((direct[-1] - 1.0 / math.factorial(j)) / zd)
    zs = jnp.where(small, z, 0.0)
    top = jnp.zeros_like(zs)
    for n in reversed(range(_SERIES_TERMS)):
        top = top * zs + 1.0 / math.factorial(n + k_max)
    series = [top]
    for k in range(k_max - 1, 0, -1):
        series.insert(0, 1.0 / math.factorial(k) + zs * series[0])
    return tuple(jnp.where(small, s, d) for s, d in zip(series, direct))


def phi(k: int, z: Array) -> Array:
    """phi_k(z) for k >= 1 (see :func:`phis`)."""
    if k < 1:
        raise ValueError(f"phi: k must be >= 1, got k={k}.")
    return phis(z, k)[k - 1]


def half_log_snr(process: GaussianProcess, t: Array) -> Array:
    """lambda(t) = log alpha(t) - log sigma(t), the DPM-Solver time variable."""
    return process.log_alpha(t) - process.log_sigma(t)


def t_from_half_log_snr(process: GaussianProcess, lam: Array) -> Array:
    return process.t_from_log_snr(2.0 * jnp.asarray(lam))


class StepCoefficients(NamedTuple):
    """x_t = A x_s + c1 m + c2 D1 + c3 D2 for one step s -> t (arrays over steps)."""

    A: Array
    c1: Array
    c2: Array
    c3: Array
    h: Array


def check_parameterization(param: str) -> str:
    return checks.choice("exponential integrator", "parameterization", param,
                         PARAMETERIZATIONS)


def step_coefficients(process: GaussianProcess, param: str, t_s: Array,
                      t_t: Array) -> StepCoefficients:
    """Coefficients of the exponential-integrator step from ``t_s`` to ``t_t``."""
    check_parameterization(param)
    la_s, ls_s = process.log_alpha(t_s), process.log_sigma(t_s)
    la_t, ls_t = process.log_alpha(t_t), process.log_sigma(t_t)
    h = (la_t - ls_t) - (la_s - ls_s)
    if param == "eps":
        A, pref, z = jnp.exp(la_t - la_s), -jnp.exp(ls_t), h
    else:
        A, pref, z = jnp.exp(ls_t - ls_s), jnp.exp(la_t), -h
    c1, c2, c3 = (pref * h * p for p in phis(z, 3))
    return StepCoefficients(A, c1, c2, c3, h)


# ---- multistep -------------------------------------------------------------------------

LOWER_ORDER_FINAL_MAX_STEPS = 10  # reference implementation (Lu et al.): steps < 10


def multistep_orders(n_steps: int, order: int, lower_order_final: bool) -> np.ndarray:
    """Effective order of each of the N steps: warm-up min(order, i + 1) and, with
    ``lower_order_final`` and N < 10, min(order, N - i) at the end (the reference
    implementation's rule; it stabilizes very-few-step sampling)."""
    return multistep.step_orders(n_steps, order, lower_order_final=lower_order_final
                                 and n_steps < LOWER_ORDER_FINAL_MAX_STEPS)


#: third-order multistep weightings of the second divided difference: "taylor" (diffax's
#: default, third order) or "reference" (Lu et al.'s code and diffusers: half of it)
SECOND_DIFFERENCES = ("taylor", "reference")


def multistep_weights(coefs: StepCoefficients, orders: np.ndarray,
                      second_difference: str = "taylor") -> Array:
    """Weights ``W`` (N, 3) with x_{i+1} = A_i x_i + W_i0 m_i + W_i1 m_{i-1} + W_i2 m_{i-2}.

    Order 2 is the "dpmsolver" (midpoint) form of DPM-Solver-2M / DPM-Solver++(2M)
    (Lu et al., 2022b, Algorithm 2): c1 m_i + c1/(2 r0) (m_i - m_{i-1}).
    Order 3 uses the Taylor form with divided differences on the non-uniform lambda
    grid, r0 = h_{i-1}/h_i, r1 = h_{i-2}/h_i:

        D1_0 = (m_i - m_{i-1})/r0,  D1_1 = (m_{i-1} - m_{i-2})/r1,
        D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1)        ~ h m',
        D2 = 2 (D1_0 - D1_1)/(r0 + r1)                ~ h^2 m''.

    (The reference implementation weights (D1_0 - D1_1)/(r0 + r1) ~ h^2 m''/2 by c3, half
    the Taylor coefficient, which makes its 3M a second-order method; see the tests.
    ``second_difference="reference"`` reproduces it: D2 = (D1_0 - D1_1)/(r0 + r1).)
    """
    checks.choice("multistep_weights", "second_difference", second_difference,
                  SECOND_DIFFERENCES)
    h = coefs.h
    h_prev = multistep.lagged(h, (1, 2))  # h_{i-1}, h_{i-2} (h_0 before the start)
    r0, r1 = h_prev[:, 0] / h, h_prev[:, 1] / h
    zero = jnp.zeros_like(h)
    c1, c2, c3 = coefs.c1, coefs.c2, coefs.c3
    w1 = jnp.stack([c1, zero, zero], -1)
    w2 = jnp.stack([c1 * (1.0 + 0.5 / r0), -0.5 * c1 / r0, zero], -1)
    d10 = jnp.stack([1.0 / r0, -1.0 / r0, zero], -1)
    diff = jnp.stack([1.0 / r0, -1.0 / r0 - 1.0 / r1, 1.0 / r1], -1)  # D1_0 - D1_1
    d1 = d10 + (r0 / (r0 + r1))[:, None] * diff
    d2_factor = 2.0 if second_difference == "taylor" else 1.0
    d2 = (d2_factor / (r0 + r1))[:, None] * diff
    w3 = c1[:, None] * jnp.array([1.0, 0.0, 0.0], h.dtype) + c2[:, None] * d1 + c3[:, None] * d2
    k = jnp.asarray(orders)[:, None]
    return jnp.where(k == 1, w1, jnp.where(k == 2, w2, w3))


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
