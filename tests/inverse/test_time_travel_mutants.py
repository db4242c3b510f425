"""RePaint's resampling loop (diffax/inverse/time_travel.py) against a NumPy transcription
with the same draws: repeat r = 1..n: x <- block(x, k_block_r); if r < n: x <- q(x_{t_a} | x)
(keys: split(key, n)[r] split into (block key, jump key)). The block here is
x -> 0.5 x + normal(k): simple, key-dependent and state-dependent. Float64: measured max
error 6e-17, tolerance 1e-12 relative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inverse_by_hand as H
from diffax.inverse.time_travel import repeat_block
from diffax.processes import VPLinear

P = VPLinear()
X = np.random.default_rng(23).normal(size=(3, 2, 2))


def block(x, k):
    return 0.5 * x + jax.random.normal(k, x.shape, x.dtype)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_repeat_block_by_hand(x64, n):
    key, t_a, t_b = jax.random.PRNGKey(5), 0.7, 0.4
    out = repeat_block(P, block, jnp.asarray(X), jnp.asarray(t_a), jnp.asarray(t_b), key, n)
    x = X
    for r, kr in enumerate(H.split(key, n)):
        kb, kj = H.split(kr, 2)
        x = 0.5 * x + H.normal(kb, x.shape)
        if r < n - 1:
            x = H.jump(x, t_b, t_a, H.normal(kj, x.shape))
    np.testing.assert_allclose(np.asarray(out), x, rtol=1e-12, atol=1e-13)


def test_float32_state_with_float64_times(x64):
    """The block may promote (float64 times); the state keeps float32, the values agree
    with the float64 transcription to float32 rounding (7e-8 measured, tolerance 1e-5)."""
    key = jax.random.PRNGKey(6)

    def promoting(x, k):
        return 0.5 * x + jax.random.normal(k, x.shape, x.dtype) + jnp.zeros((), jnp.float64)

    out = repeat_block(P, promoting, jnp.asarray(X, jnp.float32), jnp.asarray(0.7),
                       jnp.asarray(0.4), key, 3)
    assert out.dtype == jnp.float32
    x = X
    for r, kr in enumerate(H.split(key, 3)):
        kb, kj = H.split(kr, 2)
        x = 0.5 * x + np.asarray(jax.random.normal(kb, x.shape, jnp.float32), np.float64)
        if r < 2:
            x = H.jump(x, 0.4, 0.7, np.asarray(jax.random.normal(kj, x.shape, jnp.float32),
                                               np.float64))
    np.testing.assert_allclose(np.asarray(out), x, rtol=1e-5, atol=1e-5)
