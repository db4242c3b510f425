"""NumPy transcriptions for test_langevin_mutants.py and test_bdia_mutants.py, written from
the papers (not from the library), on VP-linear with the eps model of
linear_step_problem.py (closed forms and the reverse-SDE predictors of ddim_sde_by_hand.py):

* predictor-corrector sampling, Song et al. (2021), "Score-Based Generative Modeling
  through Stochastic Differential Equations", Appendix G, Algorithms 2-5: a predictor step
  t_i -> t_{i+1}, then M Langevin corrector steps at t_{i+1},
  eps = 2 alpha (r ||z|| / ||g||)^2, x <- x + eps g + sqrt(2 eps) z, with ||.|| the
  per-example norm averaged over the batch (their code) and alpha the VP factor 1 - beta of
  the step (here (alpha_{t_i} / alpha_{t_{i+1}})^2, the library's documented general form);
* annealed Langevin dynamics, Song & Ermon (2019), "Generative Modeling by Estimating
  Gradients of the Data Distribution", Algorithm 1: a_i = eps sigma_i^2 / sigma_L^2,
  x <- x + (a_i / 2) s(x, sigma_i) + sqrt(a_i) z;
* BDIA-DDIM, Zhang, Lewis & Kleijn (2023), "Exact Diffusion Inversion via Bi-directional
  Integration Approximation": y_{k+1} = gamma (y_{k-1} - D(y_k, t_k -> t_{k-1}))
  + D(y_k, t_k -> t_{k+1}) after one DDIM step, and its inverse solved for y_{k-1}.
"""

import numpy as np

import ddim_sde_by_hand as H


def mean_norm(v):
    """Per-example Euclidean norm, averaged over the batch (the leading axis)."""
    return np.mean(np.sqrt(np.sum(v.reshape(v.shape[0], -1) ** 2, axis=1)))


def score(x, t, shift=0.0):
    """s(x, t) = -eps(x, t) / sigma_t."""
    return -H.eps(x, t, shift) / H.sigma(t)


def pc(x, ts, predictor, m, snr, z_pred, z_corr, denoise=True, variance="small", shift=0.0):
    """Predictor-corrector; the N + 1 states. z_pred[i]: the predictor draw of step i,
    z_corr[i, j]: the draw of corrector step j after predictor step i."""
    out = [x]
    n = len(ts) - 1
    for i in range(n):
        t, s = ts[i], ts[i + 1]
        if predictor != "none":
            last = denoise and i == n - 1  # no predictor noise on the last step
            x = H.reverse_sde(predictor, x, np.array([t, s]), z_pred[i:i + 1], denoise=last,
                              variance=variance, shift=shift)[-1]
        alpha_i = (H.alpha(t) / H.alpha(s)) ** 2  # 1 - beta_i of the VP step t -> s
        for j in range(m):
            g, z = score(x, s, shift), z_corr[i, j]
            step = 2.0 * alpha_i * (snr * mean_norm(z) / mean_norm(g)) ** 2
            x = x + step * g + np.sqrt(2.0 * step) * z
        out.append(x)
    return np.stack(out)


def annealed_langevin(x, ts, step_size, z, shift=0.0):
    """Algorithm 1 at the levels sigma_i = sigma(t_i), i = 1..N; the state after each
    level (N + 1 states). z[i, k]: the draw of step k at level i."""
    out = [x]
    sigma_l = H.sigma(ts[-1])
    for i, t in enumerate(ts[1:]):
        a = step_size * H.sigma(t) ** 2 / sigma_l**2
        for zk in z[i]:
            x = x + 0.5 * a * score(x, t, shift) + np.sqrt(a) * zk
        out.append(x)
    return np.stack(out)


def ddim_step(y, t, u, shift=0.0):
    """D(y, t -> u) = alpha_u x0_hat(y, t) + sigma_u eps_hat(y, t)."""
    x0, e = H.x0_eps(y, t, shift)
    return H.alpha(u) * x0 + H.sigma(u) * e


def bdia(y0, ts, gamma, y1=None, shift=0.0):
    """BDIA-DDIM on decreasing ts; the N + 1 states. y1: the state at ts[1] (else one
    DDIM step)."""
    ys = [y0, ddim_step(y0, ts[0], ts[1], shift) if y1 is None else y1]
    for k in range(1, len(ts) - 1):
        y_prev, y = ys[k - 1], ys[k]
        ys.append(gamma * (y_prev - ddim_step(y, ts[k], ts[k - 1], shift))
                  + ddim_step(y, ts[k], ts[k + 1], shift))
    return np.stack(ys)


def bdia_inverse(w0, us, gamma, w1=None, shift=0.0):
    """The BDIA update solved for its oldest state, y_{k-1} = (y_{k+1} - D(y_k, t_k ->
    t_{k+1})) / gamma + D(y_k, t_k -> t_{k-1}), run on increasing us (w_j = y at us[j]);
    the N + 1 states. w1: the state at us[1] (else one DDIM-inversion step)."""
    ws = [w0, ddim_step(w0, us[0], us[1], shift) if w1 is None else w1]
    for j in range(1, len(us) - 1):
        y_next, y = ws[j - 1], ws[j]  # y_{k+1} at us[j-1] (the later sampling time), y_k
        ws.append((y_next - ddim_step(y, us[j], us[j - 1], shift)) / gamma
                  + ddim_step(y, us[j], us[j + 1], shift))
    return np.stack(ws)
