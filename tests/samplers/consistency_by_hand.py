"""NumPy transcriptions for the mutation tests of the consistency samplers and their grids
(test_consistency_mutants.py, test_consistency_grid_mutants.py). Written from the papers,
not from diffax; VP-linear's closed forms come from unipc_by_hand.py and its inverse of
the noise level s = sigma / alpha from edm_heun_by_hand.py.

* Multistep consistency sampling (Song, Dhariwal, Chen & Sutskever, 2023, "Consistency
  Models", Algorithm 1) on a grid t_0 > ... > t_N, for any alpha / sigma process:
  y_i = f(x_i, t_i), x_{i+1} = alpha_{i+1} / alpha_N y_i
  + sqrt(sigma_{i+1}^2 - (alpha_{i+1} sigma_N / alpha_N)^2) z_i, the noise 0 at i = N - 1
  (with alpha = 1, t_N = eps: the paper's x <- x + sqrt(tau^2 - eps^2) z).
* Hyper-SD's s-step sampler (Ren et al., 2024, "Hyper-SD", Sec. 3.1): x_{i+1} = f(x_i, t_i).
* The training grids of LCM / SCott / Hyper-SD: a grid linear in u(t), with u = t
  ("uniform_time"), u = s^(1/7) (Karras et al. 2022, eq. 5, rho = 7; "karras") and
  u = -log-SNR = 2 log s ("log_snr"), clamped to [t_min, t_max] on the non-uniform grids;
  Hyper-SD's boundaries b_j = t(j / s).
"""

import numpy as np

from edm_heun_by_hand import s_of, t_of_s
from unipc_by_hand import alpha, eps_model, sigma

RHO = 7.0  # Karras et al. (2022), eq. 5 and Table 1
# t_min, t_max and the noise level s(t) = sigma / alpha and its inverse of two processes
EDM_ = dict(t_min=0.002, t_max=80.0, s=lambda t: np.asarray(t, np.float64), t=lambda s: s)
VP_ = dict(t_min=1e-3, t_max=1.0, s=s_of, t=t_of_s)


def x0_of(x, t, shift=0.0):
    """The eps model of linear_step_problem.py read as a data prediction on VP-linear."""
    return (x - sigma(t) * eps_model(x, t, shift)) / alpha(t)


def consistency_by_hand(x, ts, z, f, alpha_of=alpha, sigma_of=sigma):
    """Every state x_0..x_N of Algorithm 1; ``f(x, t)`` the consistency function,
    ``z[i]`` the draws of step i."""
    ts = np.asarray(ts, np.float64)
    n = len(ts) - 1
    a_n, s_n = alpha_of(ts[-1]), sigma_of(ts[-1])
    states = [np.asarray(x, np.float64)]
    for i in range(n):
        y = f(states[-1], ts[i])
        a = alpha_of(ts[i + 1]) / a_n
        b = 0.0 if i == n - 1 else np.sqrt(sigma_of(ts[i + 1]) ** 2 - (a * s_n) ** 2)
        states.append(a * y + b * z[i])
    return np.stack(states)


def segmented_by_hand(x, ts, f):
    """Every state of x_{i+1} = f(x_i, t_i), i = 0..N-1."""
    states = [np.asarray(x, np.float64)]
    for t in np.asarray(ts, np.float64)[:-1]:
        states.append(f(states[-1], t))
    return np.stack(states)


def _u(s, grid):
    return s ** (1.0 / RHO) if grid == "karras" else 2.0 * np.log(s)


def _s_of_u(u, grid):
    return u ** RHO if grid == "karras" else np.exp(u / 2.0)


def grid_time(proc, r, grid):
    """t(r) of the grid on a process given as EDM_ or VP_."""
    r = np.asarray(r, np.float64)
    lo, hi = proc["t_min"], proc["t_max"]
    if grid == "uniform_time":
        return lo + r * (hi - lo)
    u_lo, u_hi = _u(proc["s"](lo), grid), _u(proc["s"](hi), grid)
    t = proc["t"](_s_of_u(u_lo + r * (u_hi - u_lo), grid))
    return np.where(r <= 0, lo, np.where(r >= 1, hi, t))


def grid_position(proc, t, grid):
    """r(t), the inverse of grid_time on [t_min, t_max]."""
    t = np.asarray(t, np.float64)
    lo, hi = proc["t_min"], proc["t_max"]
    if grid == "uniform_time":
        return (t - lo) / (hi - lo)
    u_lo, u_hi = _u(proc["s"](lo), grid), _u(proc["s"](hi), grid)
    return (_u(proc["s"](t), grid) - u_lo) / (u_hi - u_lo)


def boundaries(proc, s, grid):
    """b_0 < ... < b_s, b_j = t(j / s)."""
    return grid_time(proc, np.arange(s + 1) / s, grid)
