"""Image grids of batches in [-1, 1], as arrays or PNG files (PIL)."""

from __future__ import annotations

import math
import os

import numpy as np

from diffax import filesystem as fs
from diffax.data.preprocess import to_uint8


def make_image_grid(images, nrow: int | None = None, padding: int = 2,
                    pad_value: int = 255) -> np.ndarray:
    """Tile a batch of images in [-1, 1] into one uint8 image.

    Args:
      images: (B, H, W, C) with C in {1, 3} (or (B, H, W)), numpy or JAX, values in
        [-1, 1] (mapped with :func:`diffax.data.to_uint8`).
      nrow: images per row (default ``ceil(sqrt(B))``).
      padding: pixels between images and around the border.
      pad_value: uint8 value of the padding.

    Returns:
      uint8 array of shape ``(rows * (H + p) + p, nrow * (W + p) + p, C)``, ``p =
      padding``; image ``i`` sits in grid row ``i // nrow``, column ``i % nrow``.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 3):
        raise ValueError(f"make_image_grid: images must have shape (B, H, W, C) with B >= 1 "
                         f"and C in (1, 3), got shape {images.shape}.")
    b, h, w, c = images.shape
    nrow = int(math.ceil(math.sqrt(b))) if nrow is None else int(nrow)
    if nrow < 1:
        raise ValueError(f"make_image_grid: nrow must be >= 1, got {nrow}.")
    if padding < 0 or not 0 <= pad_value <= 255:
        raise ValueError(f"make_image_grid: need padding >= 0 and pad_value in 0..255, got "
                         f"padding={padding}, pad_value={pad_value}.")
    ncol_imgs, nrows = min(nrow, b), int(math.ceil(b / nrow))
    p = padding
    grid = np.full((nrows * (h + p) + p, ncol_imgs * (w + p) + p, c), pad_value, np.uint8)
    pixels = to_uint8(images)
    for i in range(b):
        r, col = divmod(i, nrow)
        top, left = p + r * (h + p), p + col * (w + p)
        grid[top:top + h, left:left + w] = pixels[i]
    return grid


def save_image_grid(images, path: str | os.PathLike, nrow: int | None = None,
                    padding: int = 2, pad_value: int = 255, scale: int = 1) -> np.ndarray:
    """Write :func:`make_image_grid` of ``images`` (in [-1, 1]) to ``path`` (PNG; the
    parent folder is created; local or a bucket, see :mod:`diffax.filesystem`), enlarged ``scale`` times by pixel repetition (nearest
    neighbour, for small images), and return the grid as written (grayscale for C = 1)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"save_image_grid: scale must be an integer >= 1, got {scale!r}.")
    grid = make_image_grid(images, nrow, padding, pad_value)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    fs.save_png(grid, path)
    return grid


__all__ = ["make_image_grid", "save_image_grid"]
