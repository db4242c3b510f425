"""The ELBO estimators (diffax/likelihood/elbo.py) against a by-hand NumPy composition of
their Monte Carlo steps, with the same random draws.

The earlier tests check the bound's value in expectation (exact mixture density) and in
closed form for a noise-independent error. Here the error depends on the noise draw, the
time and a conditioning value, so each draw, key split, stratum and weight shows:

* continuous (VDM eq. 17): with ``k_u, k_eps, k_rec, k_prior = split(key, 4)``,
  u_{k,b} = (k + U_b) / K, U = uniform(k_u, (1, B)); in log-SNR,
  t = lambda^{-1}(lambda_1 + u (lambda_0 - lambda_1)) with weight lambda_0 - lambda_1, in t,
  t = t_0 + u (t_1 - t_0) with weight -lambda'(t) (t_1 - t_0); the diffusion loss is
  1/2 mean_k w_k mean_j ||eps_j - eps_hat(alpha x + sigma eps_j, t_k)||^2, eps_j drawn
  with the keys split(split(k_eps, K)[k], n_eps);
* discrete (VDM eq. 13): sum_i 1/2 expm1(lambda_{i-1} - lambda_i) E||eps - eps_hat(z_{t_i})||^2,
  or a stratified subset (strata of N / n_terms transitions, index
  floor(lo + U width) per example, times the stratum size);
* decoder: -d/2 (log 2 pi - lambda_0) - 1/2 mean_j ||eps_j - eps_hat(z_{t_0})||^2 over
  max(n_eps, 16) draws from k_rec;
* prior: KL(N(alpha_1 x, sigma_1^2 I) || N(0, p^2 I)) in closed form, or
  -d/2 (1 + log 2 pi sigma_1^2) - mean_j log p(alpha_1 x + sigma_1 eps_j) over max(n_eps, 16)
  draws from k_prior.

Float64 throughout (the ``x64`` fixture); the estimators and the composition then agree to
rounding (measured: at most 4.9e-15 relative, on the ELBO, a difference of the terms), so
the tolerance is 1e-10. The float32 cases run the estimators on float32 data under x64
against the float64 composition of the same float32 draws (measured: at most 2.2e-6
relative, on the prior KL; tolerance 2e-5).
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.likelihood import continuous_elbo, ddpm_grid, discrete_elbo
from diffax.processes import EDM, DiscreteDDPM, VPLinear

RTOL = 1e-10
RTOL32 = 2e-5


def _t3(t, z):
    return jnp.reshape(t, (-1,) + (1,) * (z.ndim - 1))


def model(z, t, scale=1.0):
    """A nonlinear time- and condition-dependent prediction (any kind)."""
    return scale * _t3(t, z) * jnp.sin(z) + 0.3 * z


def _np(v):
    return np.asarray(v, dtype=np.float64)


class Ref:
    """The estimators' steps composed by hand (NumPy float64, JAX only for the draws)."""

    def __init__(self, process, x, prediction="eps", scale=1.0):
        self.p, self.x, self.pred, self.scale = process, _np(x), prediction, scale
        self.dtype = jnp.asarray(x).dtype
        self.d = math.prod(self.x.shape[1:])

    def f(self, name, t):
        return _np(getattr(self.p, name)(jnp.asarray(t, jnp.float64)))

    def draws(self, keys, n):
        """normal(k_j, x.shape, x.dtype) for k_j in split(key, n), for each key: (R, n, B, ...)."""
        def one(key):
            return jax.vmap(lambda k: jax.random.normal(k, self.x.shape, self.dtype))(
                jax.random.split(key, n))
        return _np(jax.vmap(one)(keys))

    def mean_err(self, t, keys, n):
        """mean_j ||eps_j - eps_hat(alpha_t x + sigma_t eps_j, t)||^2, (R, B), for times t
        (R, B) and one key per row (its n draws)."""
        eps = self.draws(keys, n)
        t = np.broadcast_to(_np(t), (len(keys), self.x.shape[0]))
        shape = t.shape[:1] + (1,) + t.shape[1:] + (1,) * (self.x.ndim - 1)
        a, s = self.f("alpha", t).reshape(shape), self.f("sigma", t).reshape(shape)
        z = a * self.x + s * eps
        out = self.scale * t.reshape(shape) * np.sin(z) + 0.3 * z
        eps_hat = out if self.pred == "eps" else (z - a * out) / s  # x0 -> eps
        return np.mean(np.sum((eps - eps_hat).reshape(eps.shape[:3] + (-1,)) ** 2, -1), 1)

    def reconstruction(self, t0, key, n_eps):
        lam0 = self.f("log_snr", t0)
        return (-0.5 * self.d * (math.log(2 * math.pi) - lam0)
                - 0.5 * self.mean_err(t0, key[None], max(n_eps, 16))[0])

    def prior_kl(self, t1, key, n_eps, prior=None):
        a1, s1 = self.f("alpha", t1), self.f("sigma", t1)
        if prior is None:
            p2 = float(self.p.prior_std) ** 2
            return 0.5 * (self.d * (s1**2 / p2 - 1 - np.log(s1**2 / p2))
                          + a1**2 * np.sum(self.x.reshape(len(self.x), -1) ** 2, 1) / p2)
        entropy = 0.5 * self.d * (1 + math.log(2 * math.pi) + 2 * math.log(s1))
        z = a1 * self.x + s1 * self.draws(key[None], max(n_eps, 16))[0]
        cross = np.mean([_np(prior(jnp.asarray(zj))) for zj in z], axis=0)
        return -entropy - cross

    def continuous(self, key, n_time, n_eps, sampling, t0, t1, prior=None):
        k_u, k_eps, k_rec, k_prior = jax.random.split(key, 4)
        b = self.x.shape[0]
        u = (np.arange(n_time)[:, None]
             + _np(jax.random.uniform(k_u, (1, b), self.dtype))) / n_time
        lam0, lam1 = self.f("log_snr", t0), self.f("log_snr", t1)
        if sampling == "log_snr":
            t = self.f("t_from_log_snr", lam1 + u * (lam0 - lam1))
            w = np.full(u.shape, lam0 - lam1)
        else:
            t = t0 + u * (t1 - t0)
            w = -self.f("d_log_snr_dt", t) * (t1 - t0)
        keys = jax.random.split(k_eps, n_time)
        diff = 0.5 * np.mean(w * self.mean_err(t, keys, n_eps), axis=0)
        rec = self.reconstruction(t0, k_rec, n_eps)
        kl = self.prior_kl(t1, k_prior, n_eps, prior)
        return rec, kl, diff

    def discrete(self, key, ts, n_eps, n_terms=None, prior=None):
        ts = np.asarray(ts, np.float64)
        n = len(ts) - 1
        lam = self.f("log_snr", ts)
        coef = 0.5 * np.expm1(lam[:-1] - lam[1:])
        k_sel, k_eps, k_rec, k_prior = jax.random.split(key, 4)
        b = self.x.shape[0]
        if n_terms is None:
            idx, scale = np.repeat(np.arange(n)[:, None], b, 1), np.ones((n, 1))
        else:
            edges = np.linspace(0, n, n_terms + 1)
            u = _np(jax.random.uniform(k_sel, (n_terms, b)))
            idx = np.clip(np.floor(edges[:-1, None] + u * np.diff(edges)[:, None]),
                          0, n - 1).astype(int)
            scale = np.diff(edges)[:, None]
        keys = jax.random.split(k_eps, idx.shape[0])
        diff = np.sum(scale * coef[idx] * self.mean_err(ts[1:][idx], keys, n_eps), axis=0)
        rec = self.reconstruction(float(ts[0]), k_rec, n_eps)
        kl = self.prior_kl(float(ts[-1]), k_prior, n_eps, prior)
        return rec, kl, diff


