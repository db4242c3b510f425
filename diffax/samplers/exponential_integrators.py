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

The DPM-Solver engine that uses this algebra (option checks, singlestep stages, the
singlestep, DPM-Solver-fast and multistep runners) is :mod:`.dpm_solver_engine`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import multistep

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
