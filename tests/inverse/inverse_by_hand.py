"""NumPy transcriptions for the by-hand tests of diffax/inverse (the *_mutants.py files).

* VP-linear coefficients from their closed form (score_sde, beta_min = 0.1,
  beta_max = 20): log alpha_t = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2,
  sigma_t = sqrt(1 - alpha_t^2), lambda_t = log(alpha_t^2 / sigma_t^2);
* the DDIM(eta) step of Song, Meng & Ermon (2021, eq. 12) and the forward jump
  q(x_t | x_s), written out again here (not imported from the library);
* a linear test model: for data N(0, v I) the exact noise prediction is
  eps(x, t) = k_t x with k_t = sigma_t / (alpha_t^2 v + sigma_t^2); the model adds
  ``shift * t`` (a conditioning value) so that a dropped ``cond`` changes the answer.
  Its denoised estimate x0 = (x - sigma_t eps) / alpha_t has the scalar Jacobian
  m_t = (1 - sigma_t k_t) / alpha_t.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from diffax.processes.base import broadcast_to_x

V = 0.7  # the test model's data variance


def alpha(t):
    t = np.asarray(t, np.float64)
    return np.exp(-0.25 * t**2 * (20.0 - 0.1) - 0.5 * t * 0.1)


def sigma(t):
    return np.sqrt(1.0 - alpha(t) ** 2)


def log_snr(t):
    return np.log(alpha(t) ** 2 / sigma(t) ** 2)


def k(t):
    return sigma(t) / (alpha(t) ** 2 * V + sigma(t) ** 2)


def eps_hat(x, t, shift=0.0):
    return k(t) * x + shift * t


def x0_hat(x, t, shift=0.0):
    return (x - sigma(t) * eps_hat(x, t, shift)) / alpha(t)


def jac(t):
    """d x0_hat / d x (a scalar times the identity)."""
    return (1.0 - sigma(t) * k(t)) / alpha(t)


def ddim(x0, eps, t, s, eta, z):
    c = eta * sigma(s) * np.sqrt(1.0 - np.exp(log_snr(t) - log_snr(s)))
    return alpha(s) * x0 + np.sqrt(max(sigma(s) ** 2 - c**2, 0.0)) * eps + c * z


def jump(x, s, t, z):
    """x_t ~ q(x_t | x_s): alpha_{t|s} x + sqrt(sigma_t^2 - alpha_{t|s}^2 sigma_s^2) z."""
    a = alpha(t) / alpha(s)
    return a * x + np.sqrt(max(sigma(t) ** 2 - a**2 * sigma(s) ** 2, 0.0)) * z


def model(process, kind="eps"):
    """The linear test model as a diffax ``model_fn`` of kind eps or x0; conditioning
    ``shift`` (one value per example) enters as eps + shift * t."""
    def fn(x, t, shift=None):
        a, s = broadcast_to_x(process.alpha(t), x), broadcast_to_x(process.sigma(t), x)
        kk = s / (a**2 * V + s**2)
        sh = 0.0 if shift is None else broadcast_to_x(shift, x) * broadcast_to_x(t, x)
        eps = kk * x + sh
        return eps if kind == "eps" else (x - s * eps) / a
    return fn


def normal(key, shape, dtype=jnp.float64):
    return np.asarray(jax.random.normal(key, shape, dtype), np.float64)


def split(key, n):
    return list(jax.random.split(key, n))


# ---- ADMM-TV with conjugate gradients (Boyd et al. 2011, section 3.1.1) -------------------

def diff(x, axis):
    """(D x)_i = x_{i+1} - x_i, 0 at the last index."""
    d = np.zeros_like(x)
    n = x.shape[axis]
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(0, n - 1)
    d[tuple(sl)] = np.diff(x, axis=axis)
    return d


def diff_t(p, axis):
    """D^T p: (D^T p)_i = p_{i-1} - p_i with p_{-1} = 0 and p_{n-1} ignored."""
    q = np.moveaxis(p, axis, 0).copy()
    q[-1] = 0.0
    out = -q
    out[1:] += q[:-1]
    return np.moveaxis(out, 0, axis)


def cg(matvec, b, x, n_iter):
    """Hestenes-Stiefel CG from x; a direction with p^T M p = 0 leaves x unchanged."""
    r = b - matvec(x)
    p, rs = r, np.sum(r * r)
    for _ in range(n_iter):
        mp = matvec(p)
        pmp = np.sum(p * mp)
        a = rs / pmp if pmp > 0 else 0.0
        x, r = x + a * p, r - a * mp
        rs_new = np.sum(r * r)
        p, rs = r + (rs_new / rs if rs > 0 else 0.0) * p, rs_new
    return x


def admm_step(x, z, u, A, y, lam, rho, axes, n_cg):
    """One scaled-ADMM iteration for 1/2 ||A x - y||^2 + lam sum_a ||D_a x||_1; A is a
    dense matrix on x.ravel()."""
    def normal(v):
        out = (A.T @ (A @ v.ravel())).reshape(v.shape)
        return out + sum(rho * diff_t(diff(v, a), a) for a in axes)

    rhs = (A.T @ y).reshape(x.shape) + sum(rho * diff_t(z[i] - u[i], a)
                                           for i, a in enumerate(axes))
    x = cg(normal, rhs, x, n_cg)
    dx = np.stack([diff(x, a) for a in axes])
    v = dx + u
    z = np.sign(v) * np.maximum(np.abs(v) - lam / rho, 0.0)
    return x, z, u + dx - z


# ---- parallel-beam projections, pixel by pixel -------------------------------------------

def radon(img, angles):
    """Parallel-beam views of an (N, N) image: rotate about the centre (bilinear, zero
    outside) and sum over rows; (len(angles), N)."""
    n = img.shape[0]
    c = (n - 1) / 2
    out = np.zeros((len(angles), n))
    for k, th in enumerate(angles):
        for iu in range(n):
            for iv in range(n):
                u, v = iu - c, iv - c
                r = c + np.cos(th) * u - np.sin(th) * v
                q = c + np.sin(th) * u + np.cos(th) * v
                r0, q0 = math.floor(r), math.floor(q)
                val = 0.0
                for dr, dq, wgt in ((0, 0, (1 - (r - r0)) * (1 - (q - q0))),
                                    (0, 1, (1 - (r - r0)) * (q - q0)),
                                    (1, 0, (r - r0) * (1 - (q - q0))),
                                    (1, 1, (r - r0) * (q - q0))):
                    if 0 <= r0 + dr < n and 0 <= q0 + dq < n:
                        val += wgt * img[r0 + dr, q0 + dq]
                out[k, iv] += val
    return out
