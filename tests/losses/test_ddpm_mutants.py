"""Value tests that pin diffax/losses/ddpm.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

DDPM's L_simple (Ho et al., 2020, Algorithm 1) against a by-hand composition of its draws
with the same keys: k_n, k_eps = split(key), n ~ U{n_lo, ..., n_hi} (k_n), t = n / N,
eps ~ N(0, I) (k_eps), x_t = sqrt(alpha_bar_n) x0 + sqrt(1 - alpha_bar_n) eps with
alpha_bar_n = prod_{i <= n} (1 - beta_i), loss = mean_b mean_i (eps_theta - eps)^2; and the
step range at grid times that float arithmetic puts a hair off the integers
(0.07 * 100 = 7.000000000000001, 0.29 * 100 = 28.999999999999996).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.processes import DiscreteDDPM, VPLinear

B = 7


def recording_model(seen):
    def model_fn(x, t, label):
        seen.update(x=np.asarray(x), t=np.asarray(t), x_dtype=x.dtype, t_dtype=t.dtype)
        return 0.3 * x + t[:, None, None] * label[:, None, None]
    return model_fn


def test_step_range_rounds_to_the_grid():
    cases = {(10, 0.3, 0.7): (3, 7), (100, 0.07, 0.29): (7, 29), (10, 0.3, 0.35): (3, 3),
             (10, 0.05, 1.0): (1, 10), (20, 0.35, 0.55): (7, 11)}
    for (n, lo, hi), want in cases.items():
        got = losses.ddpm_step_range(DiscreteDDPM.linear(n, t_min=lo, t_max=hi))
        assert got == want, (n, lo, hi, got)
    assert losses.ddpm_step_range(DiscreteDDPM.linear(50)) == (1, 50)  # default [1/N, 1]


@pytest.mark.parametrize("n_steps, t_min, t_max", [(20, 0.35, 0.55), (10, 0.3, 0.35)])
def test_ddpm_simple_loss_by_hand(x64, n_steps, t_min, t_max):
    """Float64 data; the one-step interval [0.3, 0.35] (n_lo = n_hi = 3) is accepted."""
    process = DiscreteDDPM.linear(n_steps, beta_start=1e-3, beta_end=0.2, t_min=t_min,
                                  t_max=t_max)
    n_lo, n_hi = losses.ddpm_step_range(process)
    x0 = jax.random.normal(jax.random.key(1), (B, 2, 3), jnp.float64)
    label = jnp.arange(B, dtype=jnp.float64)
    key, seen = jax.random.key(9), {}
    loss, aux = losses.ddpm_simple_loss(process)(recording_model(seen),
                                                 {"x": x0, "label": label}, key)
    k_n, k_eps = jax.random.split(key)
    n = np.asarray(jax.random.randint(k_n, (B,), n_lo, n_hi + 1))
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float64))
    alpha_bar = np.cumprod(1.0 - np.linspace(1e-3, 0.2, n_steps))[n - 1][:, None, None]
    x_t = np.sqrt(alpha_bar) * np.asarray(x0) + np.sqrt(1.0 - alpha_bar) * eps
    t = n / n_steps
    np.testing.assert_allclose(seen["t"], t, rtol=1e-15)
    np.testing.assert_allclose(seen["x"], x_t, rtol=1e-9, atol=1e-12)
    pred = 0.3 * x_t + t[:, None, None] * np.asarray(label)[:, None, None]
    mse = np.mean((pred - eps) ** 2, axis=(1, 2))
    np.testing.assert_array_equal(aux["step"], n - 1)
    assert aux["step"].dtype == jnp.int32
    np.testing.assert_array_equal(aux["weight"], np.ones(B))
    np.testing.assert_allclose(aux["mse"], mse, rtol=1e-9)
    np.testing.assert_allclose(loss, np.mean(mse), rtol=1e-9)
    assert set(aux) == {"loss", "t", "weight", "mse", "loss_per_example", "step"}


def test_ddpm_simple_loss_float32_under_x64(x64):
    process = DiscreteDDPM.linear(20)
    x0 = jax.random.normal(jax.random.key(1), (B, 2, 3), jnp.float32)
    seen = {}
    loss, aux = losses.ddpm_simple_loss(process)(
        recording_model(seen), {"x": x0, "label": jnp.ones(B, jnp.float32)}, jax.random.key(2))
    assert seen["x_dtype"] == jnp.float32 and seen["t_dtype"] == jnp.float32
    assert loss.dtype == jnp.float32 and aux["mse"].dtype == jnp.float32
    k_n, _ = jax.random.split(jax.random.key(2))
    n = np.asarray(jax.random.randint(k_n, (B,), 1, 21))
    np.testing.assert_allclose(seen["t"], n / 20, rtol=1e-7)  # XLA: 9/20 -> 0.45000002
    # The noise is drawn in float32 (a float64 draw would be other numbers).
    _, k_eps = jax.random.split(jax.random.key(2))
    eps = np.asarray(jax.random.normal(k_eps, (B, 2, 3), jnp.float32), np.float64)
    alpha_bar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 20))[n - 1][:, None, None]
    x_t = np.sqrt(alpha_bar) * np.asarray(x0, np.float64) + np.sqrt(1.0 - alpha_bar) * eps
    np.testing.assert_allclose(seen["x"], x_t, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build, message", [
    (lambda: losses.ddpm_simple_loss(VPLinear()),
     "ddpm_simple_loss: process must be a DiscreteDDPM (e.g. DiscreteDDPM.linear(1000)), got "
     "VPLinear; for continuous-time processes use denoising_loss(process, kind='eps')."),
    (lambda: losses.ddpm_simple_loss(DiscreteDDPM.linear(10, t_min=0.31, t_max=0.39)),
     "ddpm_simple_loss: no step t_n = n/10 lies in [t_min=0.31, t_max=0.39]."),
    (lambda: losses.ddpm_simple_loss(DiscreteDDPM.linear(10))(lambda x, t: x, {"y": 1},
                                                              jax.random.key(0)),
     "ddpm_simple_loss: batch has no 'x' entry (data of shape (B, ...)); got keys ['y']."),
    (lambda: losses.ddpm_simple_loss(DiscreteDDPM.linear(10))(
        lambda x, t: x[:, :1], {"x": jnp.zeros((2, 3))}, jax.random.key(0)),
     "ddpm_simple_loss: model_fn(x_t, t, **cond) returned shape (2, 1), expected the shape "
     "of x_t (2, 3)."),
])
def test_ddpm_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message
