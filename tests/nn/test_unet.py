"""DDPM++ U-Net: shapes, zero init, conditioning, dropout, jit, errors, and a fit test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import UNet, count_params, get_network
from diffax.nn.unet_blocks import default_groups
from fit_helpers import adam_fit
from nn_helpers import images, jit_apply, randomize_zero_params, rel_diff

FMNIST = dict(in_channels=1, channels=8, channel_mult=(1, 2, 2), num_res_blocks=1,
              attn_resolutions=(7,), image_size=28, num_classes=3, dropout=0.3, scale_shift=True)
CIFAR = dict(in_channels=3, channels=8, channel_mult=(1, 2, 2, 2), num_res_blocks=1,
             attn_resolutions=(8,), image_size=32)


def make(seed=0, **kw):
    return UNet(**{**FMNIST, **kw}, rngs=nnx.Rngs(seed))


@pytest.fixture(scope="module")
def cond_fn():
    """A class-conditional 28x28 U-Net with its zero-initialised layers randomised, through
    nnx.split -> jax.jit -> nnx.merge."""
    return jit_apply(randomize_zero_params(make()))


X28 = images(2, 28, 1)
T2 = jnp.array([-0.4, 0.7])


@pytest.mark.parametrize("cfg", [FMNIST, CIFAR], ids=["28x28x1", "32x32x3"])
def test_zero_output_at_init(cfg):
    x = images(2, cfg["image_size"], cfg["in_channels"])
    out = jit_apply(UNet(**cfg, rngs=nnx.Rngs(0)))(x, T2)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, 0.0)  # zero-initialised output conv: exact zeros


@pytest.mark.parametrize("size, channels, mult, attn", [
    (28, 1, (1, 2, 2), (7,)), (28, 1, (2, 2, 2), (14, 7)), (32, 3, (1, 2, 2), (16,)),
    (32, 3, (1, 2, 2, 2), (8,)), (32, 3, (2, 2, 2), ()), (28, 3, (1, 2), (14,))])
def test_output_shape(size, channels, mult, attn):
    net = UNet(channels, channels=8, channel_mult=mult, attn_resolutions=attn, image_size=size,
               rngs=nnx.Rngs(0))
    x = images(2, size, channels)
    out = jax.eval_shape(net, x, T2)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_attention_only_at_requested_resolutions():
    net = make(attn_resolutions=(14,), mid_attention=False)
    with_attn = [type(s.attn).__name__ for s in [*net.down, *net.up] if hasattr(s, "attn")]
    # 28: 1 down + 2 up stages, 14: 1 down + 2 up, 7: 1 down + 2 up
    assert with_attn.count("AttentionBlock") == 3
    assert net.mid1.attn is None
    assert make().mid1.attn is not None


def test_out_channels():
    assert jax.eval_shape(make(out_channels=2), X28, T2).shape == (2, 28, 28, 2)


def test_time_and_label_conditioning(cond_fn):
    base = cond_fn(X28, T2)
    assert rel_diff(cond_fn(X28, T2 + 0.5), base) > 1e-3
    assert rel_diff(cond_fn(X28, T2, jnp.array([0, 0])), cond_fn(X28, T2, jnp.array([1, 1]))) > 1e-3
    # null label == None: two programs (label=None makes the null label a constant, which
    # XLA may fuse differently), so equal to rounding, as each sample vs the batch below
    # (largest difference measured 1.03e-6 on outputs of size ~1, with XLA:CPU's elemental
    # fusion emitter of tests/cpu_compile.py; 8 float32 ulps of 1 is 1e-6: atol 2e-6)
    np.testing.assert_allclose(cond_fn(X28, T2, jnp.array([3, 3])), base, rtol=1e-5, atol=2e-6)
    # each sample only sees its own conditioning
    mixed = cond_fn(X28, T2, jnp.array([0, 3]))
    np.testing.assert_allclose(mixed[1], base[1], rtol=1e-5, atol=2e-6)
    assert rel_diff(mixed[0], base[0]) > 1e-3


def test_dropout_modes(cond_fn):
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    lab = jnp.array([3, 3])
    a = cond_fn(X28, T2, lab, k1)
    np.testing.assert_array_equal(a, cond_fn(X28, T2, lab, k1))  # same program and inputs
    assert rel_diff(a, cond_fn(X28, T2, lab, k2)) > 1e-3
    assert rel_diff(a, cond_fn(X28, T2, lab)) > 1e-3
    np.testing.assert_array_equal(cond_fn(X28, T2, lab), cond_fn(X28, T2, lab))  # ditto


def test_jit_split_merge_matches_eager():
    net = randomize_zero_params(UNet(2, channels=4, channel_mult=(1,), attn_resolutions=(8,),
                                     image_size=8, num_classes=2, dropout=0.2, rngs=nnx.Rngs(1)))
    x, lab, key = images(2, 8, 2), jnp.array([2, 0]), jax.random.PRNGKey(5)
    # the module called directly (parameters closed over as constants) vs split -> merge
    direct = jax.jit(lambda x: net(x, T2, lab, dropout_key=key))(x)
    np.testing.assert_allclose(jit_apply(net)(x, T2, lab, key), direct, rtol=1e-4, atol=1e-5)


def test_fourier_embedding_and_registry():
    net = get_network("unet", **{**FMNIST, "embedding": "fourier", "time_scale": 1.0},
                      rngs=nnx.Rngs(0))
    assert isinstance(net, UNet)
    assert count_params(net) == count_params(make())  # frequencies are not parameters
    assert jax.eval_shape(net, X28, T2).shape == X28.shape


def test_default_groups():
    assert [default_groups(c) for c in (8, 12, 32, 64, 144, 256, 3)] == [2, 3, 8, 16, 24, 32, 1]


@pytest.mark.parametrize("kw, match", [
    (dict(image_size=30), r"30x30.*divisible.*4"),
    (dict(image_size=28, channel_mult=(1, 2, 2, 2)), r"28x28.*divisible.*8"),
    (dict(attn_resolutions=(8,)), r"\[8\].*\[28, 14, 7\]"),
    (dict(image_size=None), r"attn_resolutions=\(7,\).*image_size"),
    (dict(channels=12, norm_groups=8), r"norm_groups=8.*12"),
    (dict(channels=8, num_heads=3), r"num_heads=3.*16"),
    (dict(channel_mult=()), r"channel_mult.*\(\)"),
    (dict(num_res_blocks=0), r"num_res_blocks.*0"),
    (dict(embedding="learned"), r"'learned'.*fourier"),
    (dict(dropout=-0.1), r"dropout.*-0.1"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


def test_bad_inputs():
    net = make(num_classes=None)
    with pytest.raises(ValueError, match="num_classes=None"):
        net(X28, T2, jnp.array([0, 1]))
    with pytest.raises(ValueError, match="28x28.*32x32"):
        net(images(1, 32, 1), jnp.zeros(1))
    with pytest.raises(ValueError, match=r"\(B, H, W, 1\)"):
        net(images(1, 28, 3), jnp.zeros(1))
    free = make(attn_resolutions=(), image_size=None)  # size checked at call time
    with pytest.raises(ValueError, match="30x30.*divisible"):
        free(images(1, 30, 1), jnp.zeros(1))
    assert jax.eval_shape(free, images(1, 20, 1), jnp.zeros(1)).shape == (1, 20, 20, 1)


@pytest.mark.slow
def test_overfits_a_fixed_batch_and_trains_every_parameter():
    """Denoise 4 fixed 16x16 images: the loss falls > 10x in 100 Adam steps, and every
    parameter moves (gradients reach every layer despite the zero-initialised convs)."""
    net = UNet(1, channels=8, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(),
               image_size=16, num_classes=2, rngs=nnx.Rngs(0))
    g = np.linspace(-1, 1, 16)
    clean = jnp.asarray(np.stack([np.sign(np.sin(3 * (i + 1) * g))[:, None] * np.cos((i + 1) * g)[None]
                                  for i in range(4)])[..., None], jnp.float32)
    noisy = clean + 0.5 * images(4, 16, 1, seed=1)
    t, lab = jnp.array([0.1, 0.3, 0.5, 0.7]), jnp.array([0, 1, 2, 0])  # 2 is the null label
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)

    def loss_fn(p):
        return jnp.mean((nnx.merge(graphdef, p, rest)(noisy, t, lab) - clean) ** 2)

    new, losses, final = adam_fit(loss_fn, params, steps=100, lr=3e-3)
    assert float(final) < float(losses[0]) / 10, (float(losses[0]), float(final))
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), new, params)
    frozen = [jax.tree_util.keystr(path) for path, m in jax.tree_util.tree_leaves_with_path(moved)
              if not m]
    assert not frozen, frozen
