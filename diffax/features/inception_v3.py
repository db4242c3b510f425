"""Inception-v3 in flax.nnx, the FID variant: 2048-d pool3 features for FID / KID / PR.

FID (Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium") is the Fréchet distance between Gaussians fitted to the 2048-d
global-average-pooled ("pool3") activations of the Inception-v3 network of Szegedy et al.
(2016, "Rethinking the Inception Architecture for Computer Vision") in the TensorFlow
graph of 2015-12-05. That graph differs from the ImageNet classifier in torchvision in
three places, all reproduced here:

* the average pools inside the Mixed_5b-5d, Mixed_6b-6e and Mixed_7b blocks ignore the
  zero padding (``count_include_pad=False``: the window mean over valid pixels only);
* the pool branch of the last block, Mixed_7c, is a 3x3 *max* pool;
* the classifier has 1008 outputs (used only by the Inception Score).

Inputs are images (N, H, W, C) in [-1, 1] with C = 1 (repeated to RGB) or 3; they are
resized to 299x299 with bilinear interpolation (half-pixel centres, no antialiasing, as
``torch.nn.functional.interpolate(..., mode="bilinear", align_corners=False)``), which
is what the widely used ``pytorch-fid`` port does, so FIDs computed with its converted
weights agree with pytorch-fid. (TensorFlow's original resize is slightly different; the
two FIDs are close but not identical, and clean-fid's PIL-bicubic resize is a third
convention. Reports name the features so numbers are not mixed.)

No weights ship with diffax and nothing downloads at run time. Convert the pytorch-fid
weights once with ``python -m experiments.convert_inception_weights`` (see
docs/features.md) and pass the npz path: ``get_feature_fn("inception_v3",
weights_path=...)`` or ``--config.eval.features=inception_v3
--config.eval.inception_weights=...``.

Every convolution is followed by batch normalisation (eps = 1e-3, running statistics)
and ReLU: ``relu(gamma * (W * x - mu) / sqrt(var + 1e-3) + beta)``.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax.features._weights import check_weights, sha256

Array = jax.Array

FEATURE_DIM = 2048
NUM_CLASSES = 1008
INPUT_SIZE = 299
BN_EPS = 1e-3
#: The smallest input the stem and the stride-2 blocks accept.
MIN_INPUT_SIZE = 75


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class BasicConv(nnx.Module):
    """Convolution without bias, batch norm (running statistics), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | Sequence[int],
                 stride: int = 1, padding: int | Sequence[int] = 0, *, rngs: nnx.Rngs):
        ph, pw = _pair(padding)
        self.conv = nnx.Conv(cin, cout, _pair(kernel), _pair(stride),
                             padding=((ph, ph), (pw, pw)), use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(cout, use_running_average=True, epsilon=BN_EPS, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return jax.nn.relu(self.bn(self.conv(x)))


def max_pool(x: Array, stride: int, padding: int = 0) -> Array:
    """3x3 max pool (padding with -inf, so padded pixels never win)."""
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1),
                                 pad)