def _check(out, rec, kl, diff, rtol=RTOL, dtype=jnp.float64, b=3):
    for name, got, want in (("reconstruction", out.reconstruction, rec),
                            ("prior_kl", out.prior_kl, kl),
                            ("diffusion_loss", out.diffusion_loss, diff),
                            ("elbo", out.elbo, rec - kl - diff)):
        assert got.shape == (b,) and got.dtype == dtype, (name, got.shape, got.dtype)
        np.testing.assert_allclose(_np(got), want, rtol=rtol, atol=rtol * 10, err_msg=name)


def _x(dtype=jnp.float64):
    """(B, 2, 3) data: B = 3, d = 6, two event axes."""
    return jnp.asarray(np.linspace(-1.2, 1.1, 18).reshape(3, 2, 3) ** 3 + 0.2, dtype)


def _prior(z):
    return -0.5 * jnp.sum(((z - 0.1) ** 2).reshape(z.shape[0], -1), -1) / 1.7 + 0.4


def _raises(msg, fn, *args, **kw):
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        fn(*args, **kw)


def test_argument_messages_in_full():
    p = VPLinear()
    x, key = jnp.zeros((2, 2)), jax.random.PRNGKey(0)
    for f, w in ((continuous_elbo, "continuous_elbo"), (discrete_elbo, "discrete_elbo")):
        kw = {"timesteps": [0.2, 0.5]} if f is discrete_elbo else {}
        _raises(f"{w}: x must be a float batch (B, ...) with at least 2 axes, got dtype "
                "int32 and shape (2, 2).", f, model, p, jnp.zeros((2, 2), jnp.int32), key, **kw)
        _raises(f"{w}: x must be a float batch (B, ...) with at least 2 axes, got dtype "
                "float32 and shape (2,).", f, model, p, jnp.zeros((2,)), key, **kw)
        _raises(f"{w}: n_eps must be an integer >= 1, got n_eps=0.", f, model, p, x, key, n_eps=0,
                **kw)
    w = "continuous_elbo"
    _raises(f"{w}: unknown time_sampling 'sigma'; valid choices: ['log_snr', 't'].",
            continuous_elbo, model, p, x, key, time_sampling="sigma")
    _raises(f"{w}: n_time must be an integer >= 1, got n_time=0.", continuous_elbo, model, p, x,
            key, n_time=0)
    for t0, t1 in ((0.5, 0.4), (p.t_min / 2, 0.5), (0.3, 1.5), (0.5, 0.5)):
        _raises(f"{w}: need {p.t_min} <= t_min < t_max <= {p.t_max}, got t_min={t0}, "
                f"t_max={t1}.", continuous_elbo, model, p, x, key, t_min=t0, t_max=t1)
    w = "discrete_elbo"
    for ts in ([0.5, 0.2], [0.2, 0.2, 0.5], [0.5], [[0.1, 0.2], [0.3, 0.4]]):
        _raises(f"{w}: timesteps must be a 1-D increasing grid t_0 < ... < t_N with N >= 1, "
                f"got {np.asarray(ts, np.float64)!r}.", discrete_elbo, model, p, x, key,
                timesteps=ts)
    lo, hi = p.t_min / 2, 1.5
    _raises(f"timesteps[0]={lo} is outside this process's time interval "
            f"[t_min={p.t_min}, t_max={p.t_max}] (VPLinear).", discrete_elbo, model, p, x, key,
            timesteps=[lo, 0.5, 0.9])
    _raises(f"timesteps[-1]={hi} is outside this process's time interval "
            f"[t_min={p.t_min}, t_max={p.t_max}] (VPLinear).", discrete_elbo, model, p, x, key,
            timesteps=[0.1, 0.5, hi])
    _raises(f"{w}: n_terms must be an integer >= 1, got n_terms=0.", discrete_elbo, model, p, x,
            key, timesteps=[0.1, 0.5, 0.9], n_terms=0)
    _raises(f"{w}: n_terms=3 exceeds the 2 transitions of the grid; pass n_terms=None for the "
            "exact sum.", discrete_elbo, model, p, x, key, timesteps=[0.1, 0.5, 0.9], n_terms=3)
    _raises("ddpm_grid: needs a DiscreteDDPM, got VPLinear; pass timesteps explicitly for "
            "other processes.", discrete_elbo, model, p, x, key)
    _raises("ddpm_grid: needs a DiscreteDDPM, got EDM; pass timesteps explicitly for "
            "other processes.", ddpm_grid, EDM())


