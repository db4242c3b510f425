"""Value tests that pin diffax/losses/time_sampling.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

Every sampler is checked against a by-hand NumPy composition of the same ``jax.random``
draws (keys split as the sampler splits them), on a sub-interval of the process's, at
non-default options, in float64 (exact to rounding) and float32 (the requested dtype is
kept even under x64); then the defaults (EDM's P_mean = -1.2, P_std = 1.2; logit-normal
0, 1; the process's interval; float32), the clipping at both ends, and every argument
message in full. The distribution tests are tests/losses/test_time_sampling.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.losses import time_sampling as ts
from diffax.processes import EDM, PFGMPP, RectifiedFlow, VPCosine, VPLinear

N = 48
LO, HI = 0.2, 0.7  # a sub-interval of VPLinear's [1e-3, 1]


def f64(x):
    return np.asarray(x, np.float64)


def uniform_by_hand(key, n, dtype, lo, hi):
    return lo + (hi - lo) * f64(jax.random.uniform(key, (n,), dtype))


def antithetic_by_hand(key, n, dtype, lo, hi):
    u0 = float(jax.random.uniform(key, (), dtype))
    return lo + (hi - lo) * np.mod(u0 + np.arange(n) / n, 1.0)


def stratified_by_hand(key, n, dtype, lo, hi):
    k_jitter, k_perm = jax.random.split(key)
    u = (np.arange(n) + f64(jax.random.uniform(k_jitter, (n,), dtype))) / n
    # permutation(k, u) of a 1-D array is u[permutation(k, n)]
    return lo + (hi - lo) * u[np.asarray(jax.random.permutation(k_perm, n))]


def logit_normal_by_hand(key, n, dtype, lo, hi, m, s):
    z = m + s * f64(jax.random.normal(key, (n,), dtype))
    return lo + (hi - lo) / (1.0 + np.exp(-z))


def test_interval_samplers_by_hand(x64):
    vp = VPLinear()
    key = jax.random.key(11)
    cases = {"uniform": uniform_by_hand, "antithetic": antithetic_by_hand,
             "stratified": stratified_by_hand}
    # float32: |error| <= 4e-8 measured near t = 0 (the wrap of the antithetic sampler)
    for dtype, rtol, atol in ((jnp.float64, 1e-13, 0.0), (jnp.float32, 1e-6, 1e-7)):
        for name, ref in cases.items():
            t = losses.make_time_sampler(name, vp, t_min=LO, t_max=HI)(key, N, dtype)
            assert t.dtype == dtype and t.shape == (N,), (name, t.dtype)
            np.testing.assert_allclose(f64(t), ref(key, N, dtype, LO, HI), rtol=rtol,
                                       atol=atol, err_msg=f"{name} {dtype}")
        t = losses.make_time_sampler("logit_normal", vp, t_min=LO, t_max=HI, logit_mean=0.4,
                                     logit_std=0.7)(key, N, dtype)
        assert t.dtype == dtype
        np.testing.assert_allclose(f64(t), logit_normal_by_hand(key, N, dtype, LO, HI, 0.4, 0.7),
                                   rtol=rtol)
    # The default dtype is float32, under x64 too; the default interval is the process's.
    for name, ref in cases.items():
        t = losses.make_time_sampler(name, vp)(key, N)
        assert t.dtype == jnp.float32, name
        np.testing.assert_allclose(f64(t), ref(key, N, jnp.float32, vp.t_min, vp.t_max),
                                   rtol=1e-6, atol=1e-7, err_msg=name)
    t = losses.make_time_sampler("logit_normal", RectifiedFlow())(key, N)
    rf = RectifiedFlow()
    np.testing.assert_allclose(f64(t), logit_normal_by_hand(key, N, jnp.float32, rf.t_min,
                                                            rf.t_max, 0.0, 1.0), rtol=1e-6)


def test_antithetic_wraps_modulo_one():
    """u_i = (u0 + i/B) mod 1: with u0 > 1/B some points wrap below u0 (mod 2 would not)."""
    process = VPLinear(t_min=0.0, t_max=1.0)
    key = jax.random.key(5)
    u0 = float(jax.random.uniform(key, (), jnp.float32))
    assert u0 > 0.1
    u = f64(losses.make_time_sampler("antithetic", process)(key, 10))
    np.testing.assert_allclose(u, np.mod(u0 + np.arange(10) / 10, 1.0), atol=1e-7)
    assert u.max() < 1.0 and np.sum(u < u0) > 0


def test_lognormal_by_hand(x64):
    """ln s = P_mean + P_std n, t from the log-SNR -2 ln s, clipped to [t_min, t_max]."""
    key = jax.random.key(2)
    edm = EDM()  # t = s
    for dtype, rtol in ((jnp.float64, 1e-13), (jnp.float32, 2e-6)):
        log_s = 0.3 + 2.5 * f64(jax.random.normal(key, (N,), dtype))
        t = losses.make_time_sampler("lognormal", edm, t_min=0.5, t_max=4.0, p_mean=0.3,
                                     p_std=2.5)(key, N, dtype)
        assert t.dtype == dtype
        want = np.clip(np.exp(log_s), 0.5, 4.0)
        np.testing.assert_allclose(f64(t), want, rtol=rtol)
        assert np.sum(want == 0.5) > 3 and np.sum(want == 4.0) > 3  # both ends clipped
    # Defaults: EDM's P_mean = -1.2, P_std = 1.2 and the process's interval [0.002, 80].
    log_s = -1.2 + 1.2 * f64(jax.random.normal(key, (N,), jnp.float32))
    t = losses.make_time_sampler("lognormal", edm)(key, N)
    assert t.dtype == jnp.float32
    np.testing.assert_allclose(f64(t), np.clip(np.exp(log_s), 0.002, 80.0), rtol=2e-6)
    # VP: -log_snr(t) / 2 = ln(sigma/alpha) = ln s wherever t is not clipped.
    vp = VPLinear()
    log_s = -0.5 + 0.5 * f64(jax.random.normal(key, (N,), jnp.float64))
    t = losses.make_time_sampler("lognormal", vp, t_min=0.05, t_max=0.95, p_mean=-0.5,
                                 p_std=0.5)(key, N, jnp.float64)
    inside = (f64(t) > 0.05) & (f64(t) < 0.95)
    assert inside.sum() > N // 2
    np.testing.assert_allclose(-0.5 * f64(vp.log_snr(t))[inside], log_s[inside], rtol=1e-9)
    np.testing.assert_array_equal(f64(t)[~inside], np.where(log_s[~inside] < -0.5, 0.05, 0.95))


def test_uniform_log_snr_by_hand(x64):
    """lambda = lambda(t_max) + (lambda(t_min) - lambda(t_max)) u, t = t(lambda)."""
    key = jax.random.key(4)
    for process in (VPLinear(), RectifiedFlow()):
        for dtype, rtol in ((jnp.float64, 1e-9), (jnp.float32, 2e-4)):
            t = losses.make_time_sampler("uniform_log_snr", process, t_min=LO,
                                         t_max=HI)(key, N, dtype)
            assert t.dtype == dtype
            lam_lo, lam_hi = float(process.log_snr(HI)), float(process.log_snr(LO))
            lam = lam_lo + (lam_hi - lam_lo) * f64(jax.random.uniform(key, (N,), dtype))
            np.testing.assert_allclose(f64(process.log_snr(f64(t))), lam, rtol=rtol,
                                       atol=rtol, err_msg=f"{process.name} {dtype}")
    t = losses.make_time_sampler("uniform_log_snr", VPLinear())(key, N)
    assert t.dtype == jnp.float32
    assert float(t.min()) < 0.01 and float(t.max()) > 0.5  # the process's whole interval


def test_uniform_log_snr_float32_under_x64_is_computed_in_float32(x64):
    """The log-SNR ends are taken at float32 times: bitwise the float32 composition (a
    float64 end, e.g. log_snr(0.2) for VPCosine, differs from the float32 one by an ulp)."""
    key = jax.random.key(6)
    for process in (VPCosine(), VPLinear()):
        for lo, hi in ((0.2, 0.7), (0.3, 0.9)):
            t = losses.make_time_sampler("uniform_log_snr", process, t_min=lo,
                                         t_max=hi)(key, N, jnp.float32)
            lam_lo = process.log_snr(jnp.asarray(hi, jnp.float32))
            lam_hi = process.log_snr(jnp.asarray(lo, jnp.float32))
            u = jax.random.uniform(key, (N,), jnp.float32)
            want = jnp.clip(process.t_from_log_snr(lam_lo + (lam_hi - lam_lo) * u), lo, hi)
            assert want.dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(t), np.asarray(want),
                                          err_msg=f"{process.name} {lo} {hi}")


def test_rounding_never_leaves_the_interval():
    """float32 round-off pushes unclipped times just outside narrow or round-up intervals;
    the samplers clip them back (measured: 24 of 4096 below for VPLinear, 31 above for
    VPCosine on [0.5, 0.5 + 2e-6]; f32(0.04) + f32(0.53 - 0.04) > f32(0.53))."""
    key = jax.random.key(0)
    for process, side in ((VPLinear(), "lo"), (VPCosine(), "hi")):
        lo, hi = 0.5, 0.5 + 2e-6
        t = f64(losses.make_time_sampler("uniform_log_snr", process, t_min=lo,
                                         t_max=hi)(key, 4096))
        assert t.min() >= np.float32(lo) and t.max() <= np.float32(hi), process.name
        assert np.sum(t == np.float32(lo if side == "lo" else hi)) > 5, process.name
    # logit-normal with a huge std: sigmoid is mostly exactly 0 or 1 in float32.
    t = f64(losses.make_time_sampler("logit_normal", VPLinear(), t_min=0.04, t_max=0.53,
                                     logit_std=1e3)(key, 256))
    assert t.min() == np.float32(0.04) and t.max() == np.float32(0.53)
    assert np.sum(t == np.float32(0.53)) > 100


def test_every_sampler_keeps_float32_under_x64(x64):
    key = jax.random.key(1)
    for name in losses.TIME_SAMPLERS:
        t = losses.make_time_sampler(name, VPLinear(), t_min=LO, t_max=HI)(key, 16,
                                                                           jnp.float32)
        assert t.dtype == jnp.float32, name
        t = losses.make_time_sampler(name, VPLinear())(key, 16)
        assert t.dtype == jnp.float32, name


def test_interval_bounds_are_inclusive_and_resolved():
    vp = VPLinear()
    assert ts.resolve_interval(vp, None, None, "w") == (0.001, 1.0)
    lo, hi = ts.resolve_interval(vp, np.float32(0.25), 0.5, "w")
    assert (lo, hi) == (float(np.float32(0.25)), 0.5) and type(lo) is float
    assert ts.resolve_interval(vp, 0.001, 1.0, "w") == (0.001, 1.0)  # the ends are allowed
    assert ts.resolve_interval(vp, 0.3, None, "w") == (0.3, 1.0)
    assert ts.resolve_interval(vp, None, 0.3, "w") == (0.001, 0.3)
    t = losses.make_time_sampler("uniform", vp, t_min=0.001, t_max=1.0)(jax.random.key(0), 8)
    assert t.shape == (8,)
    assert ts.time_sampling_defaults("lognormal") == {"t_min": None, "t_max": None,
                                                      "p_mean": -1.2, "p_std": 1.2}
    assert ts.time_sampling_defaults("logit_normal") == {"t_min": None, "t_max": None,
                                                         "logit_mean": 0.0, "logit_std": 1.0}
    assert ts.time_sampling_defaults("uniform") == {"t_min": None, "t_max": None}


VALID = "['antithetic', 'logit_normal', 'lognormal', 'stratified', 'uniform', 'uniform_log_snr']"
INTERVAL = ("time_sampling 'uniform': need process.t_min <= t_min < t_max <= process.t_max, "
            "got t_min={}, t_max={} for VPLinear with interval [0.001, 1.0].")


@pytest.mark.parametrize("build, message", [
    (lambda: losses.make_time_sampler("cosine", VPLinear()),
     f"make_time_sampler: unknown time_sampling 'cosine'; valid choices: {VALID}."),
    (lambda: ts.time_sampling_defaults("cosine"),
     f"time_sampling: unknown time_sampling 'cosine'; valid choices: {VALID}."),
    (lambda: ts.time_sampling_defaults("cosine", "here"),
     f"here: unknown time_sampling 'cosine'; valid choices: {VALID}."),
    (lambda: losses.make_time_sampler("lognormal", PFGMPP(D=128.0, data_dim=2)),
     "time sampler 'lognormal' is for gaussian processes, but PFGMPP is pfgmpp; time sampler "
     "entries for pfgmpp processes: []."),
    (lambda: losses.make_time_sampler("lognormal", VPLinear(), beta=1.0),
     "time_sampling 'lognormal': unknown option(s) ['beta']; valid options: ['p_mean', "
     "'p_std', 't_max', 't_min']."),
    (lambda: losses.make_time_sampler("lognormal", VPLinear(), p_std=0.0),
     "time_sampling 'lognormal': p_std must be finite and > 0, got p_std=0.0."),
    (lambda: losses.make_time_sampler("lognormal", VPLinear(), p_mean=float("inf")),
     "time_sampling 'lognormal': p_mean must be a finite number, got p_mean=inf."),
    (lambda: losses.make_time_sampler("logit_normal", VPLinear(), logit_std=-1.0),
     "time_sampling 'logit_normal': logit_std must be finite and > 0, got logit_std=-1.0."),
    (lambda: losses.make_time_sampler("logit_normal", VPLinear(), logit_mean=float("nan")),
     "time_sampling 'logit_normal': logit_mean must be a finite number, got logit_mean=nan."),
    (lambda: losses.make_time_sampler("uniform", VPLinear(), t_min=float("nan")),
     "time_sampling 'uniform': t_min must be a finite number, got t_min=nan."),
    (lambda: losses.make_time_sampler("uniform", VPLinear(), t_max=float("inf")),
     "time_sampling 'uniform': t_max must be a finite number, got t_max=inf."),
    (lambda: losses.make_time_sampler("uniform", VPLinear(), t_min=0.0005),
     INTERVAL.format(0.0005, 1.0)),
    (lambda: losses.make_time_sampler("uniform", VPLinear(), t_min=0.3, t_max=0.3),
     INTERVAL.format(0.3, 0.3)),
    (lambda: losses.make_time_sampler("uniform", VPLinear(), t_max=1.5),
     INTERVAL.format(0.001, 1.5)),
    (lambda: ts.resolve_interval(VPLinear(), 0.0, None, "here"),
     "here: need process.t_min <= t_min < t_max <= process.t_max, got t_min=0.0, t_max=1.0 "
     "for VPLinear with interval [0.001, 1.0]."),
    (lambda: losses.make_time_sampler("uniform", VPLinear())(jax.random.key(0), 4, jnp.int32),
     "time_sampling 'uniform': dtype must be floating point, got dtype int32."),
])
def test_argument_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message
