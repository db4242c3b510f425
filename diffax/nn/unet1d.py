"""1-D U-Net denoiser for windows x (B, L, K) of L time steps and K features: the DDPM /
DDPM++ U-Net (Ho et al. 2020; Song et al. 2021) with convolutions along time and the
features as channels. Conditioning conventions are those of :mod:`diffax.nn.series`.

Input: 3K channels per step, ``[target, observed, m]`` (target = x * (1 - m), observed =
cond_values * m, m = cond_mask). For ``channel_mults = (m_0, ..., m_{D-1})`` and
``n = num_res_blocks``::

    h = Conv3(inputs) + W_pos sinusoidal(time)           (time-position side information)
    e = SiLU(time_embed(time_scale * t) [+ label_embed(y)])
    level i = 0..D-1 (width channels * m_i, length L / 2^i):
        n x ResBlock; push each;   Downsample (stride-2 Conv3) unless i = D-1;   push
    middle: ResBlock, ResBlock
    level i = D-1..0:  (n + 1) x ResBlock(concat(h, skips.pop()));  Upsample unless i = 0
    out = Conv3_zero(SiLU(GN(h)))             (zero-initialised: exactly 0 at init)

    ResBlock:  h = Conv3(SiLU(GN(x)));  h = SiLU(GN(h + W_e e));
               out = (skip(x) + Conv3_zero(drop(h))) / sqrt(2)

L must be divisible by 2^(D-1) (a ValueError otherwise; pad the window and pass
``pad_mask``). Padded steps: their input values never matter and the output there is 0
(:func:`~diffax.nn.series.series_inputs`), but unlike :class:`~diffax.nn.csdi.CSDI` the
*number and place* of padded steps do influence real steps (convolutions see their zeros,
as they see the zero padding at the window's ends, and GroupNorm statistics include them).
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn import init
from diffax.nn.embeddings import LabelEmbedding, TimeEmbedding, check_label, sinusoidal_embedding
from diffax.nn.functional import batch_times, dropout, site_key
from diffax.nn.layers import linear
from diffax.nn.series import series_inputs, series_output
from diffax.nn.unet_blocks import SKIP_SCALE, group_norm


def conv1d(cin: int, cout: int, kernel: int = 3, stride: int = 1, *, zero: bool = False,
           dtype: Any = None, rngs: nnx.Rngs) -> nnx.Conv:
    """Convolution along time (B, L, C), "SAME" padding (Glorot uniform or zeros)."""
    kernel_init = init.zeros if zero else init.xavier_uniform()
    return nnx.Conv(cin, cout, (kernel,), strides=(stride,), padding="SAME",
                    kernel_init=kernel_init, dtype=dtype, rngs=rngs)


class ResBlock1D(nnx.Module):
    """Time-conditioned residual block along time (equations in the module docstring)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, *, dropout: float,
                 groups: int | None, site: int, dtype: Any, rngs: nnx.Rngs):
        self.norm1 = group_norm(cin, groups, dtype=dtype, rngs=rngs)
        self.conv1 = conv1d(cin, cout, dtype=dtype, rngs=rngs)
        self.emb = linear(emb_dim, cout, dtype=dtype, rngs=rngs)
        self.norm2 = group_norm(cout, groups, dtype=dtype, rngs=rngs)
        self.conv2 = conv1d(cout, cout, zero=True, dtype=dtype, rngs=rngs)
        self.skip = conv1d(cin, cout, 1, dtype=dtype, rngs=rngs) if cin != cout else None
        self.rate = dropout
        self.site = site  # index of this block's dropout key

    def __call__(self, x: jax.Array, emb: jax.Array, key: jax.Array | None) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = jax.nn.silu(self.norm2(h + self.emb(emb)[:, None, :]))
        h = self.conv2(dropout(h, self.rate, site_key(key, self.site)))
        skip = x if self.skip is None else self.skip(x)
        return (skip + h) * SKIP_SCALE