def test_continuous_log_snr_by_hand(x64):
    """eps prediction, a conditioning scale, two noise draws per time, a sub-interval
    (so sigma(t_max) differs from the prior's std) and a Monte Carlo prior."""
    p, x = VPLinear(), _x()
    key = jax.random.PRNGKey(7)
    out = continuous_elbo(model, p, x, key, cond={"scale": 1.7}, n_time=3, n_eps=2,
                          t_min=0.05, t_max=0.9, prior_log_prob=_prior)
    ref = Ref(p, x, "eps", 1.7)
    _check(out, *ref.continuous(key, 3, 2, "log_snr", 0.05, 0.9, _prior))
    closed = continuous_elbo(model, p, x, key, cond={"scale": 1.7}, n_time=3, n_eps=2,
                             t_min=0.05, t_max=0.9)
    _check(closed, *ref.continuous(key, 3, 2, "log_snr", 0.05, 0.9))


def test_continuous_uniform_t_by_hand(x64):
    """x0 prediction, uniform-t sampling, 20 noise draws (more than the 16 floor), EDM."""
    p, x = EDM(), _x()
    key = jax.random.PRNGKey(3)
    out = continuous_elbo(model, p, x, key, prediction="x0", cond={"scale": -0.6}, n_time=4,
                          n_eps=20, time_sampling="t")
    ref = Ref(p, x, "x0", -0.6)
    _check(out, *ref.continuous(key, 4, 20, "t", p.t_min, p.t_max))


