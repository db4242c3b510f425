"""Time / label embeddings and functional dropout."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import (Buffer, FourierFeatures, LabelEmbedding, TimeEmbedding, count_params,
                       dropout, sinusoidal_embedding)


@pytest.mark.parametrize("dim", [8, 7])
def test_sinusoidal_matches_numpy_formula(dim):
    s = np.array([0.0, 0.5, 3.0, 250.0, -40.0])
    half = dim // 2
    expected = np.zeros((len(s), dim))
    for k in range(half):
        w = 10000.0 ** (-k / half)
        expected[:, k] = np.sin(s * w)
        expected[:, half + k] = np.cos(s * w)
    got = sinusoidal_embedding(jnp.asarray(s), dim)
    assert got.shape == (len(s), dim)
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_sinusoidal_max_period():
    got = sinusoidal_embedding(jnp.array([1.0]), 4, max_period=100.0)
    np.testing.assert_allclose(got[0], [np.sin(1), np.sin(0.1), np.cos(1), np.cos(0.1)], atol=1e-6)


def test_fourier_features_are_fixed_buffers():
    ff = FourierFeatures(16, scale=3.0, rngs=nnx.Rngs(0))
    assert count_params(ff) == 0
    assert len(jax.tree.leaves(nnx.state(ff, nnx.Param))) == 0
    (w,) = jax.tree.leaves(nnx.state(ff, Buffer))
    assert w.shape == (8,)
    assert 0.5 < float(np.std(w)) < 10.0  # drawn with scale 3
    s = jnp.array([0.3, -1.2])
    args = 2 * math.pi * np.asarray(s)[:, None] * np.asarray(w)[None]
    np.testing.assert_allclose(ff(s), np.concatenate([np.sin(args), np.cos(args)], 1), atol=1e-4)


def test_fourier_time_embedding_split_puts_freqs_outside_params():
    te = TimeEmbedding(8, 16, embedding="fourier", rngs=nnx.Rngs(1))
    _, params, rest = nnx.split(te, nnx.Param, ...)
    assert count_params(te) == (8 * 16 + 16) + (16 * 16 + 16)
    assert [a.shape for a in jax.tree.leaves(rest)] == [(4,)]
    # Gradients exist only for Params: the frequencies cannot be trained.
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(nnx.graphdef(te), p, rest)(jnp.ones(2))))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)


def test_time_embedding_scale_and_kind():
    te = TimeEmbedding(8, 16, time_scale=250.0, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(te.features(jnp.array([0.2])), sinusoidal_embedding(jnp.array([50.0]), 8),
                               atol=1e-6)
    out = te(jnp.array([0.1, 0.9]))
    assert out.shape == (2, 16) and not np.allclose(out[0], out[1])
    with pytest.raises(ValueError, match="'gaussian'.*sinusoidal"):
        TimeEmbedding(8, 16, embedding="gaussian", rngs=nnx.Rngs(0))


def test_label_embedding_null_row():
    le = LabelEmbedding(3, 5, rngs=nnx.Rngs(0))
    table = np.asarray(le.table.embedding[...])
    assert table.shape == (4, 5)
    np.testing.assert_array_equal(le(None, 2), np.stack([table[3], table[3]]))
    np.testing.assert_array_equal(le(jnp.array([0, 3]), 2), np.stack([table[0], table[3]]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        le(jnp.array([0, 1, 2]), 2)
    with pytest.raises(ValueError, match="num_classes.*0"):
        LabelEmbedding(0, 5, rngs=nnx.Rngs(0))


def test_functional_dropout():
    x = jnp.ones((200, 50))
    assert dropout(x, 0.5, None) is x
    assert dropout(x, 0.0, jax.random.PRNGKey(0)) is x
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    y = np.asarray(dropout(x, 0.25, k1))
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(y, dropout(x, 0.25, k1))
    assert not np.array_equal(y, dropout(x, 0.25, k2))
