"""Weight initialisation: Glorot statistics, determinism, eager == traced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import MLP, get_network, init


def test_xavier_uniform_statistics():
    shape = (3, 3, 40, 24)
    w = np.asarray(init.xavier_uniform()(jax.random.PRNGKey(0), shape))
    fan_in, fan_out = 9 * 40, 9 * 24
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=0.05)
    assert abs(w.mean()) < 0.01 * limit


def test_normal_statistics_and_determinism():
    k = jax.random.PRNGKey(1)
    a = np.asarray(init.normal(0.5)(k, (300, 7)))
    np.testing.assert_allclose(a.std(), 0.5, rtol=0.05)
    np.testing.assert_array_equal(a, init.normal(0.5)(k, (300, 7)))  # same program, same key
    assert not np.array_equal(a, init.normal(0.5)(jax.random.PRNGKey(2), (300, 7)))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        init.xavier_uniform()(k, (5,))


def test_eager_and_traced_construction_agree():
    kw = dict(data_dim=3, hidden=8, depth=1, embedding="fourier", num_classes=2)
    eager = nnx.state(MLP(**kw, rngs=nnx.Rngs(3)))
    traced = nnx.state(nnx.jit(lambda r: MLP(**kw, rngs=r))(nnx.Rngs(3)))
    # Eager (op by op) and one jitted program: the same random streams, but XLA may fuse
    # and vectorise the scaling of the draws differently (FMA, another CPU, a GPU), so
    # compare to a few float32 ulps; a wrong key or split would differ by O(init scale).
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(traced)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    abstract = nnx.state(nnx.eval_shape(lambda: get_network("mlp", **kw, rngs=nnx.Rngs(3))))
    assert [x.shape for x in jax.tree.leaves(abstract)] == [x.shape for x in jax.tree.leaves(eager)]
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(abstract))
    assert jnp.float32 == jax.tree.leaves(abstract)[0].dtype
