"""NumPy transcription of the EDM samplers (Karras et al., 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", Algorithms 1 and 2) in the scaled
coordinates y = x / alpha, s = sigma / alpha, for test_edm_heun_mutants.py. Written from
the paper, not from diffax: VP-linear's closed-form alpha and sigma (unipc_by_hand.py)
and its inverse of the log-SNR solved as a quadratic in t here.

Algorithm 2, step i (Algorithm 1: gamma_i = 0):
    gamma_i = min(S_churn / N, sqrt(2) - 1) if S_tmin <= s_i <= S_tmax else 0,
    s_hat = (1 + gamma_i) s_i,  y_hat = y_i + sqrt(s_hat^2 - s_i^2) S_noise xi_i,
    d = eps(x_hat, t_hat),  y' = y_hat + (s_{i+1} - s_hat) d,
    d' = eps(alpha_{i+1} y', t_{i+1}),  y_{i+1} = y_hat + (s_{i+1} - s_hat) (d + d') / 2,
with x = alpha y, and y_{i+1} = y' on a last step without correction.
"""

import math

import numpy as np

from unipc_by_hand import B0, B1, alpha, eps_model, sigma


def s_of(t):
    """EDM noise level sigma / alpha of VP-linear."""
    return sigma(t) / alpha(t)


def t_of_s(s):
    """VP-linear's time of noise level s: alpha^2 = 1 / (1 + s^2), i.e.
    0.25 (B1 - B0) t^2 + 0.5 B0 t - 0.5 log(1 + s^2) = 0, the positive root."""
    a, b, c = 0.25 * (B1 - B0), 0.5 * B0, -0.5 * np.log1p(np.asarray(s) ** 2)
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def gamma(s, n, s_churn, s_min, s_max):
    return np.where((s >= s_min) & (s <= s_max), min(s_churn / n, math.sqrt(2.0) - 1.0), 0.0)


def heun_by_hand(x, ts, *, xi=None, s_churn=0.0, s_min=0.0, s_max=math.inf, s_noise=1.0,
                 final_euler=False, shift=0.0, eps=None):
    """Every state x_0..x_N on VP-linear; ``xi[i]`` the standard normal draws of step i
    (needed when a step is churned)."""
    eps = eps or (lambda x, t: eps_model(x, t, shift))
    ts = np.asarray(ts, np.float64)
    n = len(ts) - 1
    g = gamma(s_of(ts[:-1]), n, s_churn, s_min, s_max)
    states = [x]
    for i in range(n):
        t, t_next = ts[i], ts[i + 1]
        s, s_next = s_of(t), s_of(t_next)
        y = x / alpha(t)
        if g[i] > 0:
            s_hat = (1.0 + g[i]) * s
            t_hat = t_of_s(s_hat)
            y = y + math.sqrt(s_hat**2 - s**2) * s_noise * xi[i]
        else:
            s_hat, t_hat = s, t
        h = s_next - s_hat
        d = eps(alpha(t_hat) * y, t_hat)
        y_e = y + h * d
        if final_euler and i == n - 1:
            x = alpha(t_next) * y_e
        else:
            d2 = eps(alpha(t_next) * y_e, t_next)
            x = alpha(t_next) * (y + h * (0.5 * d + 0.5 * d2))
        states.append(x)
    return np.stack(states)
