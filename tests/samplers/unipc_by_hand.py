"""NumPy transcriptions of UniPC (Zhao et al., 2023) and multistep DEIS (Zhang & Chen,
2023) on VP-linear (beta_min = 0.1, beta_max = 20, Song et al. 2021), shared by
test_unipc_mutants.py and test_deis_mutants.py. Written from the papers, not from
diffax: closed-form alpha, sigma, lambda = log(alpha / sigma), and NumPy solves.
"""

import math

import numpy as np

B0, B1 = 0.1, 20.0


def log_alpha(t):
    t = np.asarray(t, np.float64)
    return -0.25 * t**2 * (B1 - B0) - 0.5 * t * B0


def alpha(t):
    return np.exp(log_alpha(t))


def sigma(t):
    return np.sqrt(-np.expm1(2.0 * log_alpha(t)))


def lam(t):
    """Half log-SNR lambda = log(alpha / sigma)."""
    return log_alpha(t) - np.log(sigma(t))


def beta(t):
    return B0 + np.asarray(t, np.float64) * (B1 - B0)


def eps_model(x, t, shift=0.0):
    """An x-dependent noise model, one time per call: 0.3 sin(x) + 3 sin(9 t) + 2 t + shift."""
    return 0.3 * np.sin(x) + 3.0 * np.sin(9.0 * t) + 2.0 * t + shift


def unipc_by_hand(x, ts, *, order=2, variant="bh2", algorithm_type="data_prediction",
                  corrector=True, lower_order_final=True, shift=0.0):
    """Every state of UniPC-p with B(h) (Zhao et al. 2023, Algorithms 1-3 in multistep
    form): x_hat = DDIM step from m_i; UniP-p: x^p = x_hat - c B(hh) sum_k a_k D_k;
    UniC-p: x^c = x_hat - c B(hh) (sum_k a^c_k D_k + a^c_p (m(x^p) - m_i)), with
    D_k = (m_{i-k} - m_i) / r_k, r_k = (lambda_{i-k} - lambda_i) / h, the weights from
    sum_k a_k r_k^{m-1} = m! phi_{m+1}(hh) hh / B(hh) (one weight: 1/2), hh = -h (data)
    or h (noise), B = hh (bh1) or e^hh - 1 (bh2). No corrector at the last step."""
    data = algorithm_type == "data_prediction"
    ts = np.asarray(ts, np.float64)
    a, s, lm = alpha(ts), sigma(ts), lam(ts)
    n = len(ts) - 1

    def m_of(x, i, t):
        eps = eps_model(x, t, shift)
        return (x - sigma(t) * eps) / alpha(t) if data else eps

    ms = [m_of(x, 0, ts[0])]
    traj = [x]
    for i in range(n):
        o = min(order, i + 1)
        if lower_order_final:
            o = min(o, n - i)
        h = lm[i + 1] - lm[i]
        hh = -h if data else h
        phi = [None, np.expm1(hh) / hh]  # phi[k] = phi_k(hh)
        for k in range(1, o + 1):
            phi.append((phi[k] - 1.0 / math.factorial(k)) / hh)
        B = hh if variant == "bh1" else np.expm1(hh)
        g = np.array([math.factorial(m) * phi[m + 1] * hh / B for m in range(1, o + 1)])
        r = np.array([(lm[i - k] - lm[i]) / h for k in range(1, o)])
        D = [(ms[i - k] - ms[i]) / r[k - 1] for k in range(1, o)]
        if data:
            x_hat = s[i + 1] / s[i] * x - a[i + 1] * np.expm1(hh) * ms[i]
            c = a[i + 1]
        else:
            x_hat = a[i + 1] / a[i] * x - s[i + 1] * np.expm1(hh) * ms[i]
            c = s[i + 1]
        if o == 1:
            ap = np.zeros(0)
        elif o == 2:
            ap = np.array([0.5])
        else:
            V = np.vander(r, o - 1, increasing=True).T  # V[m, k] = r_k^m
            ap = np.linalg.solve(V, g[: o - 1])
        xp = x_hat - c * B * sum((w * d for w, d in zip(ap, D)), np.zeros_like(x))
        if i == n - 1:
            x = xp
        else:
            mp = m_of(xp, i + 1, ts[i + 1])
            if corrector:
                if o == 1:
                    ac = np.array([0.5])
                else:
                    V = np.vander(np.append(r, 1.0), o, increasing=True).T
                    ac = np.linalg.solve(V, g)
                corr = sum((w * d for w, d in zip(ac[:-1], D)), ac[-1] * (mp - ms[i]))
                x = x_hat - c * B * corr
            else:
                x = xp
            ms.append(mp)
        traj.append(x)
    return np.stack(traj)


def deis_tables_in_t(ts, order, basis, nodes=400):
    """C_ij = int_{t_i}^{t_{i+1}} (alpha_{i+1} / alpha_tau) beta_tau / (2 sigma_tau)
    l_ij(tau) dtau (Zhang & Chen 2023, Eq. (15) with g^2 = beta), l_ij the Lagrange basis
    on t_i, ..., t_{i-o+1} (o = min(order, i + 1)) in t or in rho = sigma / alpha, by
    Gauss-Legendre in t with ``nodes`` nodes (here f = -beta/2, so the linear part is
    alpha_{i+1} / alpha_i)."""
    ts = np.asarray(ts, np.float64)
    n = len(ts) - 1
    u, w = np.polynomial.legendre.leggauss(nodes)
    C = np.zeros((n, order))
    var = (lambda t: t) if basis == "t" else (lambda t: sigma(t) / alpha(t))
    for i in range(n):
        lo, hi = ts[i], ts[i + 1]
        tau = lo + 0.5 * (u + 1.0) * (hi - lo)
        wt = 0.5 * (hi - lo) * w
        kern = alpha(hi) / alpha(tau) * beta(tau) / (2.0 * sigma(tau))
        o = min(order, i + 1)
        nd = var(ts[i - np.arange(o)])
        v = var(tau)
        for j in range(o):
            ell = np.ones_like(tau)
            for m in range(o):
                if m != j:
                    ell = ell * (v - nd[m]) / (nd[j] - nd[m])
            C[i, j] = np.sum(wt * kern * ell)
    return alpha(ts[1:]) / alpha(ts[:-1]), C


def multistep_by_hand(x, ts, A, C, shift=0.0):
    """x_{i+1} = A_i x_i + sum_j C_ij eps(x_{i-j}, t_{i-j}); every state."""
    eps, traj = [], [x]
    for i in range(len(ts) - 1):
        eps.insert(0, eps_model(x, ts[i], shift))
        x = A[i] * x + sum(C[i, j] * eps[j] for j in range(min(C.shape[1], len(eps))))
        traj.append(x)
    return np.stack(traj)