def avg_pool_valid(x: Array) -> Array:
    """3x3 stride-1 average pool with padding 1 that divides by the number of *valid*
    pixels in each window (``count_include_pad=False``, TensorFlow's 'SAME' average)."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    window, strides = (1, 3, 3, 1), (1, 1, 1, 1)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
    return total / count


class InceptionA(nnx.Module):
    """35x35 block (Mixed_5b-5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, cin: int, pool_features: int, *, rngs: nnx.Rngs):
        self.branch1x1 = BasicConv(cin, 64, 1, rngs=rngs)
        self.branch5x5_1 = BasicConv(cin, 48, 1, rngs=rngs)
        self.branch5x5_2 = BasicConv(48, 64, 5, padding=2, rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(cin, 64, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, padding=1, rngs=rngs)
        self.branch_pool = BasicConv(cin, pool_features, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(avg_pool_valid(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nnx.Module):
    """35 -> 17 reduction (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, cin: int, *, rngs: nnx.Rngs):
        self.branch3x3 = BasicConv(cin, 384, 3, stride=2, rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(cin, 64, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, stride=2, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return jnp.concatenate([b3, bd, max_pool(x, 2)], axis=-1)


class InceptionC(nnx.Module):
    """17x17 block (Mixed_6b-6e) with factorised 1x7 / 7x1 convolutions of width c7."""

    def __init__(self, cin: int, c7: int, *, rngs: nnx.Rngs):
        self.branch1x1 = BasicConv(cin, 192, 1, rngs=rngs)
        self.branch7x7_1 = BasicConv(cin, c7, 1, rngs=rngs)
        self.branch7x7_2 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7_3 = BasicConv(c7, 192, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_1 = BasicConv(cin, c7, 1, rngs=rngs)
        self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch_pool = BasicConv(cin, 192, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(avg_pool_valid(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nnx.Module):
    """17 -> 8 reduction (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, cin: int, *, rngs: nnx.Rngs):
        self.branch3x3_1 = BasicConv(cin, 192, 1, rngs=rngs)
        self.branch3x3_2 = BasicConv(192, 320, 3, stride=2, rngs=rngs)
        self.branch7x7x3_1 = BasicConv(cin, 192, 1, rngs=rngs)
        self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7x3_4 = BasicConv(192, 192, 3, stride=2, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                      self.branch7x7x3_4):
            b7 = layer(b7)
        return jnp.concatenate([b3, b7, max_pool(x, 2)], axis=-1)


class InceptionE(nnx.Module):
    """8x8 block (Mixed_7b, 7c) with split 1x3 / 3x1 branches; ``pool`` is "avg" (7b,
    padding-excluding mean) or "max" (7c, the FID graph's quirk)."""

    def __init__(self, cin: int, pool: str, *, rngs: nnx.Rngs):
        if pool not in ("avg", "max"):
            raise ValueError(f"InceptionE: pool must be 'avg' or 'max', got {pool!r}.")
        self.pool = pool
        self.branch1x1 = BasicConv(cin, 320, 1, rngs=rngs)
        self.branch3x3_1 = BasicConv(cin, 384, 1, rngs=rngs)
        self.branch3x3_2a = BasicConv(384, 384, (1, 3), padding=(0, 1), rngs=rngs)
        self.branch3x3_2b = BasicConv(384, 384, (3, 1), padding=(1, 0), rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(cin, 448, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(448, 384, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), padding=(0, 1), rngs=rngs)
        self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), padding=(1, 0), rngs=rngs)
        self.branch_pool = BasicConv(cin, 192, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        b1 = self.branch1x1(x)
        h = self.branch3x3_1(x)
        b3 = jnp.concatenate([self.branch3x3_2a(h), self.branch3x3_2b(h)], axis=-1)
        h = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = jnp.concatenate([self.branch3x3dbl_3a(h), self.branch3x3dbl_3b(h)], axis=-1)
        pooled = avg_pool_valid(x) if self.pool == "avg" else max_pool(x, 1, padding=1)
        return jnp.concatenate([b1, b3, bd, self.branch_pool(pooled)], axis=-1)


class InceptionV3(nnx.Module):
    """The FID Inception-v3. ``features(x)`` gives pool3 (N, 2048) from 299x299 RGB in
    [-1, 1]; ``__call__`` gives the 1008 logits. Attribute names follow torchvision /
    pytorch-fid so converted weights map one to one."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, stride=2, rngs=rngs)
        self.Conv2d_2a_3x3 = BasicConv(32, 32, 3, rngs=rngs)
        self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1, rngs=rngs)
        self.Conv2d_3b_1x1 = BasicConv(64, 80, 1, rngs=rngs)
        self.Conv2d_4a_3x3 = BasicConv(80, 192, 3, rngs=rngs)
        self.Mixed_5b = InceptionA(192, 32, rngs=rngs)
        self.Mixed_5c = InceptionA(256, 64, rngs=rngs)
        self.Mixed_5d = InceptionA(288, 64, rngs=rngs)
        self.Mixed_6a = InceptionB(288, rngs=rngs)
        self.Mixed_6b = InceptionC(768, 128, rngs=rngs)
        self.Mixed_6c = InceptionC(768, 160, rngs=rngs)
        self.Mixed_6d = InceptionC(768, 160, rngs=rngs)
        self.Mixed_6e = InceptionC(768, 192, rngs=rngs)
        self.Mixed_7a = InceptionD(768, rngs=rngs)
        self.Mixed_7b = InceptionE(1280, "avg", rngs=rngs)
        self.Mixed_7c = InceptionE(2048, "max", rngs=rngs)
        self.fc = nnx.Linear(FEATURE_DIM, NUM_CLASSES, rngs=rngs)

    def feature_map(self, x: Array) -> Array:
        """The Mixed_7c activations (N, 8, 8, 2048) for 299x299 inputs."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = max_pool(x, 2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = max_pool(x, 2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                      self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x

    def features(self, x: Array) -> Array:
        """pool3: the spatial mean of the last block, (N, 2048)."""
        return jnp.mean(self.feature_map(x), axis=(1, 2))

    def __call__(self, x: Array) -> Array:
        return self.fc(self.features(x))


def preprocess(images: Array, resize: bool = True) -> Array:
    """Images (N, H, W, 1 or 3) in [-1, 1] -> float32 RGB, bilinearly resized to 299x299
    (half-pixel centres, no antialiasing) when ``resize``."""
    x = jnp.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"inception_v3: images must have shape (N, H, W, 1) or (N, H, W, 3) "
                         f"with values in [-1, 1], got shape {x.shape}.")
    x = x.astype(jnp.float32)
    if resize:
        x = jax.image.resize(x, (x.shape[0], INPUT_SIZE, INPUT_SIZE, x.shape[-1]), "bilinear",
                             antialias=False)
    elif min(x.shape[1:3]) < MIN_INPUT_SIZE:
        raise ValueError(f"inception_v3: without resizing, images must be at least "
                         f"{MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, got {x.shape[1:3]}.")
    # Gray -> RGB after the resize: the resize acts on each channel alone, so this is the
    # same image as repeating first (pytorch-fid's convention), at a third of the work, and
    # R = G = B exactly by construction (resizing three copies can round them differently
    # in the last bit, depending on how XLA vectorises the channels on a given CPU).
    if x.shape[-1] == 1:
        x = jnp.broadcast_to(x, x.shape[:-1] + (3,))
    return x


def abstract_model() -> InceptionV3:
    """The network with shape-only parameters (nothing allocated)."""
    return nnx.eval_shape(lambda: InceptionV3(rngs=nnx.Rngs(0)))


def param_shapes() -> dict[str, tuple[int, ...]]:
    """Flat ``'Mixed_5b/branch1x1/conv/kernel' -> shape`` for every parameter and batch
    statistic: the keys and shapes a weights npz must hold."""
    return dict(_param_shapes())


@functools.lru_cache(maxsize=1)
def _param_shapes() -> dict[str, tuple[int, ...]]:
    state = nnx.state(abstract_model())
    return {"/".join(str(p) for p in path): tuple(v.shape)
            for path, v in nnx.to_flat_state(state)}


def num_parameters(include_fc: bool = False) -> int:
    """Trainable parameters (kernels, BN scale and bias; not the running statistics)."""
    return sum(int(np.prod(shape)) for key, shape in _param_shapes().items()
               if key.rsplit("/", 1)[1] not in ("mean", "var")
               and (include_fc or not key.startswith("fc/")))


def model_from_params(params: Mapping[str, np.ndarray]) -> InceptionV3:
    """An InceptionV3 holding ``params`` (flat keys as in :func:`param_shapes`), with
    every key and shape checked."""
    check_weights(params, _param_shapes(), "inception_v3 weights",
                  "Convert pytorch-fid weights with "
                  "`python -m experiments.convert_inception_weights`.")
    graphdef, state = nnx.split(abstract_model())
    flat = [(path, jnp.asarray(params["/".join(str(p) for p in path)], jnp.float32))
            for path, _ in nnx.to_flat_state(state)]
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def load_params(path: str) -> dict[str, np.ndarray]:
    """The converted weights in ``path`` (an npz written by the converter)."""
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"inception_v3 weights not found at {path!r}. diffax does not ship or download "
            "them: convert pytorch-fid's pt_inception-2015-12-05-6726825d.pth with "
            "`python -m experiments.convert_inception_weights --src FILE.pth --out "
            "inception_v3_fid.npz` (docs/features.md) and pass that path.")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def feature_fn(weights_path: str, resize: bool = True,
               batch_size: int = 50) -> Callable[[Array], Array]:
    """A ``images -> (N, 2048)`` pool3 feature function with the weights in
    ``weights_path`` bound; images are fed in jitted chunks of ``batch_size`` (the last
    one padded, so every call reuses one compiled shape)."""
    graphdef, state = nnx.split(model_from_params(load_params(weights_path)))

    @jax.jit
    def chunk(x):
        return nnx.merge(graphdef, state).features(preprocess(x, resize))

    def apply(images: Array) -> Array:
        images = jnp.asarray(images)
        n = images.shape[0]
        outs = []
        for i in range(0, n, batch_size):
            x = images[i:i + batch_size]
            short = batch_size - x.shape[0]
            if short:   # pad the last chunk: one compiled shape for every call
                x = jnp.concatenate([x, jnp.repeat(x[-1:], short, axis=0)], axis=0)
            outs.append(chunk(x)[:batch_size - short])
        return jnp.concatenate(outs, axis=0)

    return apply


__all__ = ["FEATURE_DIM", "InceptionV3", "NUM_CLASSES", "avg_pool_valid", "feature_fn",
           "load_params", "max_pool", "model_from_params", "num_parameters", "param_shapes",
           "preprocess", "sha256"]
