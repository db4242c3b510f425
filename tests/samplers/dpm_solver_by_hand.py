"""A NumPy transcription of the adaptive DPM-Solver of Lu et al. (2022), Algorithm 4, on
VP-linear, shared by the tests that pin it (test_dpm_solver_constants.py: the model-call
times; test_dpm_solver_adaptive_mutants.py: every state and count).

One trial s -> t in lambda = log(alpha/sigma), h = lambda_t - lambda_s, stages at
s_j = t(lambda_s + r_j h) (Lu et al., 2022a, Algorithms 1-2; 2022b for data prediction):

    noise (DPM-Solver):  A = alpha_t/alpha_s, c1 = -sigma_t (e^h - 1),
                         c2 = -sigma_t ((e^h - 1)/h - 1)
    data (DPM-Solver++): A = sigma_t/sigma_s, c1 = -alpha_t (e^-h - 1),
                         c2 = alpha_t ((e^-h - 1)/h + 1)

    order 2 (r1 = 1/2): u1 = A_1 x + c1_1 m, x_low = A x + c1 m (DPM-Solver-1),
                        x_high = x_low + c1/(2 r1) (m(u1) - m)
    order 3 (r1 = 1/3, r2 = 2/3): u2 = A_2 x + c1_2 m + (r2/r1) c2_2 (m(u1) - m),
                        x_low = DPM-Solver-2 with r1 = 1/3, x_high = A x + c1 m + c2/r2 (m(u2) - m)

Controller (Algorithm 4): delta = max(atol, rtol max(|x_low|, |x_prev|)),
E = max over the batch of RMS((x_high - x_low)/delta), accept iff E <= 1,
h <- theta h E^(-1/order) (clipped to the rest of the interval at the next trial), with
h_init = 0.05, theta = 0.9, rtol = 0.05, atol = 0.0078.
"""

import jax.numpy as jnp
import numpy as np

from diffax.processes import VPLinear
from diffax.samplers import exponential_integrators as ei

P = VPLinear()


def x_dependent_model(x, t, xp):
    """An x-dependent model: m(x, t) = 0.3 sin(x) + 3 sin(9 t) + 2 t."""
    t = xp.reshape(t, (-1,) + (1,) * (x.ndim - 1))
    return 0.3 * xp.sin(x) + 3.0 * xp.sin(9.0 * t) + 2.0 * t


def as_float(f, t):
    return float(np.asarray(f(jnp.asarray(t, jnp.float64))))


def lam(t):
    return as_float(lambda u: ei.half_log_snr(P, u), t)


def t_of(lam):
    return as_float(lambda u: ei.t_from_half_log_snr(P, u), lam)


def coefs(param, s, t):
    """(A, c1, c2) of the step s -> t, in closed form (the module docstring)."""
    h = lam(t) - lam(s)
    a_s, a_t = as_float(P.alpha, s), as_float(P.alpha, t)
    s_s, s_t = as_float(P.sigma, s), as_float(P.sigma, t)
    if param == "eps":
        return a_t / a_s, -s_t * np.expm1(h), -s_t * (np.expm1(h) / h - 1.0)
    return s_t / s_s, -a_t * np.expm1(-h), a_t * (np.expm1(-h) / h + 1.0)


def trial(param, order, x, s, t, model=x_dependent_model):
    """(x_high, x_low) of one DPM-Solver-12 / -23 trial from s to t; ``model(x, t, np)``
    gets one time per example."""
    m = model(x, np.full(x.shape[0], s), np)
    A, c1, c2 = coefs(param, s, t)
    lam_s, h = lam(s), lam(t) - lam(s)
    r1, r2 = (0.5, None) if order == 2 else (1 / 3, 2 / 3)
    s1 = t_of(lam_s + r1 * h)
    A1, c11, _ = coefs(param, s, s1)
    m1 = model(A1 * x + c11 * m, np.full(x.shape[0], s1), np)
    first = A * x + c1 * m
    second = first + c1 / (2 * r1) * (m1 - m)
    if order == 2:
        return second, first
    s2 = t_of(lam_s + r2 * h)
    A2, c12, c22 = coefs(param, s, s2)
    m2 = model(A2 * x + c12 * m + (r2 / r1) * c22 * (m1 - m), np.full(x.shape[0], s2), np)
    return first + c2 / r2 * (m2 - m), second


def algorithm4(param, order, x0, ts, *, rtol=0.05, atol=0.0078, h_init=0.05, theta=0.9,
                max_steps=1000, model=x_dependent_model):
    """Algorithm 4 over each interval of ``ts`` (h carried over): the state at every time,
    the trial count, the accepted count."""
    x = x_prev = np.asarray(x0, np.float64)
    h, trials, accepted, traj = h_init, 0, 0, [x]
    for k in range(len(ts) - 1):
        s, lam_s, lam_end = ts[k], lam(ts[k]), lam(ts[k + 1])
        while lam_s < lam_end and trials < max_steps:
            last = h >= lam_end - lam_s
            h = min(h, lam_end - lam_s)
            t = ts[k + 1] if last else t_of(lam_s + h)
            x_high, x_low = trial(param, order, x, s, t, model)
            delta = np.maximum(atol, rtol * np.maximum(np.abs(x_low), np.abs(x_prev)))
            e = np.max(np.sqrt(np.mean(((x_high - x_low) / delta) ** 2, axis=1)))
            trials += 1
            if e <= 1.0:
                x, x_prev, s, accepted = x_high, x_low, t, accepted + 1
                lam_s = lam_end if last else lam(t)
            h = theta * h * max(e, 1e-12) ** (-1.0 / order)
        traj.append(x)
    return np.stack(traj), trials, accepted

