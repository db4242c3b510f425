"""Distribution tests of the noise-level samplers (KS tests and exact stratification)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from diffax.losses import TIME_SAMPLERS, make_time_sampler
from diffax.processes import EDM, RectifiedFlow, VPLinear

N = 8192
P_MIN = 1e-3  # KS p-value below which a distribution is rejected (fixed keys)


def draw(name, process, n=N, seed=0, **options):
    t = make_time_sampler(name, process, **options)(jax.random.key(seed), n)
    assert t.shape == (n,) and t.dtype == jnp.float32
    return np.asarray(t, np.float64)


def test_every_sampler_stays_in_the_interval_and_jits():
    process = VPLinear()
    samplers = {name: make_time_sampler(name, process, t_min=0.01, t_max=0.9)
                for name in TIME_SAMPLERS}

    @jax.jit  # one compiled program for all samplers, with a vmap over keys
    def sample_all(key):
        keys = jax.random.split(key, 3)
        return {name: jax.vmap(lambda k: fn(k, 256))(keys) for name, fn in samplers.items()}

    for name, t in sample_all(jax.random.key(1)).items():
        assert t.dtype == jnp.float32 and t.shape == (3, 256), name
        assert float(t.min()) >= np.float32(0.01) and float(t.max()) <= np.float32(0.9), name
        assert np.unique(np.asarray(t)).size > 700, name  # not degenerate


def test_uniform_is_uniform_on_the_interval():
    process = VPLinear()
    t = draw("uniform", process)
    assert stats.kstest(t, stats.uniform(process.t_min, process.t_max - process.t_min).cdf).pvalue > P_MIN
    t = draw("uniform", process, t_min=0.2, t_max=0.4, seed=1)
    assert stats.kstest(t, stats.uniform(0.2, 0.2).cdf).pvalue > P_MIN
    # Negative control: it is not uniform on the default interval.
    assert stats.kstest(t, stats.uniform(process.t_min, 1.0).cdf).pvalue < 1e-10


def one_per_bin(u, n_bins):
    return np.array_equal(np.sort(np.floor(u * n_bins).astype(int)), np.arange(n_bins))


def test_antithetic_and_stratified_put_one_point_in_each_bin():
    process = VPLinear(t_min=0.0, t_max=1.0)  # t = u exactly
    batch = 64
    keys = jax.random.split(jax.random.key(3), 200)
    for name in ("antithetic", "stratified"):
        sample_t = make_time_sampler(name, process)
        u = np.asarray(jax.jit(jax.vmap(lambda k: sample_t(k, batch)))(keys), np.float64)
        assert all(one_per_bin(row, batch) for row in u), name
        # Each example's t is marginally uniform: examples 0 and B/2 over many batches.
        assert stats.kstest(np.concatenate([u[:, 0], u[:, batch // 2]]),
                            "uniform").pvalue > P_MIN, name
    # VDM's sampler shares one offset: u_i = (u_0 + i/B) mod 1.
    u = np.asarray(make_time_sampler("antithetic", process)(jax.random.key(4), batch), np.float64)
    np.testing.assert_allclose(np.mod(u - u[0], 1.0), np.arange(batch) / batch, atol=1e-6)
    # The stratified sampler jitters each bin independently.
    u = np.sort(np.asarray(make_time_sampler("stratified", process)(jax.random.key(4), batch),
                           np.float64))
    assert np.std(u * batch - np.arange(batch)) > 0.1
    # Negative control: i.i.d. uniform times are not stratified.
    u = draw("uniform", process, n=batch, seed=5)
    assert not one_per_bin(u, batch)


def test_lognormal_log_noise_level_has_edm_mean_and_std():
    # EDM: t = sigma. A wide interval so that clipping is negligible.
    t = draw("lognormal", EDM(t_min=1e-6, t_max=1e6))
    log_s = np.log(t)
    se = 1.2 / np.sqrt(N)
    assert abs(log_s.mean() - (-1.2)) < 4 * se, log_s.mean()
    assert abs(log_s.std() - 1.2) < 4 * 1.2 / np.sqrt(2 * N), log_s.std()
    assert stats.kstest(log_s, stats.norm(-1.2, 1.2).cdf).pvalue > P_MIN
    # VP: ln(sigma/alpha) = -lambda/2, with custom p_mean/p_std.
    process = VPLinear(t_min=1e-6)
    t = draw("lognormal", process, p_mean=0.5, p_std=0.8, seed=1)
    log_s = -0.5 * np.asarray(process.log_snr(jnp.asarray(t)), np.float64)
    assert stats.kstest(log_s, stats.norm(0.5, 0.8).cdf).pvalue > P_MIN
    assert stats.kstest(log_s, stats.norm(-1.2, 1.2).cdf).pvalue < 1e-10  # negative control
    # Clipped to [t_min, t_max]: the default EDM interval is hit at the low end rarely.
    t = draw("lognormal", EDM(), p_mean=-5.0, seed=2)
    assert t.min() == np.float32(EDM().t_min) and t.max() <= 80.0


def test_uniform_log_snr_is_uniform_in_log_snr():
    for process in (VPLinear(), RectifiedFlow()):
        t = draw("uniform_log_snr", process)
        lam = np.asarray(process.log_snr(jnp.asarray(t, jnp.float32)), np.float64)
        lo, hi = (float(process.log_snr(process.t_max)), float(process.log_snr(process.t_min)))
        assert stats.kstest(lam, stats.uniform(lo, hi - lo).cdf).pvalue > P_MIN, process.name
        # Negative control: uniform t is not uniform in log-SNR.
        lam_u = np.asarray(process.log_snr(jnp.asarray(draw("uniform", process))), np.float64)
        assert stats.kstest(lam_u, stats.uniform(lo, hi - lo).cdf).pvalue < 1e-10


def test_logit_normal_times():
    process = RectifiedFlow()
    t = draw("logit_normal", process, logit_mean=0.5, logit_std=0.8)
    u = (t - process.t_min) / (process.t_max - process.t_min)
    logit = np.log(u) - np.log1p(-u)
    assert stats.kstest(logit, stats.norm(0.5, 0.8).cdf).pvalue > P_MIN
    assert stats.kstest(logit, stats.norm(0.0, 1.0).cdf).pvalue < 1e-10  # negative control


def test_float64_times_when_requested(x64):
    t = make_time_sampler("lognormal", VPLinear())(jax.random.key(0), 16, jnp.float64)
    assert t.dtype == jnp.float64
