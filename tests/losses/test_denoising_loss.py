"""Value tests of the loss factories: regression targets of every kind against
closed forms written here, loss aggregation, conditioning, dtypes, jit/vmap/grad, the
DDPM grid, EDM preconditioning and the registry."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.predictions import KINDS, edm_precondition, edm_scalings
from diffax.processes import (
    EDM,
    VE,
    DiscreteDDPM,
    RectifiedFlow,
    SubVP,
    VPCosine,
    VPLinear,
)

B, D = 64, 3
PROCESSES = [VPLinear(), VPCosine(), SubVP(), VE(), EDM(), RectifiedFlow(),
             DiscreteDDPM.linear(50)]


def data(dtype=jnp.float32, seed=0):
    return jax.random.normal(jax.random.key(seed), (B, D), dtype) * 0.7 + 0.2


def reference_target(kind, process, x0, eps, t):
    """The regression target of ``kind`` from its definition (central differences for
    the time derivatives of alpha and sigma, not diffax.predictions)."""
    a = process.alpha(t)[:, None]
    s = process.sigma(t)[:, None]
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    if kind == "score":
        return -eps / s
    if kind == "v":
        return a * eps - s * x0
    h = 1e-6 * jnp.maximum(t, 1.0)
    da = ((process.alpha(t + h) - process.alpha(t - h)) / (2 * h))[:, None]
    ds = ((process.sigma(t + h) - process.sigma(t - h)) / (2 * h))[:, None]
    return da * x0 + ds * eps


def cheating_model(kind, process, x0, offset=0.0):
    """Knows the clean batch, so it recovers eps from x_t and returns target + offset."""

    def model_fn(x, t, **cond):
        a, s = process.alpha(t)[:, None], process.sigma(t)[:, None]
        eps = (x - a * x0) / s
        return reference_target(kind, process, x0, eps, t) + offset

    return model_fn


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_targets_of_every_kind_match_their_definition(x64, process):
    x0 = data(jnp.float64)
    for kind in KINDS:
        for weighting in ("snr",):  # the weights themselves: test_loss_weighting.py
            loss_fn = losses.denoising_loss(process, kind=kind, weighting=weighting)
            for offset in (0.0, 0.25):
                loss, aux = loss_fn(cheating_model(kind, process, x0, offset), {"x": x0},
                                    jax.random.key(1))
                # The per-example squared error is exactly offset^2 iff the targets agree.
                np.testing.assert_allclose(aux["mse"], offset**2, rtol=1e-6, atol=1e-10,
                                           err_msg=f"{process.name} {kind} offset={offset}")
                np.testing.assert_allclose(aux["loss_per_example"], aux["weight"] * aux["mse"],
                                           rtol=1e-12)
                np.testing.assert_allclose(loss, np.mean(aux["weight"]) * offset**2,
                                           rtol=1e-6, atol=1e-10)
    # Negative control: the x0 target is not the eps target.
    _, aux = losses.denoising_loss(process, kind="eps")(cheating_model("x0", process, x0),
                                                        {"x": x0}, jax.random.key(1))
    assert np.min(aux["mse"]) > 1e-3


def test_loss_and_aux_float32_jit_vmap_grad():
    process = VPLinear()
    loss_fn = losses.denoising_loss(process, kind="v", weighting="min_snr",
                                    time_sampling="antithetic")
    x0 = data()
    params = {"w": jnp.eye(D) * 0.5, "b": jnp.zeros(D)}

    def loss_of(params, key):
        model = lambda x, t, **c: x @ params["w"] + params["b"] + jnp.tanh(t)[:, None]
        return loss_fn(model, {"x": x0}, key)

    # One compiled program (eager float32 evaluation would compile op by op).
    @jax.jit
    def everything(params, keys):
        loss, aux = loss_of(params, keys[0])
        batched = jax.vmap(lambda k: loss_of(params, k)[0])(keys)
        grads = jax.grad(lambda p: loss_of(p, keys[0])[0])(params)
        direction = {"w": jnp.ones((D, D)) * 0.1, "b": jnp.ones(D) * 0.1}
        f = lambda e: loss_of(jax.tree.map(lambda p, d: p + e * d, params, direction),
                              keys[0])[0]
        fd = (f(1e-2) - f(-1e-2)) / 2e-2
        analytic = sum(jnp.sum(grads[k] * direction[k]) for k in grads)
        return loss, aux, batched, grads, fd, analytic

    keys = jax.random.split(jax.random.key(3), 4)
    loss, aux, batched, grads, fd, analytic = everything(params, keys)
    assert loss.dtype == jnp.float32 and loss.shape == ()
    assert set(aux) >= {"loss", "t", "weight", "mse", "loss_per_example"}
    for name in ("t", "weight", "mse", "loss_per_example"):
        assert aux[name].shape == (B,) and aux[name].dtype == jnp.float32, name
    assert float(aux["loss"]) == float(loss)  # one value returned twice (losses/base.py)
    np.testing.assert_allclose(loss, np.mean(aux["loss_per_example"]), rtol=1e-6)
    t = np.asarray(aux["t"])
    assert t.min() >= process.t_min and t.max() <= process.t_max

    assert batched.dtype == jnp.float32 and len(set(np.asarray(batched).tolist())) == 4
    np.testing.assert_allclose(batched[0], loss, rtol=1e-5)
    g = np.asarray(grads["w"])
    assert g.dtype == np.float32 and np.all(np.isfinite(g)) and np.abs(g).max() > 1e-4
    np.testing.assert_allclose(analytic, fd, rtol=2e-2)


def test_conditioning_entries_are_passed_to_the_model(x64):
    process = VE()
    x0 = data(jnp.float64)
    label = jnp.arange(B) % 3
    seen = {}

    def model_fn(x, t, label, mask):
        seen["keys"] = ("label", "mask")
        return jnp.broadcast_to((label * mask)[:, None].astype(x.dtype), x.shape)

    batch = {"x": x0, "label": label, "mask": jnp.full((B,), 2)}
    loss, aux = losses.denoising_loss(process, kind="x0")(model_fn, batch, jax.random.key(0))
    expected = np.mean((2.0 * np.asarray(label)[:, None] - np.asarray(x0)) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert seen["keys"] == ("label", "mask")


def test_ddpm_simple_uses_the_discrete_grid(x64):
    n_steps = 50  # the same table shape as PROCESSES' DiscreteDDPM (fewer compiles)
    process = DiscreteDDPM.linear(n_steps, beta_start=1e-3, beta_end=0.05)
    loss_fn = losses.ddpm_simple_loss(process)
    x0 = data(jnp.float64)
    zero = lambda x, t: jnp.zeros_like(x)
    # Eager calls at the shapes of the other tests reuse their compiled operations.
    runs = [loss_fn(zero, {"x": x0}, k) for k in jax.random.split(jax.random.key(1), 50)]
    losses_ = np.array([float(loss) for loss, _ in runs])
    aux = {k: np.stack([a[k] for _, a in runs]) for k in runs[0][1]}
    t, step = aux["t"].ravel(), aux["step"].ravel()
    np.testing.assert_array_equal(step, np.round(t * n_steps).astype(int) - 1)
    np.testing.assert_allclose(process.model_step(t), step, atol=1e-9)
    counts = np.bincount(step, minlength=n_steps)
    assert counts.shape == (n_steps,)
    # Uniform on {1..N}: every count within 5 standard deviations of its mean.
    expected = step.size / n_steps
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts
    # alpha(t_n)^2 is DDPM's alpha_bar_n exactly.
    alpha_bar = np.cumprod(1.0 - np.linspace(1e-3, 0.05, n_steps))
    np.testing.assert_allclose(np.asarray(process.alpha(t)) ** 2, alpha_bar[step], rtol=1e-12)
    # Zero predictor: eps-MSE = E[eps^2] = 1.
    np.testing.assert_allclose(np.mean(losses_), 1.0, atol=0.03)
    np.testing.assert_allclose(aux["weight"], 1.0)


def test_ddpm_simple_respects_the_time_interval_and_targets_eps(x64):
    process = DiscreteDDPM.linear(50, t_min=0.35, t_max=0.8)
    assert losses.ddpm_step_range(process) == (18, 40)
    x0 = data(jnp.float64)
    _, aux = losses.ddpm_simple_loss(process)(cheating_model("eps", process, x0), {"x": x0},
                                              jax.random.key(2))
    assert set(np.asarray(aux["step"]).tolist()) <= set(range(17, 40))
    np.testing.assert_allclose(aux["mse"], 0.0, atol=1e-20)


def test_flow_matching_targets_eps_minus_x0(x64):
    process = RectifiedFlow()
    x0 = data(jnp.float64)

    def model_fn(x, t):  # knows x0: eps - x0 = (x - (1 - t) x0) / t - x0
        return (x - (1 - t)[:, None] * x0) / t[:, None] - x0

    for options in ({}, {"time_sampling": "logit_normal", "logit_std": 0.5}):
        loss, aux = losses.flow_matching_loss(process, **options)(model_fn, {"x": x0},
                                                                  jax.random.key(0))
        np.testing.assert_allclose(loss, 0.0, atol=1e-20)
    # Same as the registry entry and as dsm with kind velocity.
    key = jax.random.key(4)
    model = lambda x, t: jnp.sin(x) * t[:, None]
    ref = losses.flow_matching_loss(process)(model, {"x": x0}, key)[0]
    for loss_fn in (losses.get_loss("flow_matching", process),
                    losses.get_loss("dsm", process, kind="velocity")):
        np.testing.assert_allclose(loss_fn(model, {"x": x0}, key)[0], ref, rtol=1e-14)


@pytest.mark.parametrize("process", [EDM(), VPLinear()], ids=lambda p: p.name)
def test_edm_loss_has_unit_weight_on_the_raw_network_target(x64, process):
    """With EDM preconditioning D = c_skip x/alpha + c_out F(c_in x/alpha, c_noise), the
    edm weighting makes the loss the plain MSE of F against its target
    (x0 - c_skip x/alpha) / c_out (Karras et al., 2022, eq. 8)."""
    sigma_data = 0.7
    x0 = data(jnp.float64)

    def raw_net(x_in, c_noise, offset):
        s = jnp.exp(4.0 * c_noise)  # sigma / alpha
        c_skip, c_out, c_in, _ = edm_scalings(s, sigma_data)
        x_scaled = x_in / c_in[:, None]
        return (x0 - c_skip[:, None] * x_scaled) / c_out[:, None] + offset

    loss_fn = losses.edm_loss(process, sigma_data=sigma_data)
    for offset in (0.0, 0.3):
        model = edm_precondition(lambda x, c: raw_net(x, c, offset), process, sigma_data)
        loss, aux = loss_fn(model, {"x": x0}, jax.random.key(0))
        np.testing.assert_allclose(aux["loss_per_example"], offset**2, rtol=1e-6, atol=1e-12)
    # edm_loss is dsm with kind x0, edm weighting and lognormal times.
    model = lambda x, t: jnp.tanh(x)
    key = jax.random.key(5)
    ref = losses.denoising_loss(process, kind="x0", weighting="edm", time_sampling="lognormal",
                                sigma_data=sigma_data)(model, {"x": x0}, key)[0]
    got = losses.get_loss("edm", process, sigma_data=sigma_data)(model, {"x": x0}, key)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    np.testing.assert_allclose(loss_fn(model, {"x": x0}, key)[0], ref, rtol=1e-14)
    # Its noise levels are lognormal, not the default uniform times.
    t = loss_fn(model, {"x": x0}, key)[1]["t"]
    t_uniform = losses.denoising_loss(process, kind="x0")(model, {"x": x0}, key)[1]["t"]
    assert not np.allclose(t, t_uniform)


def test_get_loss_builds_every_registered_loss(x64):
    assert set(losses.LOSSES.names("gaussian")) == {"dsm", "edm", "ddpm_simple", "flow_matching"}
    x0 = data(jnp.float64)
    model = lambda x, t, **c: 0.5 * x
    key = jax.random.key(0)
    cases = {"dsm": (VPLinear(), {"kind": "eps", "time_sampling": "antithetic"}),
             "edm": (EDM(), {"sigma_data": 0.5}),
             "ddpm_simple": (DiscreteDDPM.linear(50), {}),
             "flow_matching": (RectifiedFlow(), {})}
    direct = {"dsm": losses.denoising_loss, "edm": losses.edm_loss,
              "ddpm_simple": losses.ddpm_simple_loss, "flow_matching": losses.flow_matching_loss}
    for name, (process, options) in cases.items():
        loss, aux = losses.get_loss(name, process, **options)(model, {"x": x0}, key)
        ref = direct[name](process, **options)(model, {"x": x0}, key)[0]
        assert np.isfinite(loss) and loss > 0
        np.testing.assert_allclose(loss, ref, rtol=1e-14)
