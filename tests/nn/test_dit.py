"""DiT: patchify, positional embedding, adaLN-Zero init, conditioning, dropout, jit, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import DiT, count_params, get_network, patchify, sincos_2d, unpatchify
from nn_helpers import images, jit_apply, randomize_zero_params, rel_diff

SMALL = dict(in_channels=1, image_size=28, patch=4, hidden=32, depth=2, heads=4, mlp_ratio=2.0)
COND = dict(SMALL, num_classes=3, dropout=0.3)


def make(seed=0, **kw):
    return DiT(**{**SMALL, **kw}, rngs=nnx.Rngs(seed))


X = images(2, 28, 1)
T = jnp.array([0.2, 0.9])


def test_patchify_layout_and_roundtrip():
    x = images(2, 8, 3)
    z = patchify(x, 4)
    assert z.shape == (2, 4, 48)
    # token 1 is the top-right 4x4 patch, flattened (row, col, channel)
    np.testing.assert_array_equal(z[:, 1], x[:, :4, 4:8, :].reshape(2, 48))
    np.testing.assert_array_equal(unpatchify(z, 4, 8, 8), x)


def test_sincos_2d_formula():
    d, gh, gw = 8, 3, 5
    pos = sincos_2d(d, gh, gw)
    assert pos.shape == (gh * gw, d)
    i, j = 2, 4  # row 2, column 4 -> token 2 * 5 + 4
    w = 1.0 / 10000.0 ** (np.arange(2) / 2.0)
    expected = np.concatenate([np.sin(i * w), np.cos(i * w), np.sin(j * w), np.cos(j * w)])
    np.testing.assert_allclose(pos[i * gw + j], expected, rtol=1e-6)
    assert len(np.unique(pos.round(5), axis=0)) == gh * gw  # all positions distinct


@pytest.mark.parametrize("cfg", [COND, dict(SMALL, in_channels=3, image_size=32, patch=2)],
                         ids=["28x28x1", "32x32x3"])
def test_shape_and_zero_output_at_init(cfg):
    net = DiT(**cfg, rngs=nnx.Rngs(0))
    x = images(2, cfg["image_size"], cfg["in_channels"])
    out = jit_apply(net)(x, T)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, 0.0)


def test_adaln_zero_blocks_are_identity_at_init():
    net = make(num_classes=3)
    z = jax.random.normal(jax.random.PRNGKey(0), (2, 49, 32))
    c = jax.random.normal(jax.random.PRNGKey(1), (2, 32))
    graphdef, state = nnx.split(net.blocks[0])
    block = jax.jit(lambda state, z, c, key: nnx.merge(graphdef, state)(z, c, key))
    for b in net.blocks:
        np.testing.assert_array_equal(block(nnx.state(b), z, c, jax.random.PRNGKey(2)), z)


def test_count_params_and_registry():
    net = get_network("dit", **SMALL, rngs=nnx.Rngs(0))
    d, p, h = 32, 4, 64
    block = (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d) + (d * 6 * d + 6 * d)
    expected = (p * p * d + d) + (256 * d + d) + (d * d + d) + 2 * block + \
               (d * 2 * d + 2 * d) + (d * p * p + p * p)
    assert count_params(net) == expected


def test_conditioning_dropout_and_jit():
    net = randomize_zero_params(make(**COND))
    f = jit_apply(net)
    base = f(X, T)
    assert rel_diff(f(X, T + 0.3), base) > 1e-3
    assert rel_diff(f(X, T, jnp.array([0, 0])), f(X, T, jnp.array([1, 1]))) > 1e-3
    # null label == None: two programs (label=None makes the null label a constant, which
    # XLA may fuse differently), so equal to rounding; other labels differ by > 1e-3
    np.testing.assert_allclose(f(X, T, jnp.array([3, 3])), base, rtol=1e-5, atol=1e-6)
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    a = f(X, T, None, k1)
    np.testing.assert_allclose(a, net(X, T, dropout_key=k1), rtol=1e-4, atol=1e-5)  # == eager
    np.testing.assert_array_equal(a, f(X, T, None, k1))  # same program and inputs
    assert rel_diff(a, f(X, T, None, k2)) > 1e-3
    assert rel_diff(a, base) > 1e-3


@pytest.mark.parametrize("kw, match", [
    (dict(image_size=30), r"30x30.*patch=4"),
    (dict(heads=5), r"heads=5.*hidden=32"),
    (dict(hidden=30, heads=3), r"hidden=30.*4"),
    (dict(depth=0), r"depth.*0"),
    (dict(dropout=1.0), r"dropout.*1.0"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(B, 28, 28, 1\).*\(2, 32, 32, 1\)"):
        make()(images(2, 32, 1), T)
