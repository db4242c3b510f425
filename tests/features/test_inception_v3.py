"""The flax FID Inception-v3: architecture, weight conversion, pooling and resize against
independent numpy oracles, and pool3 / logits against pytorch-fid on shared seeded
weights and images (2 RGB 75x75 images; reference written by
``python -m benchmarks.inception_parity --fixture``)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.inception_parity import torch_shapes
from benchmarks.inception_random_weights import random_state_dict, seeded_images
from diffax.features import feature_name, get_feature_fn, inception_v3
from experiments.convert_inception_weights import convert_key, convert_state_dict

REFERENCE = os.path.join(os.path.dirname(__file__), "data",
                         "inception_pytorch_fid_reference.npz")


def test_parameter_count_is_torchvision_backbone():
    # torchvision's inception_v3 has 27,161,264 parameters: minus AuxLogits (3,326,696)
    # and the 1000-way fc (2,049,000) leaves the 21,785,568 of the shared backbone.
    assert inception_v3.num_parameters() == 27_161_264 - 3_326_696 - 2_049_000
    assert inception_v3.num_parameters(include_fc=True) - inception_v3.num_parameters() == (
        2048 * 1008 + 1008)


def test_block_output_shapes():
    model = inception_v3.abstract_model()
    x = jax.ShapeDtypeStruct((2, 299, 299, 3), jnp.float32)
    assert nnx_shape(lambda m, x: m.feature_map(x), model, x) == (2, 8, 8, 2048)
    assert nnx_shape(lambda m, x: m(x), model, x) == (2, 1008)


def nnx_shape(fn, model, x):
    from flax import nnx
    graphdef, state = nnx.split(model)
    return jax.eval_shape(lambda s, x: fn(nnx.merge(graphdef, s), x), state, x).shape


def test_converter_maps_every_torch_tensor():
    shapes = torch_shapes()
    sd = random_state_dict(shapes, seed=3)
    sd["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.zeros((), np.int64)
    sd["AuxLogits.conv0.conv.weight"] = np.zeros((128, 768, 1, 1), np.float32)
    params = convert_state_dict(sd)
    assert set(params) == set(inception_v3.param_shapes())
    w = sd["Mixed_6b.branch7x7_2.conv.weight"]                 # (O, I, 1, 7)
    np.testing.assert_array_equal(params["Mixed_6b/branch7x7_2/conv/kernel"][0, 4, 5, 6],
                                  w[6, 5, 0, 4])
    np.testing.assert_array_equal(params["fc/kernel"], sd["fc.weight"].T)
    np.testing.assert_array_equal(params["Mixed_7c/branch_pool/bn/var"],
                                  sd["Mixed_7c.branch_pool.bn.running_var"])
    np.testing.assert_array_equal(params["Mixed_5b/branch1x1/bn/scale"],
                                  sd["Mixed_5b.branch1x1.bn.weight"])


def test_converter_and_loader_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unexpected state_dict key 'Mixed_5b.oops'"):
        convert_key("Mixed_5b.oops", np.zeros(3))
    with pytest.raises(ValueError, match="4-d convolution kernel"):
        convert_key("Conv2d_1a_3x3.conv.weight", np.zeros((32, 3)))
    params = {k: np.zeros(s, np.float32) for k, s in inception_v3.param_shapes().items()}
    del params["Mixed_6e/branch_pool/conv/kernel"]
    with pytest.raises(ValueError, match="1 missing keys.*convert_inception_weights"):
        inception_v3.model_from_params(params)
    params["Mixed_6e/branch_pool/conv/kernel"] = np.zeros((1, 1, 768, 191), np.float32)
    with pytest.raises(ValueError, match=r"Mixed_6e/branch_pool/conv/kernel has shape"):
        inception_v3.model_from_params(params)
    with pytest.raises(FileNotFoundError, match="convert_inception_weights"):
        inception_v3.load_params(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="needs weights_path"):
        get_feature_fn("inception_v3")


def _numpy_avg_pool(x, include_pad):
    n, h, w, c = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    valid = np.pad(np.ones((h, w)), 1)
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            s = p[:, i:i + 3, j:j + 3].sum(axis=(1, 2))
            out[:, i, j] = s / (9.0 if include_pad else valid[i:i + 3, j:j + 3].sum())
    return out


def test_average_pool_excludes_padding():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3))
    got = np.asarray(inception_v3.avg_pool_valid(jnp.asarray(x)))
    np.testing.assert_allclose(got, _numpy_avg_pool(x, include_pad=False), atol=1e-6)
    # negative control: torchvision's count_include_pad=True differs on the border
    assert np.max(np.abs(got - _numpy_avg_pool(x, include_pad=True))) > 0.1


def test_max_pool_never_picks_padding():
    x = (-1.0 - np.random.default_rng(1).random((1, 4, 4, 2))).astype(np.float32)
    got = np.asarray(inception_v3.max_pool(jnp.asarray(x), 1, padding=1))
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    want = np.stack([np.stack([p[:, i:i + 3, j:j + 3].max(axis=(1, 2)) for j in range(4)], 1)
                     for i in range(4)], 1)
    np.testing.assert_array_equal(got, want)
    assert got.max() < -1.0


def test_resize_is_half_pixel_bilinear():
    x = np.random.default_rng(2).uniform(-1, 1, (1, 28, 28, 1)).astype(np.float32)
    got = np.asarray(inception_v3.preprocess(jnp.asarray(x)))
    assert got.shape == (1, 299, 299, 3)
    # gray -> RGB: the one channel is resized once and then repeated, so the three
    # channels are equal by construction, bit for bit, on every CPU and GPU
    np.testing.assert_array_equal(got[..., 0], got[..., 1])
    np.testing.assert_array_equal(got[..., 0], got[..., 2])
    # ... and equal to resizing an RGB image with three equal channels (pytorch-fid's
    # order: repeat, then resize), up to rounding: each output is a convex combination of
    # 4 inputs in [-1, 1], computed along a different XLA path (3 channels, other
    # vectorisation), so the two differ by a few float32 ulps of 1 (1.2e-7) at most
    rgb = np.asarray(inception_v3.preprocess(jnp.asarray(np.repeat(x, 3, axis=-1))))
    np.testing.assert_allclose(rgb, got, rtol=0, atol=1e-6)

    src = np.clip((np.arange(299) + 0.5) * 28 / 299 - 0.5, 0, 27)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, 27)
    f = src - i0
    rows = x[0, i0, :, 0] * (1 - f)[:, None] + x[0, i1, :, 0] * f[:, None]
    want = rows[:, i0] * (1 - f)[None] + rows[:, i1] * f[None]
    np.testing.assert_allclose(got[0, ..., 0], want, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, H, W, 1\) or \(N, H, W, 3\)"):
        inception_v3.preprocess(jnp.zeros((2, 28, 28, 2)))
    with pytest.raises(ValueError, match="at least 75x75"):
        inception_v3.preprocess(jnp.zeros((2, 28, 28, 1)), resize=False)


def test_pool3_and_logits_match_pytorch_fid(tmp_path):
    ref = np.load(REFERENCE)
    seed, size = int(ref["seed"]), int(ref["size"])
    params = convert_state_dict(random_state_dict(torch_shapes(), seed))
    path = str(tmp_path / "inception.npz")
    np.savez(path, **params)
    images = seeded_images(2, size, 3, seed)[[0, 1, 0]]
    fn = get_feature_fn("inception_v3", weights_path=path, batch_size=2, resize=False)
    pool3 = np.asarray(fn(images))          # two padded chunks of 2, one compile
    want = ref["pool3"][[0, 1, 0]]
    assert np.linalg.norm(pool3 - want) / np.linalg.norm(want) < 1e-5
    assert np.abs(pool3 - want).max() < 1e-4 * np.abs(want).max()
    logits = pool3[:2] @ params["fc/kernel"] + params["fc/bias"]
    assert np.linalg.norm(logits - ref["logits"]) / np.linalg.norm(ref["logits"]) < 1e-5
    # the parity error is far below the feature change between two different images
    assert np.linalg.norm(pool3[1] - want[0]) > 100 * np.linalg.norm(pool3[0] - want[0])
    name = feature_name("inception_v3", weights_path=path)
    assert name.startswith("FID (Inception-v3 pool3") and inception_v3.sha256(path)[:12] in name
