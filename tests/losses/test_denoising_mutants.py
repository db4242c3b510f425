"""Value tests that pin diffax/losses/denoising.py and flow_matching.py (written from their
mutation run, docs/testing.md "Measured (2026-12): diffax/losses").

Denoising score matching against a by-hand composition of its draws with the same keys:

    k_t, k_eps = split(key),  t ~ p(t) (k_t),  eps ~ N(0, I) (k_eps),
    x_t = alpha x0 + sigma eps,  target_k(x0, eps),
    loss = mean_b w_k(t_b) mean_i (model(x_t, t, **cond)_bi - target_k,bi)^2,

on (B, 2, 3) data with a model that uses x_t, t and a conditioning label, for several
kinds, weightings and time distributions; the EDM loss with its defaults (sigma_data =
0.5, ln s ~ N(-1.2, 1.2^2), Karras et al., 2022, Table 1); float32 data under x64; and
every argument message in full (each names its public entry point).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.losses.denoising import dsm_objective
from diffax.processes import EDM, PFGMPP, RectifiedFlow, VPLinear

B = 6


def batch(dtype):
    x = jax.random.normal(jax.random.key(3), (B, 2, 3), dtype) * 0.8 + 0.1
    return {"x": x, "label": jnp.arange(B, dtype=dtype) / B}


def recording_model(seen):
    def model_fn(x, t, label):
        seen.update(x_dtype=x.dtype, t_dtype=t.dtype, x=np.asarray(x), t=np.asarray(t))
        return 0.5 * jnp.tanh(x) * (1.0 + t[:, None, None]) + label[:, None, None]
    return model_fn


def model_np(x, t, label):
    return 0.5 * np.tanh(x) * (1.0 + t[:, None, None]) + label[:, None, None]


def vp(t):
    """alpha, sigma, alpha', sigma' of the linear VP SDE (beta = 0.1 + 19.9 t)."""
    log_a = -(0.25 * t**2 * 19.9 + 0.5 * 0.1 * t)
    a = np.exp(log_a)
    s = np.sqrt(1.0 - a**2)
    da = -0.5 * (0.1 + 19.9 * t) * a
    return a, s, da, -a * da / s


def target(kind, x0, eps, t):
    a, s, da, ds = (v[:, None, None] for v in vp(t))
    return {"eps": eps, "x0": x0, "v": a * eps - s * x0, "score": -eps / s,
            "velocity": da * x0 + ds * eps}[kind]


def uniform_t(key, lo, hi, dtype):
    return lo + (hi - lo) * np.asarray(jax.random.uniform(key, (B,), dtype), np.float64)


@pytest.mark.parametrize("kind, weighting, options, weight", [
    ("eps", "uniform", {}, lambda a, s: np.ones_like(a)),
    ("v", "min_snr", {"gamma": 2.0}, lambda a, s: np.minimum(a**2 / s**2, 2.0) / (1 / s**2)),
    ("score", "snr", {}, lambda a, s: (a**2 / s**2) / (a / s**2) ** 2),
    ("x0", "edm", {"sigma_data": 0.3},
     lambda a, s: ((s / a) ** 2 + 0.09) / ((s / a) * 0.3) ** 2),
    ("velocity", "uniform", {}, lambda a, s: np.ones_like(a)),
])
def test_denoising_loss_by_hand(x64, kind, weighting, options, weight):
    data, key, seen = batch(jnp.float64), jax.random.key(8), {}
    loss, aux = losses.denoising_loss(VPLinear(), kind=kind, weighting=weighting, t_min=0.2,
                                      t_max=0.8, **options)(recording_model(seen), data, key)
    k_t, k_eps = jax.random.split(key)
    t = uniform_t(k_t, 0.2, 0.8, jnp.float64)
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float64))
    x0 = np.asarray(data["x"])
    a, s, _, _ = vp(t)
    x_t = a[:, None, None] * x0 + s[:, None, None] * eps
    np.testing.assert_allclose(seen["t"], t, rtol=1e-13)
    np.testing.assert_allclose(seen["x"], x_t, rtol=1e-10, atol=1e-12)
    mse = np.mean((model_np(x_t, t, np.asarray(data["label"])) - target(kind, x0, eps, t)) ** 2,
                  axis=(1, 2))
    w = weight(a, s)
    np.testing.assert_allclose(aux["t"], t, rtol=1e-13)
    np.testing.assert_allclose(aux["weight"], w, rtol=1e-9)
    np.testing.assert_allclose(aux["mse"], mse, rtol=1e-8)
    np.testing.assert_allclose(aux["loss_per_example"], w * mse, rtol=1e-8)
    np.testing.assert_allclose(loss, np.mean(w * mse), rtol=1e-8)
    assert set(aux) == {"loss", "t", "weight", "mse", "loss_per_example"}


def test_defaults_eps_uniform_uniform_on_the_process_interval(x64):
    data, key, seen = batch(jnp.float64), jax.random.key(2), {}
    process = VPLinear()
    loss, aux = losses.denoising_loss(process)(recording_model(seen), data, key)
    k_t, k_eps = jax.random.split(key)
    t = uniform_t(k_t, process.t_min, process.t_max, jnp.float64)
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float64))
    a, s, _, _ = vp(t)
    x_t = a[:, None, None] * np.asarray(data["x"]) + s[:, None, None] * eps
    mse = np.mean((model_np(x_t, t, np.asarray(data["label"])) - eps) ** 2, axis=(1, 2))
    np.testing.assert_allclose(aux["t"], t, rtol=1e-13)
    np.testing.assert_array_equal(aux["weight"], np.ones(B))
    np.testing.assert_allclose(loss, np.mean(mse), rtol=1e-8)


def test_other_time_samplers_reach_the_loss(x64):
    """The named time distribution and its options are the ones used."""
    data, key = batch(jnp.float64), jax.random.key(5)
    process = VPLinear()
    k_t, _ = jax.random.split(key)
    for name, opts in (("antithetic", {}), ("logit_normal", {"logit_mean": 0.5})):
        _, aux = losses.denoising_loss(process, time_sampling=name, t_min=0.2, t_max=0.8,
                                       **opts)(recording_model({}), data, key)
        want = losses.make_time_sampler(name, process, t_min=0.2, t_max=0.8, **opts)(
            k_t, B, jnp.float64)
        np.testing.assert_array_equal(aux["t"], want)


def test_edm_loss_defaults_by_hand(x64):
    """ln s ~ N(-1.2, 1.2^2) clipped to EDM's [0.002, 80]; lambda(s) with sigma_data 0.5;
    the x0 target. On the EDM process alpha = 1, sigma = t = s."""
    data, key, seen = batch(jnp.float64), jax.random.key(1), {}
    loss, aux = losses.edm_loss(EDM())(recording_model(seen), data, key)
    k_t, k_eps = jax.random.split(key)
    s = np.clip(np.exp(-1.2 + 1.2 * np.asarray(jax.random.normal(k_t, (B,), jnp.float64))),
                0.002, 80.0)
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float64))
    x0 = np.asarray(data["x"])
    x_t = x0 + s[:, None, None] * eps
    w = (s**2 + 0.25) / (s * 0.5) ** 2
    mse = np.mean((model_np(x_t, s, np.asarray(data["label"])) - x0) ** 2, axis=(1, 2))
    np.testing.assert_allclose(aux["t"], s, rtol=1e-13)
    np.testing.assert_allclose(aux["weight"], w, rtol=1e-12)
    np.testing.assert_allclose(loss, np.mean(w * mse), rtol=1e-10)
    # Non-default options reach the weighting and the time sampler.
    loss2, aux2 = losses.edm_loss(EDM(), sigma_data=0.7, p_mean=0.5, p_std=0.3)(
        recording_model({}), data, key)
    s2 = np.clip(np.exp(0.5 + 0.3 * np.asarray(jax.random.normal(k_t, (B,), jnp.float64))),
                 0.002, 80.0)
    np.testing.assert_allclose(aux2["t"], s2, rtol=1e-13)
    np.testing.assert_allclose(aux2["weight"], (s2**2 + 0.49) / (s2 * 0.7) ** 2, rtol=1e-12)


def test_flow_matching_defaults_by_hand(x64):
    """Rectified flow by default: x_t = (1 - t) x0 + t eps, target eps - x0, unit weight,
    uniform t on [1e-3, 1 - 1e-3]."""
    data, key = batch(jnp.float64), jax.random.key(6)
    rf = RectifiedFlow()
    loss, aux = losses.flow_matching_loss()(recording_model({}), data, key)
    k_t, k_eps = jax.random.split(key)
    t = uniform_t(k_t, rf.t_min, rf.t_max, jnp.float64)
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float64))
    x0 = np.asarray(data["x"])
    x_t = (1 - t)[:, None, None] * x0 + t[:, None, None] * eps
    mse = np.mean((model_np(x_t, t, np.asarray(data["label"])) - (eps - x0)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(aux["t"], t, rtol=1e-13)
    np.testing.assert_array_equal(aux["weight"], np.ones(B))
    np.testing.assert_allclose(loss, np.mean(mse), rtol=1e-9)
    # A weighting and time options are handed on.
    _, aux = losses.flow_matching_loss(rf, weighting="snr", t_min=0.3, t_max=0.6)(
        recording_model({}), data, key)
    t = uniform_t(k_t, 0.3, 0.6, jnp.float64)
    np.testing.assert_allclose(aux["t"], t, rtol=1e-13)
    # snr on the velocity error: SNR / r_velocity^2 = ((1-t)/t)^2 / (1/t)^2 = (1 - t)^2
    np.testing.assert_allclose(aux["weight"], (1 - t) ** 2, rtol=1e-10)


def test_float32_data_stays_float32_under_x64(x64):
    data = batch(jnp.float32)
    for build in (lambda: losses.denoising_loss(VPLinear(), kind="v", weighting="min_snr"),
                  lambda: losses.edm_loss(EDM()),
                  lambda: losses.flow_matching_loss()):
        seen = {}
        loss, aux = build()(recording_model(seen), data, jax.random.key(0))
        assert seen["x_dtype"] == jnp.float32 and seen["t_dtype"] == jnp.float32
        assert loss.dtype == jnp.float32
        for name in ("t", "weight", "mse", "loss_per_example"):
            assert aux[name].dtype == jnp.float32, name


def test_float32_noise_is_drawn_in_float32_under_x64(x64):
    """The noise is normal(k_eps, shape, float32): a float64 draw (then rounded) would be
    other numbers, not the same numbers rounded."""
    data, key, seen = batch(jnp.float32), jax.random.key(8), {}
    loss, aux = losses.denoising_loss(VPLinear(), kind="eps", t_min=0.2, t_max=0.8)(
        recording_model(seen), data, key)
    k_t, k_eps = jax.random.split(key)
    t = uniform_t(k_t, 0.2, 0.8, jnp.float32)
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float32), np.float64)
    a, s, _, _ = vp(t)
    x_t = a[:, None, None] * np.asarray(data["x"], np.float64) + s[:, None, None] * eps
    np.testing.assert_allclose(seen["x"], x_t, rtol=1e-5, atol=1e-6)
    mse = np.mean((model_np(x_t, t, np.asarray(data["label"], np.float64)) - eps) ** 2,
                  axis=(1, 2))
    np.testing.assert_allclose(aux["mse"], mse, rtol=1e-5)  # measured 1.4e-7
    np.testing.assert_allclose(loss, np.mean(mse), rtol=1e-5)


def test_dsm_objective_by_hand(x64):
    """At given (x0, t, eps, weight): x_t, the kind's target, extra aux and the caller's name."""
    data = batch(jnp.float64)
    x0 = data["x"]
    t = jnp.linspace(0.2, 0.7, B)
    eps = jax.random.normal(jax.random.key(4), x0.shape, jnp.float64)
    weight = jnp.linspace(1.0, 2.0, B)
    seen = {}
    loss, aux = dsm_objective(recording_model(seen), VPLinear(), "v", x0,
                              {"label": data["label"]}, t, eps, weight, where="mine",
                              extra_aux={"extra": jnp.ones(2)})
    tn, x0n, en = np.asarray(t), np.asarray(x0), np.asarray(eps)
    a, s, _, _ = vp(tn)
    x_t = a[:, None, None] * x0n + s[:, None, None] * en
    np.testing.assert_allclose(seen["x"], x_t, rtol=1e-10, atol=1e-12)
    mse = np.mean((model_np(x_t, tn, np.asarray(data["label"])) - target("v", x0n, en, tn)) ** 2,
                  axis=(1, 2))
    np.testing.assert_allclose(loss, np.mean(np.asarray(weight) * mse), rtol=1e-9)
    np.testing.assert_array_equal(aux["extra"], np.ones(2))
    with pytest.raises(ValueError) as info:
        dsm_objective(lambda x, t: x[:, :1], VPLinear(), "v", x0, {}, t, eps, weight,
                      where="mine")
    assert str(info.value) == ("mine: model_fn(x_t, t, **cond) returned shape (6, 1, 3), "
                               "expected the shape of x_t (6, 2, 3).")
    with pytest.raises(ValueError) as info:
        dsm_objective(lambda x, t: x[:, :1], VPLinear(), "v", x0, {}, t, eps, weight)
    assert str(info.value).startswith("denoising loss: model_fn(x_t, t, **cond) returned")


GAUSSIAN = ("process must be a diffax GaussianProcess (family 'gaussian': VPLinear, VPCosine, "
            "DiscreteDDPM, SubVP, VE, EDM, RectifiedFlow, ...), got PFGMPP of family 'pfgmpp'.")
INTERVAL = ("time_sampling 'uniform': need process.t_min <= t_min < t_max <= process.t_max, "
            "got t_min=0.5, t_max=0.2 for VPLinear with interval [0.001, 1.0].")


@pytest.mark.parametrize("build, message", [
    (lambda: losses.denoising_loss(VPLinear(), kind="noise"),
     "denoising_loss: unknown prediction kind 'noise'; valid choices: ['eps', 'score', 'v', "
     "'velocity', 'x0']."),
    (lambda: losses.denoising_loss(VPLinear(), weighting="p2"),
     "denoising_loss: unknown weighting 'p2'; valid choices: ['edm', 'likelihood', "
     "'min_snr', 'snr', 'uniform']."),
    (lambda: losses.denoising_loss(VPLinear(), time_sampling="cosine"),
     "denoising_loss: unknown time_sampling 'cosine'; valid choices: ['antithetic', "
     "'logit_normal', 'lognormal', 'stratified', 'uniform', 'uniform_log_snr']."),
    (lambda: losses.denoising_loss(VPLinear(), gamma=5.0),
     "denoising_loss: unknown option(s) ['gamma'] for weighting='uniform', "
     "time_sampling='uniform'; valid options: ['t_max', 't_min']."),
    (lambda: losses.denoising_loss(VPLinear(), weighting="min_snr", time_sampling="lognormal",
                                   gama=1.0),
     "denoising_loss: unknown option(s) ['gama'] for weighting='min_snr', "
     "time_sampling='lognormal'; valid options: ['gamma', 'p_mean', 'p_std', 't_max', "
     "'t_min']."),
    (lambda: losses.denoising_loss(VPLinear(), weighting="min_snr", gamma=0.0),
     "denoising_loss: weighting 'min_snr': gamma must be finite and > 0, got gamma=0.0."),
    (lambda: losses.denoising_loss(VPLinear(), t_min=0.5, t_max=0.2),
     "denoising_loss: " + INTERVAL),
    (lambda: losses.denoising_loss(PFGMPP(D=8.0, data_dim=2)), "denoising_loss: " + GAUSSIAN),
    (lambda: losses.edm_loss(VPLinear(), sigma_data=0.0),
     "edm_loss: weighting 'edm': sigma_data must be finite and > 0, got sigma_data=0.0."),
    (lambda: losses.edm_loss(VPLinear(), p_std=0.0),
     "edm_loss: time_sampling 'lognormal': p_std must be finite and > 0, got p_std=0.0."),
    (lambda: losses.edm_loss(VPLinear(), p_mean=float("nan")),
     "edm_loss: time_sampling 'lognormal': p_mean must be a finite number, got p_mean=nan."),
    (lambda: losses.flow_matching_loss(RectifiedFlow(), beta=1.0),
     "flow_matching_loss: unknown option(s) ['beta'] for weighting='uniform', "
     "time_sampling='uniform'; valid options: ['t_max', 't_min']."),
    (lambda: losses.flow_matching_loss(PFGMPP(D=8.0, data_dim=2)),
     "flow_matching_loss: " + GAUSSIAN),
    (lambda: losses.denoising_loss(VPLinear())(lambda x, t: x, {"y": jnp.zeros((2, 2))},
                                               jax.random.key(0)),
     "denoising_loss: batch has no 'x' entry (data of shape (B, ...)); got keys ['y']."),
    (lambda: losses.edm_loss(VPLinear())(lambda x, t: x, {"y": jnp.zeros((2, 2))},
                                         jax.random.key(0)),
     "edm_loss: batch has no 'x' entry (data of shape (B, ...)); got keys ['y']."),
    (lambda: losses.flow_matching_loss()(lambda x, t: x[:, :1], {"x": jnp.zeros((2, 2))},
                                         jax.random.key(0)),
     "flow_matching_loss: model_fn(x_t, t, **cond) returned shape (2, 1), expected the "
     "shape of x_t (2, 2)."),
])
def test_denoising_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message
