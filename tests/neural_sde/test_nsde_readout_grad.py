"""StableNeuralSDE: the sequence readout and exact gradients."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nsde_model_helpers import B, L
from nsde_model_helpers import data as _data
from nsde_model_helpers import jitted as _jitted
from nsde_model_helpers import small as _small


def test_sequence_readout_reads_the_latent_at_each_time():
    model = _small("lnsde", readout="sequence", head="linear", steps=L - 1)
    model_irr = _small("lnsde", readout="sequence", head="linear", steps=36)
    x, mask, time = _data(3)
    key = jax.random.key(0)
    out, zs = _jitted(model)(x, mask, time, key)
    assert out.shape == (B, L, 3)
    # grid-aligned times (steps = L - 1): the head applied to the saved latents
    expect = jnp.moveaxis(zs, 0, 1) @ model.head[0].kernel[...] + model.head[0].bias[...]
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)
    # per-example irregular times: linear interpolation between grid points
    times = jnp.sort(jax.random.uniform(jax.random.key(1), (B, L)) * 5, axis=1)
    out, zs = _jitted(model_irr)(x, mask, times, key)
    tau = (times - times[:, :1]) / (times[:, -1:] - times[:, :1])
    b, i = 2, 4
    pos = float(tau[b, i]) * 36
    lo = int(np.floor(pos))
    z = (1 - (pos - lo)) * zs[lo, b] + (pos - lo) * zs[lo + 1, b]
    np.testing.assert_allclose(out[b, i], z @ model_irr.head[0].kernel[...]
                               + model_irr.head[0].bias[...], rtol=1e-4, atol=1e-5)


def test_gradient_matches_finite_difference(x64):
    model = _small("gsde", solver="milstein", steps=4)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    x, mask, time = (jnp.asarray(a, jnp.float64) for a in _data())
    labels = jnp.array([0, 1, 2, 1])

    def loss(p):
        logits = nnx.merge(graphdef, p, rest)(x, mask, time, key=jax.random.key(2))
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), labels])

    grad = jax.jit(jax.grad(loss))(params)
    direction = jax.tree.map(lambda p: jax.random.normal(jax.random.key(9), p.shape,
                                                         p.dtype), params)
    eps = 1e-5
    shift = lambda s: jax.tree.map(lambda p, d: p + s * d, params, direction)  # noqa: E731
    f = jax.jit(loss)
    fd = (f(shift(eps)) - f(shift(-eps))) / (2 * eps)
    ad = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
    assert abs(float(ad)) > 1e-3
    np.testing.assert_allclose(float(ad), float(fd), rtol=1e-5)