def test_continuous_defaults(x64):
    """Defaults: eps prediction, no conditioning, 64 times, one draw, log-SNR sampling,
    the process's interval, the closed-form prior."""
    p, x = VPLinear(), _x()
    key = jax.random.PRNGKey(11)
    out = continuous_elbo(model, p, x, key)
    _check(out, *Ref(p, x).continuous(key, 64, 1, "log_snr", p.t_min, p.t_max))


def test_continuous_float32_under_x64(x64):
    """Float32 data keeps every term float32, also with NumPy float64 times (which, unlike
    Python floats, are not weakly typed: cast to the data's dtype or they promote)."""
    p, x = VPLinear(), _x(jnp.float32)
    key = jax.random.PRNGKey(5)
    t0, t1 = np.float64(0.1), np.float64(0.8)
    out = continuous_elbo(model, p, x, key, cond={"scale": 0.8}, n_time=3, n_eps=2,
                          t_min=t0, t_max=t1, prior_log_prob=_prior)
    _check(out, *Ref(p, x, "eps", 0.8).continuous(key, 3, 2, "log_snr", 0.1, 0.8, _prior),
           rtol=RTOL32, dtype=jnp.float32)
    out = continuous_elbo(model, p, x, key, n_time=3, time_sampling="t", t_min=t0, t_max=t1)
    _check(out, *Ref(p, x).continuous(key, 3, 1, "t", 0.1, 0.8), rtol=RTOL32,
           dtype=jnp.float32)


TS = [0.05, 0.2, 0.35, 0.6, 0.8, 0.95]  # N = 5 transitions, uneven


def test_discrete_exact_sum_by_hand(x64):
    p, x = VPLinear(), _x()
    key = jax.random.PRNGKey(2)
    out = discrete_elbo(model, p, x, key, timesteps=TS, prediction="x0",
                        cond={"scale": 1.3}, n_eps=2, prior_log_prob=_prior)
    ref = Ref(p, x, "x0", 1.3)
    _check(out, *ref.discrete(key, TS, 2, prior=_prior))
    # n_terms = N: one transition per stratum of size 1 with the same keys: the exact sum
    full = discrete_elbo(model, p, x, key, timesteps=TS, prediction="x0",
                         cond={"scale": 1.3}, n_eps=2, n_terms=5, prior_log_prob=_prior)
    _check(full, *ref.discrete(key, TS, 2, prior=_prior))


def test_discrete_stratified_by_hand(x64):
    """Two strata of 2.5 transitions each (edges 0, 2.5, 5), 17 noise draws."""
    p, x = VPLinear(), _x()
    for seed in (0, 1, 4):
        key = jax.random.PRNGKey(seed)
        out = discrete_elbo(model, p, x, key, timesteps=TS, cond={"scale": 0.5}, n_eps=17,
                            n_terms=2)
        _check(out, *Ref(p, x, "eps", 0.5).discrete(key, TS, 17, n_terms=2))


def test_discrete_defaults_and_float32(x64):
    """A DiscreteDDPM's own grid by default; eps prediction, one draw, the exact sum."""
    p = DiscreteDDPM.linear(6)
    np.testing.assert_array_equal(ddpm_grid(p), np.arange(1, 7) / 6)
    x, key = _x(), jax.random.PRNGKey(9)
    _check(discrete_elbo(model, p, x, key), *Ref(p, x).discrete(key, np.arange(1, 7) / 6, 1))
    x32 = _x(jnp.float32)
    out = discrete_elbo(model, VPLinear(), x32, key, timesteps=TS, n_terms=3,
                        cond={"scale": 2.0}, prior_log_prob=_prior)
    _check(out, *Ref(VPLinear(), x32, "eps", 2.0).discrete(key, TS, 1, 3, _prior),
           rtol=RTOL32, dtype=jnp.float32)
