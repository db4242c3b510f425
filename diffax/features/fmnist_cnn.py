"""FD-FMNIST: a small Fashion-MNIST classifier whose penultimate layer gives the features
for Fréchet distance, KID and precision/recall of 28x28 grayscale samples.

There are no Inception weights on these machines (and Inception features of 28x28
clothing are a poor fit anyway), so diffax ships its own reference network, trained by a
reproducible script (``python -m experiments.train_fmnist_classifier``) and stored in
``diffax/features/weights/fmnist_cnn_v1.npz`` with its test accuracy and SHA-256 in the
JSON next to it. Like FID (Heusel et al., 2017), FD-FMNIST is the Fréchet distance
between Gaussians fitted to the features of samples and of real test images; numbers are
comparable only between runs that use the same weights file (reports name it).

Architecture (pure JAX, weights as a flat dict): four 3x3 convolutions (32, 64 / 2,
64, 128 / 2 channels; stride 2 where marked) with ReLU, global average pooling, a
128-unit ReLU layer (the **features**) and a 10-way linear head.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diffax.features._weights import check_weights, sha256

Array = jax.Array

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
WEIGHTS_FILE = os.path.join(WEIGHTS_DIR, "fmnist_cnn_v1.npz")
INFO_FILE = os.path.join(WEIGHTS_DIR, "fmnist_cnn_v1.json")
#: (name, in_channels, out_channels, stride) of the convolutions.
CONVS = (("conv1", 1, 32, 1), ("conv2", 32, 64, 2), ("conv3", 64, 64, 1),
         ("conv4", 64, 128, 2))
FEATURE_DIM = 128
NUM_CLASSES = 10


def init_params(key: Array) -> dict[str, Array]:
    """He-normal convolutions and dense layers, zero biases."""
    params = {}
    keys = jax.random.split(key, len(CONVS) + 2)
    for k, (name, cin, cout, _) in zip(keys, CONVS):
        params[name + "/w"] = jax.random.normal(k, (3, 3, cin, cout)) * np.sqrt(2.0 / (9 * cin))
        params[name + "/b"] = jnp.zeros((cout,))
    params["dense/w"] = jax.random.normal(keys[-2], (128, FEATURE_DIM)) * np.sqrt(2.0 / 128)
    params["dense/b"] = jnp.zeros((FEATURE_DIM,))
    params["head/w"] = jax.random.normal(keys[-1], (FEATURE_DIM, NUM_CLASSES)) * np.sqrt(
        1.0 / FEATURE_DIM)
    params["head/b"] = jnp.zeros((NUM_CLASSES,))
    return params


def _check_images(x: Array) -> Array:
    x = jnp.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise ValueError(f"fmnist_cnn: images must have shape (N, 28, 28, 1) (or (N, 28, 28)) "
                         f"with values in [-1, 1], got shape {x.shape}.")
    return x.astype(jnp.float32)


def features(params: dict[str, Array], x: Array) -> Array:
    """Penultimate features (N, 128) of images in [-1, 1], shape (N, 28, 28, 1)."""
    h = _check_images(x)
    for name, _, _, stride in CONVS:
        h = jax.lax.conv_general_dilated(h, params[name + "/w"], (stride, stride), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h + params[name + "/b"])
    h = jnp.mean(h, axis=(1, 2))
    return jax.nn.relu(h @ params["dense/w"] + params["dense/b"])


def logits(params: dict[str, Array], x: Array) -> Array:
    """Class logits (N, 10)."""
    return features(params, x) @ params["head/w"] + params["head/b"]


def save_params(params: dict[str, Any], path: str) -> None:
    np.savez_compressed(path, **{k: np.asarray(v, np.float32) for k, v in params.items()})


def load_params(path: str = WEIGHTS_FILE) -> dict[str, Array]:
    """The weights from ``path`` (default: the packaged v1 file), checked for every key
    and shape the network needs."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"fmnist_cnn weights not found at {path!r}; they ship with diffax "
            "(diffax/features/weights/), or regenerate them with "
            "`python -m experiments.train_fmnist_classifier --out diffax/features/weights`.")
    with np.load(path) as f:
        params = {k: jnp.asarray(f[k]) for k in f.files}
    expected = jax.eval_shape(init_params, jax.random.PRNGKey(0))
    check_weights(params, {k: v.shape for k, v in expected.items()},
                  f"fmnist_cnn weights {path!r}")
    return params


def info() -> dict:
    """The training record of the packaged weights (accuracy, seed, steps, sha256)."""
    with open(INFO_FILE) as f:
        return json.load(f)


def feature_fn(path: str = WEIGHTS_FILE):
    """A jitted ``images -> (N, 128)`` feature function with the weights bound."""
    params = load_params(path)
    return jax.jit(lambda x: features(params, x))


__all__ = ["FEATURE_DIM", "INFO_FILE", "WEIGHTS_FILE", "feature_fn", "features", "info",
           "init_params", "load_params", "logits", "save_params", "sha256"]
