"""EGNN: E(3) equivariance (rotation with reflection, translation, node permutation) to
float precision, padding nodes that never reach real ones, zero-mean position output."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import EGNN, get_network
from diffax.nn.egnn import zero_center_of_mass
from nn_helpers import randomize_zero_params, rel_diff

F = 5
# float32 round-off of the 2-layer network, measured ~2e-7 relative; bound with margin
TOL = 5e-6


def _model():
    net = get_network("egnn", num_features=F, hidden=16, num_layers=2, rngs=nnx.Rngs(0))
    return randomize_zero_params(net, seed=1, scale=0.3)


def _inputs(b=3, n=7, seed=0):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(b, n, 3)) * 1.5
    f = np.eye(F)[rng.integers(0, F, size=(b, n))] * 0.25
    mask = np.ones((b, n))
    mask[0, 5:] = 0
    mask[1, 3:] = 0
    x = np.concatenate([r, f], -1) * mask[..., None]
    return (jnp.asarray(x, jnp.float32), jnp.asarray(mask, jnp.float32),
            jnp.asarray(rng.uniform(size=b), jnp.float32))


def _random_orthogonal(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    if np.linalg.det(q) > 0:
        q[:, 0] = -q[:, 0]  # a reflection too (det = -1)
    return q


def test_e3_equivariance_and_permutation():
    net = _model()
    apply = jax.jit(lambda x, t, m: net(x, t, node_mask=m))
    x, mask, t = _inputs()
    out = np.asarray(apply(x, t, mask), np.float64)
    assert np.abs(out[..., :3]).max() > 1e-2 and np.abs(out[..., 3:]).max() > 1e-2
    q = _random_orthogonal(3)
    assert np.linalg.det(q) == pytest.approx(-1.0)
    shift = np.array([2.0, -1.0, 0.5])
    perm = np.random.default_rng(4).permutation(x.shape[1])
    x2 = np.array(x, np.float64)
    x2[..., :3] = (x2[..., :3] @ q.T + shift) * np.asarray(mask)[..., None]
    x2, mask2 = x2[:, perm], np.asarray(mask)[:, perm]
    out2 = np.asarray(apply(jnp.asarray(x2, jnp.float32), t, jnp.asarray(mask2)), np.float64)
    expected = out.copy()
    expected[..., :3] = out[..., :3] @ q.T  # positions rotate; translation-invariant
    expected = expected[:, perm]
    assert rel_diff(out2[..., :3], expected[..., :3]) < TOL
    assert rel_diff(out2[..., 3:], expected[..., 3:]) < TOL  # atom types invariant


def test_position_output_has_zero_mean_and_padding_is_inert():
    net = _model()
    x, mask, t = _inputs()
    out = np.asarray(net(x, t, node_mask=mask))
    m = np.asarray(mask)[..., None]
    np.testing.assert_allclose((out[..., :3] * m).sum(1), 0.0, atol=1e-5)
    assert np.all(out * (1 - m) == 0)  # padding rows output 0
    # garbage in the padding rows, or more padding rows, changes nothing on real rows
    rng = np.random.default_rng(5)
    noisy = np.asarray(x) + (1 - m) * rng.normal(size=x.shape) * 10
    out_noisy = np.asarray(net(jnp.asarray(noisy, jnp.float32), t, node_mask=mask))
    np.testing.assert_array_equal(out_noisy * m, out * m)
    wide = jnp.concatenate([x, jnp.ones((3, 4, 3 + F))], axis=1)
    wide_mask = jnp.concatenate([mask, jnp.zeros((3, 4))], axis=1)
    out_wide = np.asarray(net(wide, t, node_mask=wide_mask))
    assert rel_diff(out_wide[:, :7] * m, out * m) < TOL
    # without a node mask every node is real
    full = np.asarray(net(x[2:], t[2:]))
    assert rel_diff(full, out[2:]) < TOL


def test_zero_center_of_mass_projection():
    v = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4, 3)), jnp.float32)
    mask = jnp.asarray([[1, 1, 1, 0], [1, 1, 1, 1]], jnp.float32)
    p = np.asarray(zero_center_of_mass(v, mask))
    np.testing.assert_allclose(p[0, :3], np.asarray(v)[0, :3] - np.asarray(v)[0, :3].mean(0),
                               atol=1e-6)
    assert np.all(p[0, 3] == 0)
    np.testing.assert_allclose(np.asarray(zero_center_of_mass(jnp.asarray(p), mask)), p,
                               atol=1e-6)  # a projection


def test_bad_input():
    net = EGNN(F, hidden=8, num_layers=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"x must have shape \(B, N, 8\)"):
        net(jnp.zeros((2, 4, 6)), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"node_mask must have shape \(2, 4\)"):
        net(jnp.zeros((2, 4, 8)), jnp.zeros(2), node_mask=jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"class conditioning is not supported"):
        EGNN(F, num_classes=3, rngs=nnx.Rngs(0))
