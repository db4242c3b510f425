"""Seeded random Inception-v3 weights under PyTorch names (numpy only).

Shared by the torch side of ``benchmarks/inception_parity.py`` and by
tests/features/test_inception_v3.py, so both implementations are fed identical weights
without shipping them. Each tensor has its own generator, seeded by (seed, crc32(name)),
so the result does not depend on key order. Kernels are He-scaled and the batch-norm
statistics are perturbed away from the identity so every layer affects the output.
"""

from __future__ import annotations

import zlib
from typing import Mapping

import numpy as np


def random_tensor(name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    g = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    if name.endswith("conv.weight") or name == "fc.weight":
        a = g.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / np.prod(shape[1:])))
    elif name.endswith("bn.weight"):
        a = g.uniform(0.5, 1.5, shape)
    elif name.endswith("running_var"):
        a = g.uniform(0.5, 2.0, shape)
    else:       # bn.bias, bn.running_mean, fc.bias
        a = 0.2 * g.standard_normal(shape, np.float32)
    return a.astype(np.float32)


def random_state_dict(shapes: Mapping[str, tuple[int, ...]], seed: int = 0
                      ) -> dict[str, np.ndarray]:
    """``{torch_name: array}`` for every ``torch_name -> shape`` in ``shapes``."""
    return {k: random_tensor(k, tuple(s), seed) for k, s in shapes.items()}


def seeded_images(n: int, size: int, channels: int, seed: int) -> np.ndarray:
    """(n, size, size, channels) float32 images in (-1, 1)."""
    g = np.random.default_rng([seed, 1])
    return np.tanh(g.standard_normal((n, size, size, channels))).astype(np.float32)
