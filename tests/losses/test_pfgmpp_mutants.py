"""Value tests that pin diffax/losses/pfgmpp.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

The PFGM++ loss (Xu et al., 2023, Sec. 4 with EDM's recipe, Karras et al., 2022, Table 1)
against a by-hand composition of its draws with the same keys:

    k_sigma, k_kernel = split(key),  ln sigma = P_mean + P_std n,  n ~ N(0, I_B)(k_sigma),
    sigma clipped to [t_min, t_max],  x = y + R u ~ p_{sigma sqrt(D)}(. | y) (k_kernel),
    loss = mean_b lambda(sigma_b) mean_i (D(x; sigma)_bi - y_bi)^2,
    lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2,

on (B, 2, 3) data (N = 6) with a denoiser that uses x, sigma and a conditioning label.
The kernel draw itself is ``PFGMPP.sample_kernel`` (tested with the processes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.losses.pfgmpp import check_pfgmpp_process
from diffax.processes import PFGMPP, VPLinear

B = 5


def batch(dtype):
    x = jax.random.normal(jax.random.key(3), (B, 2, 3), dtype) * 0.8 + 0.1
    return {"x": x, "label": jnp.arange(B, dtype=dtype)}


def denoiser(x, sigma, label):
    return 0.4 * jnp.tanh(x) * sigma[:, None, None] + 0.1 * label[:, None, None]


def by_hand(process, data, key, sigma_data, p_mean, p_std):
    x0 = data["x"]
    k_sigma, k_kernel = jax.random.split(key)
    n = np.asarray(jax.random.normal(k_sigma, (B,), x0.dtype), np.float64)
    sigma = np.clip(np.exp(p_mean + p_std * n), process.t_min, process.t_max)
    x_t = process.sample_kernel(k_kernel, x0, jnp.asarray(sigma, x0.dtype))
    pred = np.asarray(denoiser(x_t, jnp.asarray(sigma, x0.dtype), data["label"]), np.float64)
    mse = np.mean((pred - np.asarray(x0, np.float64)) ** 2, axis=(1, 2))
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    return sigma, weight, mse


def test_pfgmpp_loss_by_hand(x64):
    """Non-default options (sigma_data, P_mean, P_std) and an interval that clips both ends."""
    process = PFGMPP(D=8.0, data_dim=6, t_min=0.3, t_max=2.0)
    data, key = batch(jnp.float64), jax.random.key(9)
    loss, aux = losses.pfgmpp_loss(process, sigma_data=0.7, p_mean=0.2, p_std=2.0)(
        denoiser, data, key)
    sigma, weight, mse = by_hand(process, data, key, 0.7, 0.2, 2.0)
    assert np.sum(sigma == 0.3) >= 1 and np.sum(sigma == 2.0) >= 1  # both ends clipped
    np.testing.assert_allclose(aux["t"], sigma, rtol=1e-13)
    np.testing.assert_allclose(aux["weight"], weight, rtol=1e-12)
    np.testing.assert_allclose(aux["mse"], mse, rtol=1e-12)
    np.testing.assert_allclose(aux["loss_per_example"], weight * mse, rtol=1e-12)
    np.testing.assert_allclose(loss, np.mean(weight * mse), rtol=1e-12)
    assert float(aux["loss"]) == float(loss)
    assert set(aux) == {"loss", "t", "weight", "mse", "loss_per_example"}


def test_pfgmpp_loss_defaults_and_float32(x64):
    """sigma_data = 0.5, P_mean = -1.2, P_std = 1.2 and the process's [0.002, 80] by
    default; float32 data stays float32 under x64."""
    process = PFGMPP(D=32.0, data_dim=6)
    key = jax.random.key(4)
    data = batch(jnp.float64)
    loss, aux = losses.pfgmpp_loss(process)(denoiser, data, key)
    sigma, weight, mse = by_hand(process, data, key, 0.5, -1.2, 1.2)
    np.testing.assert_allclose(aux["t"], sigma, rtol=1e-13)
    np.testing.assert_allclose(loss, np.mean(weight * mse), rtol=1e-12)
    data32 = batch(jnp.float32)
    loss32, aux32 = losses.pfgmpp_loss(process)(denoiser, data32, key)
    sigma, weight, mse = by_hand(process, data32, key, 0.5, -1.2, 1.2)
    assert loss32.dtype == jnp.float32
    for name in ("t", "weight", "mse", "loss_per_example"):
        assert aux32[name].dtype == jnp.float32, name
    np.testing.assert_allclose(aux32["t"], sigma, rtol=2e-6)
    np.testing.assert_allclose(aux32["weight"], weight, rtol=2e-5)
    np.testing.assert_allclose(aux32["mse"], mse, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(loss32, np.mean(weight * mse), rtol=2e-5)


@pytest.mark.parametrize("build, message", [
    (lambda: losses.pfgmpp_loss(VPLinear()),
     "pfgmpp_loss: process must be a PFGM++ process (family 'pfgmpp': "
     "diffax.processes.PFGMPP), got VPLinear of family 'gaussian'; for Gaussian processes "
     "use the 'denoising' objective and its losses."),
    (lambda: check_pfgmpp_process(object(), "here"),
     "here: process must be a PFGM++ process (family 'pfgmpp': diffax.processes.PFGMPP), "
     "got object; for Gaussian processes use the 'denoising' objective and its losses."),
    (lambda: losses.pfgmpp_loss(PFGMPP(D=8.0, data_dim=6), sigma_data=0.0),
     "pfgmpp_loss: sigma_data must be finite and > 0, got sigma_data=0.0."),
    (lambda: losses.pfgmpp_loss(PFGMPP(D=8.0, data_dim=6), p_mean=float("nan")),
     "pfgmpp_loss: p_mean must be a finite number, got p_mean=nan."),
    (lambda: losses.pfgmpp_loss(PFGMPP(D=8.0, data_dim=6), p_std=-1.0),
     "pfgmpp_loss: p_std must be finite and > 0, got p_std=-1.0."),
    (lambda: losses.pfgmpp_loss(PFGMPP(D=8.0, data_dim=6))(denoiser, {"y": 1},
                                                            jax.random.key(0)),
     "pfgmpp_loss: batch has no 'x' entry (data of shape (B, ...)); got keys ['y']."),
    (lambda: losses.pfgmpp_loss(PFGMPP(D=8.0, data_dim=6))(
        lambda x, t: x[:, :1], {"x": jnp.zeros((2, 2, 3))}, jax.random.key(0)),
     "pfgmpp_loss: model_fn(x_t, t, **cond) returned shape (2, 1, 3), expected the shape of "
     "x_t (2, 2, 3)."),
])
def test_pfgmpp_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_check_pfgmpp_process_returns_the_process():
    process = PFGMPP(D=8.0, data_dim=6)
    assert check_pfgmpp_process(process, "w") is process
