"""Weighting identities (float64): every weighting is one objective whatever the
prediction kind, and its weights equal the closed forms of the papers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.predictions import KINDS, wrap_model
from diffax.processes import EDM, VE, DiscreteDDPM, RectifiedFlow, SubVP, VPCosine, VPLinear

B, D = 64, 3
PROCESSES = [VPLinear(), VPCosine(), SubVP(), VE(), EDM(), RectifiedFlow(),
             DiscreteDDPM.linear(50)]


def data():
    return jax.random.normal(jax.random.key(0), (B, D), jnp.float64) * 0.7 + 0.2


def some_x0_model(x, t, **cond):
    """An arbitrary smooth (inexact) denoiser."""
    return 0.6 * jnp.tanh(x) + 0.1 * jnp.cos(t)[:, None]


def run(process, kind, weighting, model_fn, time_sampling="uniform", **options):
    loss_fn = losses.denoising_loss(process, kind=kind, weighting=weighting,
                                    time_sampling=time_sampling, **options)
    return loss_fn(model_fn, {"x": data()}, jax.random.key(1))


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_weightings_do_not_depend_on_the_parameterization(x64, process):
    """The same model expressed in every kind gives the same loss (per example)."""
    for weighting in ("snr", "min_snr", "likelihood", "edm"):
        _, ref = run(process, "x0", weighting, some_x0_model)
        for kind in KINDS:
            _, aux = run(process, kind, weighting, wrap_model(some_x0_model, "x0", kind, process))
            np.testing.assert_allclose(aux["loss_per_example"], ref["loss_per_example"],
                                       rtol=1e-9, err_msg=f"{process.name} {weighting} {kind}")
    # Negative control: "uniform" is unit weight in each kind's own space, so it does
    # depend on the parameterization.
    _, a = run(process, "x0", "uniform", some_x0_model)
    _, b = run(process, "eps", "uniform", wrap_model(some_x0_model, "x0", "eps", process))
    assert not np.allclose(a["loss_per_example"], b["loss_per_example"], rtol=1e-3)


def vp_snr(t, beta_min=0.1, beta_max=20.0):
    """Closed form for the linear VP SDE: alpha^2 = exp(-int_0^t beta)."""
    alpha2 = np.exp(-0.5 * t**2 * (beta_max - beta_min) - t * beta_min)
    return alpha2 / (1.0 - alpha2)


def test_snr_on_x0_equals_uniform_on_eps(x64):
    for process in (VPLinear(), VE(), RectifiedFlow()):
        eps_model = wrap_model(some_x0_model, "x0", "eps", process)
        loss_a, aux_a = run(process, "x0", "snr", some_x0_model)
        loss_b, aux_b = run(process, "eps", "uniform", eps_model)
        np.testing.assert_allclose(loss_a, loss_b, rtol=1e-10)
        np.testing.assert_allclose(aux_b["weight"], 1.0, rtol=0)


def test_weights_equal_the_closed_forms_of_the_papers(x64):
    vp = VPLinear()
    t = np.asarray(run(vp, "eps", "uniform", some_x0_model)[1]["t"])
    snr = vp_snr(t)
    beta = 0.1 + t * (20.0 - 0.1)
    sigma2 = 1.0 / (1.0 + snr)

    def weight(kind, weighting, process=vp, **options):
        _, aux = run(process, kind, weighting,
                     wrap_model(some_x0_model, "x0", kind, process), **options)
        np.testing.assert_allclose(aux["t"], t if process is vp else aux["t"])
        return np.asarray(aux["weight"])

    # "snr": unit weight on the eps error, SNR on the x0 error (Kingma et al., 2021).
    np.testing.assert_allclose(weight("x0", "snr"), snr, rtol=1e-9)
    np.testing.assert_allclose(weight("eps", "snr"), 1.0, rtol=1e-9)
    # Min-SNR-gamma (Hang et al., 2023): min(SNR, g) on x0, min(SNR, g)/SNR on eps,
    # min(SNR, g)/(SNR + 1) on v for a VP process.
    for gamma in (5.0, 1.0):
        m = np.minimum(snr, gamma)
        np.testing.assert_allclose(weight("x0", "min_snr", gamma=gamma), m, rtol=1e-9)
        np.testing.assert_allclose(weight("eps", "min_snr", gamma=gamma), m / snr, rtol=1e-9)
        np.testing.assert_allclose(weight("v", "min_snr", gamma=gamma), m / (snr + 1), rtol=1e-9)
    # Likelihood weighting (Song et al., 2021): g^2 = beta on the score loss, g^2/sigma^2
    # on the eps loss.
    np.testing.assert_allclose(weight("score", "likelihood"), beta, rtol=1e-9)
    np.testing.assert_allclose(weight("eps", "likelihood"), beta / sigma2, rtol=1e-9)
    # For VE, g^2/sigma^2 = 2 log(sigma_max/sigma_min) is constant in eps space.
    np.testing.assert_allclose(weight("eps", "likelihood", VE()), 2 * math.log(50 / 0.01),
                               rtol=1e-9)
    # "uniform" in v space for VP is the SNR+1 ("truncated SNR") x0 weight (Salimans & Ho).
    _, aux_v = run(vp, "v", "uniform", wrap_model(some_x0_model, "x0", "v", vp))
    _, aux_x0 = run(vp, "x0", "uniform", some_x0_model)
    np.testing.assert_allclose(aux_v["mse"], (snr + 1) * aux_x0["mse"], rtol=1e-9)
    # EDM (Karras et al., 2022, Table 1): (s^2 + sd^2)/(s sd)^2 on x0, s = sigma/alpha;
    # on the EDM process s = t, and the eps weight is (s^2 + sd^2)/sd^2.
    s = 1.0 / np.sqrt(snr)
    np.testing.assert_allclose(weight("x0", "edm", sigma_data=0.5),
                               (s**2 + 0.25) / (s * 0.5) ** 2, rtol=1e-9)
    edm = EDM()
    _, aux = run(edm, "eps", "edm", wrap_model(some_x0_model, "x0", "eps", edm), sigma_data=0.3)
    np.testing.assert_allclose(aux["weight"], (np.asarray(aux["t"]) ** 2 + 0.09) / 0.09,
                               rtol=1e-9)


def test_kind_error_scale_closed_forms(x64):
    t = jnp.linspace(0.05, 0.95, 7)
    vp = VPLinear()
    a, s = np.asarray(vp.alpha(t)), np.asarray(vp.sigma(t))
    expected = {"x0": np.ones_like(a), "eps": -a / s, "v": -(a**2 + s**2) / s,
                "score": a / s**2}
    for kind, value in expected.items():
        np.testing.assert_allclose(losses.kind_error_scale(kind, vp, t), value, rtol=1e-12)
    # Rectified flow: velocity = eps - x0 and eps error = -(1-t)/t x0 error -> -1/t.
    np.testing.assert_allclose(losses.kind_error_scale("velocity", RectifiedFlow(), t),
                               -1.0 / np.asarray(t), rtol=1e-12)