class Downsample1D(nnx.Module):
    """Halve the length: stride-2 convolution of width 3."""

    def __init__(self, channels: int, *, dtype: Any, rngs: nnx.Rngs):
        self.conv = conv1d(channels, channels, stride=2, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


class Upsample1D(nnx.Module):
    """Double the length: nearest-neighbour repeat, then a convolution of width 3."""

    def __init__(self, channels: int, *, dtype: Any, rngs: nnx.Rngs):
        self.conv = conv1d(channels, channels, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(jnp.repeat(x, 2, axis=1))


class UNet1D(nnx.Module):
    """1-D U-Net; ``net(x, t, label=None, *, cond_mask=None, cond_values=None, time=None,
    pad_mask=None, dropout_key=None)`` -> (B, L, K) in x's dtype.

    Args:
      num_features: K, the size of the last axis of x (B, L, K).
      channels: base width; level i has ``channels * channel_mults[i]`` channels.
      channel_mults: width multipliers, one per level (L must be divisible by
        2^(len(channel_mults) - 1)).
      num_res_blocks: residual blocks per level on the way down (one more on the way up).
      time_embed_dim: width of the sinusoidal time-position features of ``time``.
      time_scale: the network embeds ``time_scale * t``.
      num_classes: None or the number of classes (label table has a null row).
      dropout: dropout rate in the residual blocks (only with a ``dropout_key``).
      norm_groups: GroupNorm groups (None: largest divisor of the width <= min(32, width/4)).
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, num_features: int, *, channels: int = 64,
                 channel_mults: Sequence[int] = (1, 2), num_res_blocks: int = 1,
                 time_embed_dim: int = 128, time_scale: float = 1000.0,
                 num_classes: int | None = None, dropout: float = 0.0,
                 norm_groups: int | None = None, dtype: Any = None, rngs: nnx.Rngs):
        for name, value in [("num_features", num_features), ("channels", channels),
                            ("num_res_blocks", num_res_blocks), ("time_embed_dim", time_embed_dim)]:
            checks.positive_int("UNet1D", name, value)
        if norm_groups is not None:
            checks.positive_int("UNet1D", "norm_groups", norm_groups)
        mults = tuple(channel_mults)
        if not mults or not all(isinstance(m, int) and not isinstance(m, bool) and m > 0
                                for m in mults):
            raise ValueError(f"UNet1D: channel_mults must be a non-empty sequence of positive "
                             f"integers, got channel_mults={channel_mults!r}.")
        checks.finite("UNet1D", "time_scale", time_scale)
        rate = checks.probability("UNet1D", "dropout", dropout, hi_open=True)
        self.num_features = num_features
        self.num_classes = num_classes
        self.levels = len(mults)
        self.time_embed_dim = time_embed_dim
        emb_dim = 4 * channels
        self.time_embed = TimeEmbedding(channels, emb_dim, time_scale=time_scale, dtype=dtype,
                                        rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, emb_dim, dtype=dtype, rngs=rngs)
                            if num_classes is not None else None)
        sites = itertools.count()  # one dropout key index per residual block

        def res(cin: int, cout: int) -> ResBlock1D:
            return ResBlock1D(cin, cout, emb_dim, dropout=rate, groups=norm_groups,
                              site=next(sites), dtype=dtype, rngs=rngs)

        self.conv_in = conv1d(3 * num_features, channels, dtype=dtype, rngs=rngs)
        self.pos_proj = linear(time_embed_dim, channels, dtype=dtype, rngs=rngs)
        skip_ch, cur, down = [channels], channels, []
        for i, mult in enumerate(mults):
            for _ in range(num_res_blocks):
                down.append(res(cur, channels * mult))
                cur = channels * mult
                skip_ch.append(cur)
            if i < self.levels - 1:
                down.append(Downsample1D(cur, dtype=dtype, rngs=rngs))
                skip_ch.append(cur)
        self.down = nnx.List(down)
        self.mid1 = res(cur, cur)
        self.mid2 = res(cur, cur)
        up = []
        for i, mult in reversed(list(enumerate(mults))):
            for _ in range(num_res_blocks + 1):
                up.append(res(cur + skip_ch.pop(), channels * mult))
                cur = channels * mult
            if i > 0:
                up.append(Upsample1D(cur, dtype=dtype, rngs=rngs))
        self.up = nnx.List(up)
        self.norm_out = group_norm(cur, norm_groups, dtype=dtype, rngs=rngs)
        self.conv_out = conv1d(cur, num_features, zero=True, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 cond_mask: jax.Array | None = None, cond_values: jax.Array | None = None,
                 time: jax.Array | None = None, pad_mask: jax.Array | None = None,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        inp = series_inputs("UNet1D", x, self.num_features, cond_mask, cond_values, time,
                            pad_mask)
        factor = 2 ** (self.levels - 1)
        length = inp.target.shape[1]
        if length % factor:
            raise ValueError(f"UNet1D: the window length L={length} must be divisible by "
                             f"2^(len(channel_mults) - 1) = {factor}; pad the window to a "
                             f"multiple of {factor} and mark the padding with pad_mask.")
        check_label(label, self.num_classes)
        batch = inp.target.shape[0]
        emb = self.time_embed(batch_times(t, batch))
        if self.label_embed is not None:
            emb = emb + self.label_embed(label, batch)
        emb = jax.nn.silu(emb)

        h = self.conv_in(jnp.concatenate([inp.target, inp.observed, inp.mask], axis=-1))
        h = h + self.pos_proj(sinusoidal_embedding(inp.time, self.time_embed_dim))
        skips = [h]
        for block in self.down:
            h = block(h) if isinstance(block, Downsample1D) else block(h, emb, dropout_key)
            skips.append(h)
        h = self.mid2(self.mid1(h, emb, dropout_key), emb, dropout_key)
        for block in self.up:
            if isinstance(block, Upsample1D):
                h = block(h)
            else:
                h = block(jnp.concatenate([h, skips.pop()], axis=-1), emb, dropout_key)
        out = self.conv_out(jax.nn.silu(self.norm_out(h)))
        return series_output(out, inp.pad, x.dtype)
