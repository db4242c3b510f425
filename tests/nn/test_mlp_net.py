"""MLP denoiser for (B, d) data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import MLP, count_params, get_network, param_summary
from nn_helpers import jit_apply, randomize_zero_params, rel_diff


def make(**kw):
    kw = {"hidden": 16, "depth": 2, **kw}
    return MLP(3, **kw, rngs=nnx.Rngs(0))


X = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
T = jnp.linspace(0.05, 0.95, 5)


def test_count_params_matches_analytic_formula():
    d, h, depth, k = 3, 16, 2, 4
    expected = (d * h + h) + 2 * (h * h + h) + depth * 3 * (h * h + h) + (h * d + d)
    assert count_params(make()) == expected
    assert count_params(make(num_classes=k)) == expected + (k + 1) * h
    summary = param_summary(make())
    assert summary.startswith(f"{expected:,} params")
    assert f"blocks {2 * 3 * (h * h + h):,}" in summary and "time_embed" in summary


def test_shape_and_zero_output_at_init():
    out = make()(X, T)
    assert out.shape == X.shape and out.dtype == X.dtype
    np.testing.assert_array_equal(out, 0.0)
    assert make(out_dim=7)(X, T).shape == (5, 7)


def test_time_and_label_conditioning():
    net = randomize_zero_params(make(num_classes=4))
    base = net(X, T)
    assert rel_diff(net(X, T + 0.3), base) > 1e-3
    assert rel_diff(net(X, T, jnp.full(5, 1)), net(X, T, jnp.full(5, 2))) > 1e-3
    # null label == None; eager, so both run the very same op-by-op programs on equal
    # values (label=None becomes the same int32 null-label array): bitwise
    np.testing.assert_array_equal(net(X, T, jnp.full(5, 4)), base)
    # scalar t broadcasts
    np.testing.assert_allclose(net(X, 0.5), net(X, jnp.full(5, 0.5)), rtol=1e-6)


def test_dropout_modes():
    net = randomize_zero_params(make(dropout=0.5))
    ref = randomize_zero_params(make(dropout=0.0))
    # key=None == eval mode: dropout is then the identity, so (eagerly) the same ops on
    # the same parameters and inputs: bitwise
    np.testing.assert_array_equal(net(X, T), ref(X, T))
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    a = net(X, T, dropout_key=k1)
    np.testing.assert_array_equal(a, net(X, T, dropout_key=k1))
    assert rel_diff(a, net(X, T, dropout_key=k2)) > 1e-3
    assert rel_diff(a, net(X, T)) > 1e-3


def test_jit_split_merge_matches_eager():
    net = randomize_zero_params(make(num_classes=2, dropout=0.2))
    f = jit_apply(net)
    lab = jnp.array([0, 1, 2, 0, 1])
    np.testing.assert_allclose(f(X, T, lab), net(X, T, lab), rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(3)
    np.testing.assert_allclose(f(X, T, lab, key), net(X, T, lab, dropout_key=key), rtol=1e-5,
                               atol=1e-6)


def test_bfloat16_compute_keeps_float32_params():
    net = randomize_zero_params(make())
    fast = randomize_zero_params(make(dtype=jnp.bfloat16))
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(nnx.state(fast, nnx.Param)))
    out = fast(X, T)
    assert out.dtype == jnp.float32
    assert rel_diff(out, net(X, T)) < 5e-2


def test_bad_inputs_and_config():
    with pytest.raises(ValueError, match="depth.*0"):
        make(depth=0)
    with pytest.raises(ValueError, match="dropout.*1.5"):
        make(dropout=1.5)
    with pytest.raises(ValueError, match=r"\(B, 3\).*\(5, 4\)"):
        make()(jnp.ones((5, 4)), T)
    with pytest.raises(ValueError, match="num_classes=None"):
        make()(X, T, jnp.zeros(5, jnp.int32))
    with pytest.raises(ValueError, match=r"t must.*\(3,\)"):
        make()(X, jnp.ones(3))
    assert isinstance(get_network("mlp", data_dim=2, hidden=8, depth=1, rngs=nnx.Rngs(0)), MLP)
