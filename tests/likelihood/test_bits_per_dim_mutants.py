"""Dequantized bits/dim by hand: the pieces that mutation testing of
diffax/likelihood/bits_per_dim.py checks (docs/testing.md, "Mutation testing"); the
end-to-end bound against the exact density is in test_bits_per_dim.py.

With L levels, integer images u and U ~ Uniform[0, 1) (Theis et al., 2016):

    x = 2 (u + U) / L - 1,
    bpd = -log p(x) / (D ln 2) + log2(L / R)      (R: width of the data interval, 2),

and ``image_bits_per_dim`` averages bpd over ``n_dequant`` rounds, round i using
``k_deq, k_probe = split(k_i)``, ``k_i in split(key, n_dequant)``.
"""

import math
import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.likelihood import bits_per_dim, dequantize, image_bits_per_dim

bits_per_dim_module = sys.modules["diffax.likelihood.bits_per_dim"]

IMAGES = np.array([[0, 255, 7], [128, 1, 64]], np.uint8)


def test_dequantize_by_hand(x64):
    """x = 2 (u + U) / L - 1 with U = uniform(key, u.shape, dtype): default dtype float64
    under x64, an explicit float32 kept, and L = num_levels (default 256)."""
    key = jax.random.PRNGKey(0)
    x = dequantize(key, IMAGES)
    assert x.dtype == jnp.float64 and x.shape == IMAGES.shape
    noise = np.asarray(jax.random.uniform(key, IMAGES.shape, jnp.float64))
    np.testing.assert_allclose(x, 2.0 * (IMAGES + noise) / 256 - 1.0, rtol=0, atol=1e-15)

    x32 = dequantize(key, IMAGES, dtype=jnp.float32)
    assert x32.dtype == jnp.float32
    noise32 = np.asarray(jax.random.uniform(key, IMAGES.shape, jnp.float32))
    np.testing.assert_allclose(x32, (2 * (IMAGES.astype(np.float32) + noise32) / 256 - 1),
                               rtol=0, atol=1e-7)

    u4 = np.array([[0, 1], [2, 3]], np.int32)  # 4 levels: bins of width 1/2 on [-1, 1)
    x4 = dequantize(key, u4, num_levels=4)
    noise4 = np.asarray(jax.random.uniform(key, u4.shape, jnp.float64))
    np.testing.assert_allclose(x4, 2.0 * (u4 + noise4) / 4 - 1.0, rtol=0, atol=1e-15)


def test_dequantize_default_dtype_without_x64():
    """Without x64 the default float type is float32."""
    x = dequantize(jax.random.PRNGKey(1), IMAGES)
    noise = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), IMAGES.shape, jnp.float32))
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(x, 2 * (IMAGES.astype(np.float32) + noise) / 256 - 1, atol=1e-7)


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.float32), np.zeros((2, 2), bool)])
def test_dequantize_refuses_non_integers_with_the_whole_message(bad):
    with pytest.raises(ValueError) as err:
        dequantize(jax.random.PRNGKey(0), bad, num_levels=4)
    assert str(err.value) == (
        f"dequantize: images must be integers in [0, 3] (e.g. uint8), got dtype {bad.dtype}; "
        "dequantize before any scaling to [-1, 1].")


def test_bits_per_dim_closed_form(x64):
    """-log p / (D ln 2) + log2(L / R) at several log-densities, D = 1 allowed."""
    lp = np.array([-3.0, 0.5, -100.0])
    for d, levels, width in ((1, 256, 2.0), (3, 256, 2.0), (7, 32, 1.0), (2, 4, 8.0)):
        want = -lp / (d * math.log(2.0)) + math.log2(levels / width)
        got = bits_per_dim(jnp.asarray(lp), d, num_levels=levels, data_range=width)
        np.testing.assert_allclose(got, want, rtol=1e-14)
    with pytest.raises(ValueError) as err:
        bits_per_dim(lp, 0)
    assert str(err.value) == "bits_per_dim: num_dims must be >= 1, got 0."


class _RecordingLikelihood:
    """Stands in for pf_ode_log_likelihood: records each call and returns the closed-form
    log-density of a unit Gaussian over the D = H W C values of each image."""

    def __init__(self):
        self.calls = []

    def __call__(self, model_fn, process, x, **kwargs):
        self.calls.append((model_fn, process, x, kwargs))
        lp = -0.5 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) - x[0].size * 0.5 * math.log(
            2 * math.pi)
        return SimpleNamespace(log_prob=lp)


def test_image_bits_per_dim_is_the_average_of_its_rounds(x64, monkeypatch):
    """Three rounds, 16 levels: the mean of the per-round bounds, round i dequantizing with
    split(k_i)[0] and handing split(k_i)[1] and the likelihood options to the ODE; (B, 2,
    3, 1) images, so D = 6 counts every axis after the batch. The ODE is replaced by a
    closed-form density (the real ODE is in test_bits_per_dim.py)."""
    fake = _RecordingLikelihood()
    monkeypatch.setattr(bits_per_dim_module, "pf_ode_log_likelihood", fake)
    model, process = object(), object()
    u = jnp.arange(24, dtype=jnp.uint8).reshape(4, 2, 3, 1) % 16
    key = jax.random.PRNGKey(5)
    got = image_bits_per_dim(model, process, u, key, n_dequant=3, num_levels=16,
                             divergence="hutchinson", rtol=1e-3)
    want = 0.0
    assert len(fake.calls) == 3
    for k, (m, proc, x, kwargs) in zip(jax.random.split(key, 3), fake.calls):
        k_deq, k_probe = jax.random.split(k)
        assert m is model and proc is process
        assert kwargs.keys() == {"key", "divergence", "rtol"}
        assert kwargs["divergence"] == "hutchinson" and kwargs["rtol"] == 1e-3
        np.testing.assert_array_equal(jax.random.key_data(kwargs["key"]),
                                      jax.random.key_data(k_probe))
        np.testing.assert_array_equal(x, dequantize(k_deq, u, 16))
        z = np.asarray(x).reshape(4, 6)
        lp = -0.5 * (z ** 2).sum(1) - 3 * math.log(2 * math.pi)
        want = want + (-lp / (6 * math.log(2.0)) + math.log2(16 / 2))
    assert got.shape == (4,)
    np.testing.assert_allclose(got, want / 3, rtol=1e-13)


def test_image_bits_per_dim_defaults(x64, monkeypatch):
    """One round (key split(key, 1)[0]), 256 levels, no likelihood options."""
    fake = _RecordingLikelihood()
    monkeypatch.setattr(bits_per_dim_module, "pf_ode_log_likelihood", fake)
    u = jnp.array([[0, 255], [128, 7]], jnp.uint8)
    key = jax.random.PRNGKey(6)
    got = image_bits_per_dim(None, None, u, key)
    (_, _, x, kwargs), = fake.calls
    k_deq, k_probe = jax.random.split(jax.random.split(key, 1)[0])
    assert list(kwargs) == ["key"]
    np.testing.assert_array_equal(jax.random.key_data(kwargs["key"]),
                                  jax.random.key_data(k_probe))
    np.testing.assert_array_equal(x, dequantize(k_deq, u))
    lp = -0.5 * (np.asarray(x) ** 2).sum(1) - math.log(2 * math.pi)
    np.testing.assert_allclose(got, -lp / (2 * math.log(2.0)) + 7.0, rtol=1e-13)
