"""NumPy transcription of DDIM (Song, Meng & Ermon, 2021, "Denoising Diffusion Implicit
Models", eq. 12 with sigma_t(eta) of eq. 16) and of the reverse-SDE steps of
diffax/samplers/sde.py (Euler-Maruyama of Song et al., 2021, "Score-Based Generative
Modeling through SDEs", eq. 6; their reverse-diffusion predictor, eq. 46; DDPM ancestral
sampling, Ho et al., 2020, eqs. 6-7), on VP-linear (beta_min = 0.1, beta_max = 20) with
the eps model of linear_step_problem.py, eps(x, t) = 0.3 sin x + 3 sin 9t + 2t + shift.
Written from the papers, not from the library; used by test_ddim_mutants.py and
test_sde_mutants.py."""

import numpy as np

B0, B1 = 0.1, 20.0


def alpha(t):
    return np.exp(-0.25 * t**2 * (B1 - B0) - 0.5 * t * B0)


def sigma(t):
    return np.sqrt(1.0 - alpha(t) ** 2)


def beta(t):
    """VP: f(t) = -beta(t)/2, g(t)^2 = beta(t) (Song et al. 2021, eq. 11)."""
    return B0 + t * (B1 - B0)


def eps(x, t, shift=0.0):
    return 0.3 * np.sin(x) + 3.0 * np.sin(9.0 * t) + 2.0 * t + shift


def x0_eps(x, t, shift=0.0):
    e = eps(x, t, shift)
    return (x - sigma(t) * e) / alpha(t), e


def ddim(x, ts, eta, z, denoise=True, shift=0.0):
    """DDIM eq. 12 in alpha, sigma form: x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z
    with eq. 16, c^2 = eta^2 (sigma_s^2 / sigma_t^2) (1 - alpha_t^2 / alpha_s^2).
    Returns the N + 1 states; z[i] is the draw of step i."""
    out = [x]
    n = len(ts) - 1
    for i in range(n):
        t, s = ts[i], ts[i + 1]
        x0, e = x0_eps(x, t, shift)
        # eq. 16 with alpha_bar = alpha^2, 1 - alpha_bar = sigma^2 (VP)
        c2 = eta**2 * (sigma(s) ** 2 / sigma(t) ** 2) * (1.0 - alpha(t) ** 2 / alpha(s) ** 2)
        x = alpha(s) * x0 + np.sqrt(sigma(s) ** 2 - c2) * e
        if z is not None and not (denoise and i == n - 1):  # z = None: eta = 0
            x = x + np.sqrt(c2) * z[i]
        out.append(x)
    return np.stack(out)


def ddim_inversion(x, ts, shift=0.0):
    """x_u = alpha_u x0(x_t, t) + sigma_u eps(x_t, t) on increasing ts."""
    out = [x]
    for t, u in zip(ts[:-1], ts[1:]):
        x0, e = x0_eps(x, t, shift)
        x = alpha(u) * x0 + sigma(u) * e
        out.append(x)
    return np.stack(out)


def reverse_sde(kind, x, ts, z, denoise=True, variance="small", shift=0.0):
    """One of euler_maruyama / reverse_diffusion / ancestral; the N + 1 states."""
    out = [x]
    n = len(ts) - 1
    for i in range(n):
        t, s = ts[i], ts[i + 1]
        x0, e = x0_eps(x, t, shift)
        score = -e / sigma(t)
        a_ts = alpha(t) / alpha(s)
        var_ts = sigma(t) ** 2 - a_ts**2 * sigma(s) ** 2  # forward x_t | x_s
        if kind == "euler_maruyama":  # eq. 6, step dt = s - t < 0
            dt = t - s
            mean = x - dt * (-0.5 * beta(t) * x - beta(t) * score)
            std = np.sqrt(beta(t) * dt)
        elif kind == "reverse_diffusion":  # eq. 46: x - F + G^2 score + G z
            mean = x - (a_ts - 1.0) * x + var_ts * score
            std = np.sqrt(var_ts)
        else:  # DDPM posterior q(x_s | x_t, x0), Ho et al. eq. 7
            mean = (a_ts * sigma(s) ** 2 / sigma(t) ** 2 * x
                    + alpha(s) * var_ts / sigma(t) ** 2 * x0)
            std = np.sqrt(var_ts * sigma(s) ** 2 / sigma(t) ** 2 if variance == "small"
                          else var_ts)
        x = mean if (denoise and i == n - 1) else mean + std * z[i]
        out.append(x)
    return np.stack(out)
