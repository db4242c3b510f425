"""Dequantized bits/dim: the closed forms, and the pitfall of skipping dequantization."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.likelihood import bits_per_dim, dequantize, image_bits_per_dim, pf_ode_log_likelihood
from diffax.processes import VPLinear


def test_dequantize_fills_each_bin_once():
    u = jnp.arange(256, dtype=jnp.uint8)[:, None].repeat(64, axis=1)
    x = np.asarray(dequantize(jax.random.PRNGKey(0), u))
    lo = 2 * np.arange(256)[:, None] / 256 - 1
    assert np.all((x >= lo) & (x < lo + 2 / 256))
    assert abs(((x - lo) * 128).mean() - 0.5) < 0.01  # uniform within the bin
    with pytest.raises(ValueError, match="integers"):
        dequantize(jax.random.PRNGKey(0), x)


def test_uniform_density_is_exactly_eight_bits():
    """p(x) = 2^-D on [-1, 1]^D is the uniform 8-bit distribution: 8 bits/dim."""
    d = 5
    assert float(bits_per_dim(-d * math.log(2.0), d)) == pytest.approx(8.0, abs=1e-12)
    # 4-level data on [0, 1] (range 1): log2(4 / 1) = 2 bits for the uniform density 1
    assert float(bits_per_dim(0.0, 3, num_levels=4, data_range=1.0)) == pytest.approx(2.0)


def test_without_dequantization_bits_per_dim_go_negative(x64):
    """Pitfall: a density with narrow peaks at the 256 grid values scores far below 0
    bits/dim when evaluated at the grid values themselves; on dequantized data the
    same density obeys the bound (>= 0, and near its true 8 bits for uniform levels)."""
    levels = 2 * (np.arange(256) + 0.5) / 256 - 1  # bin centres in [-1, 1]
    gm = GaussianMixture.isotropic(np.full(256, 1 / 256), levels[:, None], 1e-6)
    u = jax.random.randint(jax.random.PRNGKey(1), (4096, 1), 0, 256)
    on_grid = jnp.asarray(levels)[u]
    bpd_grid = float(jnp.mean(bits_per_dim(gm.log_prob(on_grid), 1)))
    x = dequantize(jax.random.PRNGKey(2), u, dtype=jnp.float64)
    bpd_deq = float(jnp.mean(bits_per_dim(gm.log_prob(x), 1)))
    assert bpd_grid < -1.0
    assert bpd_deq >= 0.0 and bpd_deq > 8.0  # the peaked density is a poor fit: > 8 bits


def test_image_bits_per_dim_is_the_dequantized_pf_ode_bound(x64):
    """End to end on 2-pixel 'images': equal to dequantize + pf_ode + bits_per_dim with
    the same keys, and close to the model's exact density there."""
    p = VPLinear()
    gm = GaussianMixture.create(jnp.array([0.5, 0.5]), jnp.array([[-0.4, 0.3], [0.5, -0.2]]),
                                jnp.stack([jnp.eye(2) * 0.05, jnp.eye(2) * 0.08]))
    model = gm.model_fn("eps", p)
    u = jax.random.randint(jax.random.PRNGKey(3), (6, 2, 1, 1), 96, 160).astype(jnp.uint8)
    key = jax.random.PRNGKey(4)
    flat_model = lambda x, t: model(x.reshape(x.shape[0], 2), t).reshape(x.shape)  # noqa: E731
    bpd = image_bits_per_dim(flat_model, p, u, key, rtol=1e-8, atol=1e-8)
    k_deq, _ = jax.random.split(jax.random.split(key, 1)[0])
    x = dequantize(k_deq, u, dtype=jnp.float64)
    ll = pf_ode_log_likelihood(flat_model, p, x, rtol=1e-8, atol=1e-8).log_prob
    np.testing.assert_allclose(bpd, bits_per_dim(ll, 2), rtol=1e-12)
    exact = bits_per_dim(gm.log_prob(x.reshape(6, 2)), 2)
    np.testing.assert_allclose(bpd, exact, atol=0.01)
