"""Layer constructors with the initialisation used by every network here.

Kernels: Glorot uniform (:func:`diffax.nn.init.xavier_uniform`, as in DDPM++ and DiT), or
zeros for layers that must start at 0 (output layers, adaLN-Zero modulation, the last conv of
each DDPM++ residual block). Biases: zeros.
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from diffax.nn import init


def linear(cin: int, cout: int, *, zero: bool = False, dtype: Any = None,
           rngs: nnx.Rngs) -> nnx.Linear:
    """Dense layer ``x W + b`` (``W`` Glorot uniform, or zeros with ``zero=True``)."""
    kernel_init = init.zeros if zero else init.xavier_uniform()
    return nnx.Linear(cin, cout, kernel_init=kernel_init, dtype=dtype, rngs=rngs)


def conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, *, zero: bool = False,
         dtype: Any = None, rngs: nnx.Rngs) -> nnx.Conv:
    """``kernel x kernel`` convolution, "SAME" padding, channels-last."""
    kernel_init = init.zeros if zero else init.xavier_uniform()
    return nnx.Conv(cin, cout, (kernel, kernel), strides=(stride, stride), padding="SAME",
                    kernel_init=kernel_init, dtype=dtype, rngs=rngs)


def embed(num: int, dim: int, *, stddev: float = 1.0, dtype: Any = None,
          rngs: nnx.Rngs) -> nnx.Embed:
    """Lookup table with ``N(0, stddev^2)`` rows."""
    return nnx.Embed(num, dim, embedding_init=init.normal(stddev), dtype=dtype, rngs=rngs)
