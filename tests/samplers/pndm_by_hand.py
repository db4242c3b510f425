"""NumPy transcription of the pseudo numerical methods of Liu, Ren, Lin & Zhao (2022),
"Pseudo Numerical Methods for Diffusion Models on Manifolds" (ICLR 2022), for
test_pndm_mutants.py: S-PNDM and F-PNDM (Sec. 3.3 and 4), the PLMS sampler of latent
diffusion (Rombach et al., 2022: improved-Euler start, then Adams-Bashforth of order 2,
3, 4) and iPNDM (Zhang & Chen, 2023, DEIS, Sec. 4: Adams-Bashforth of order 1, 2, 3, 4
on the first steps, one evaluation per step). Written from the papers, not from diffax,
on VP-linear with its closed-form alpha and sigma (unipc_by_hand.py).

Transfer part (eq. 9, the DDIM step from t to t'):
    phi(x, e, t, t') = alpha' (x - sigma e) / alpha + sigma' e.
Pseudo improved Euler (eq. 11): e' = (e_0 + eps(phi(x, e_0, t, t'), t')) / 2.
Pseudo Runge-Kutta (eq. 13), t_m = (t + t') / 2:
    e1 = eps(x, t), e2 = eps(phi(x, e1, t, t_m), t_m), e3 = eps(phi(x, e2, t, t_m), t_m),
    e4 = eps(phi(x, e3, t, t'), t'), e' = (e1 + 2 e2 + 2 e3 + e4) / 6.
Pseudo linear multistep (eq. 12) and its lower orders: e' = sum_j b_j e_{i-j} with the
Adams-Bashforth weights b (newest first) of ``AB``; the history holds e1 = eps(x_i, t_i)
of every step (the warm-up's other evaluations are not kept).
"""

import numpy as np

from unipc_by_hand import alpha, eps_model, sigma

# Adams-Bashforth weights, newest first (Hairer, Norsett & Wanner, Sec. III.1).
AB = {1: [1.0], 2: [3 / 2, -1 / 2], 3: [23 / 12, -16 / 12, 5 / 12],
      4: [55 / 24, -59 / 24, 37 / 24, -9 / 24]}

# variant -> (warm-up: None, "euler" or "rk"; warm-up steps; largest multistep order)
PLAN = {"s_pndm": ("euler", 1, 2), "f_pndm": ("rk", 3, 4), "plms": ("euler", 1, 4),
        "ipndm": (None, 0, 4)}


def phi(x, e, t, t_next):
    return alpha(t_next) * (x - sigma(t) * e) / alpha(t) + sigma(t_next) * e


def pndm_by_hand(x, ts, variant, eps=None):
    """Every state x_0..x_N and the number of model evaluations."""
    eps_calls = [0]
    f = eps or eps_model

    def e_of(x, t):
        eps_calls[0] += 1
        return f(x, t)

    warm, n_warm, max_order = PLAN[variant]
    states, hist = [np.asarray(x, np.float64)], []
    for i in range(len(ts) - 1):
        t, tn = ts[i], ts[i + 1]
        x = states[-1]
        e1 = e_of(x, t)
        if i < n_warm and warm == "euler":
            e = 0.5 * (e1 + e_of(phi(x, e1, t, tn), tn))
        elif i < n_warm:
            tm = 0.5 * (t + tn)
            e2 = e_of(phi(x, e1, t, tm), tm)
            e3 = e_of(phi(x, e2, t, tm), tm)
            e4 = e_of(phi(x, e3, t, tn), tn)
            e = (e1 + 2 * e2 + 2 * e3 + e4) / 6
        else:
            hist_now = [e1] + hist
            order = min(max_order, len(hist_now))
            e = sum(b * h for b, h in zip(AB[order], hist_now))
        hist = [e1] + hist[:2]
        states.append(phi(x, e, t, tn))
    return np.stack(states), eps_calls[0]
