"""U-Net ``augment_dim``: EDM's bias-free map of the augment labels into the time features.
Off by default; no labels is exactly zero labels; the other parameters do not change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import UNet
from nn_helpers import images, randomize_zero_params

SMALL = dict(in_channels=3, channels=8, channel_mult=(1, 2), num_res_blocks=1, image_size=8)
X = images(2, 8, 3)
T = jnp.array([0.3, -0.2])


def _net(augment_dim):
    return randomize_zero_params(UNet(**SMALL, augment_dim=augment_dim, rngs=nnx.Rngs(0)))


@pytest.fixture(scope="module")
def nets():
    return _net(0), _net(9)


def test_other_parameters_are_unchanged(nets):
    plain, aug = nets
    assert plain.map_augment is None and aug.map_augment.bias is None
    p_plain = nnx.state(plain, nnx.Param)
    p_aug = nnx.state(aug, nnx.Param)
    del p_aug["map_augment"]
    jax.tree.map(np.testing.assert_array_equal, p_plain, p_aug)


def test_no_labels_equal_zero_labels_and_the_plain_network(nets):
    plain, aug = nets
    out = aug(X, T)
    np.testing.assert_array_equal(out, aug(X, T, augment_labels=jnp.zeros((2, 9))))
    np.testing.assert_array_equal(out, plain(X, T))
    labels = jnp.zeros((2, 9)).at[1, 3].set(1.0)
    moved = aug(X, T, augment_labels=labels)
    np.testing.assert_array_equal(moved[0], out[0])          # per-example conditioning
    assert float(jnp.max(jnp.abs(moved[1] - out[1]))) > 1e-3


def test_labels_enter_the_time_features_linearly(nets):
    _, aug = nets
    labels = jax.random.normal(jax.random.key(1), (2, 9))
    te = aug.time_embed
    features = te.features(T) + labels @ aug.map_augment.kernel[...]
    np.testing.assert_allclose(aug._time_embedding(T, 2, labels),
                               te.fc2(jax.nn.silu(te.fc1(features))), rtol=1e-6, atol=1e-6)


def test_bad_labels_raise(nets):
    plain, aug = nets
    with pytest.raises(ValueError, match=r"augment_labels must have shape .* \(2, 9\)"):
        aug(X, T, augment_labels=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="build the network with augment_dim > 0"):
        plain(X, T, augment_labels=jnp.zeros((2, 9)))
    with pytest.raises(ValueError, match="augment_dim"):
        UNet(**SMALL, augment_dim=-1, rngs=nnx.Rngs(0))
