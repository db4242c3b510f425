"""Image preprocessing: uint8 <-> [-1, 1] floats, flips, dequantization, crop + resize.

Conventions (all numpy, no TensorFlow):

* ``uint8_to_float``: ``v / 127.5 - 1``, so 0 -> -1 and 255 -> 1.
* dequantization: ``2 (v + u) / 256 - 1`` with ``u ~ U[0, 1)``, so pixel value ``v``
  spreads uniformly over its bin ``[v / 128 - 1, (v + 1) / 128 - 1)`` (whole range
  [-1, 1)); the float32 result is kept strictly below the bin's upper edge.
* ``to_uint8`` inverts either map for display: ``round((x + 1) * 127.5)`` clipped to
  0..255.

Random choices (flip or not, dequantization noise) come from one numpy generator per
example, ``default_rng([AUGMENT_TAG, seed, step, row])`` with ``row`` the example's
position in the *global* batch of ``step``: reproducible, and the same on every host
whatever the number of hosts. The flip coin is always drawn first, so turning
dequantization on or off does not change which examples are flipped.
"""

from __future__ import annotations

import numpy as np

#: First word of the seed of the per-example augmentation generators (domain separation
#: from the epoch permutations of :mod:`diffax.data.pipeline`).
AUGMENT_TAG = 0xA06


def uint8_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [-1, 1] (``v / 127.5 - 1``)."""
    return np.asarray(images, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def dequantize_uint8(images: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``2 (v + u) / 256 - 1`` as float32 in [-1, 1), with ``noise`` u in [0, 1) of the
    images' shape; each value stays inside its pixel's bin ``[v/128 - 1, (v+1)/128 - 1)``.

    Computed in float32: rounding is monotone and the bin edges are exact in float32, so
    only the upper edge can be reached by rounding; it is clamped to the float below.
    """
    v = np.asarray(images, dtype=np.float32)
    y = (v + np.asarray(noise, dtype=np.float32)) * np.float32(1.0 / 128.0) - np.float32(1.0)
    upper = (v + np.float32(1.0)) * np.float32(1.0 / 128.0) - np.float32(1.0)
    return np.minimum(y, np.nextafter(upper, np.float32(-np.inf)))


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Invert the [-1, 1] scaling for visualization: ``round((x + 1) * 127.5)`` clipped
    to 0..255, as uint8 (accepts numpy or JAX arrays of any shape)."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.round((x + np.float32(1.0)) * np.float32(127.5)), 0, 255).astype(np.uint8)


def example_rng(seed: int, step: int, row: int) -> np.random.Generator:
    """The generator for the example in global row ``row`` of the batch at ``step``."""
    return np.random.default_rng([AUGMENT_TAG, int(seed), int(step), int(row)])


def augment_images(images: np.ndarray, *, seed: int, step: int, rows: np.ndarray,
                   flip: bool = False, dequantize: bool = False) -> np.ndarray:
    """uint8 images (B, H, W, C) -> float32 (B, H, W, C) in [-1, 1].

    ``rows[i]`` is the global batch row of ``images[i]`` at ``step``; with ``flip`` each
    image is mirrored horizontally with probability 1/2, with ``dequantize`` uniform
    noise is added (see the module docstring). Without either, this is
    :func:`uint8_to_float`.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"augment_images: expected uint8 images of shape (B, H, W, C), got "
                         f"{images.dtype} of shape {images.shape}.")
    if len(rows) != images.shape[0]:
        raise ValueError(f"augment_images: {len(rows)} rows for {images.shape[0]} images.")
    if not (flip or dequantize):
        return uint8_to_float(images)
    images = images.copy()
    noise = np.empty(images.shape, np.float32) if dequantize else None
    for i, row in enumerate(rows):
        rng = example_rng(seed, step, row)
        if rng.random() < 0.5 and flip:
            images[i] = images[i, :, ::-1]
        if dequantize:
            noise[i] = rng.random(images.shape[1:], dtype=np.float32)
    return dequantize_uint8(images, noise) if dequantize else uint8_to_float(images)


def center_crop(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """The central ``size`` (int for a square, or (height, width)) crop of an (H, W, C)
    image; when the margin is odd the extra pixel is cut from the bottom / right."""
    h, w = image.shape[:2]
    ch, cw = (size, size) if isinstance(size, int) else tuple(size)
    if not (0 < ch <= h and 0 < cw <= w):
        raise ValueError(f"center_crop: crop size {(ch, cw)} must be positive and fit in "
                         f"the image of size {(h, w)}.")
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top:top + ch, left:left + cw]


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a uint8 (H, W, C) image to ``size`` (int: square, or (height, width)) with
    PIL's antialiased bicubic filter."""
    from PIL import Image

    oh, ow = (size, size) if isinstance(size, int) else tuple(size)
    if oh < 1 or ow < 1:
        raise ValueError(f"resize: size must be positive, got {(oh, ow)}.")
    if image.shape[:2] == (oh, ow):
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.asarray(pil.resize((ow, oh), Image.Resampling.BICUBIC))
    return out.reshape(oh, ow, channels)


__all__ = ["uint8_to_float", "dequantize_uint8", "to_uint8", "example_rng", "augment_images",
           "center_crop", "resize"]
