"""DDPM++-style U-Net (Song et al. 2021, "Score-based generative modeling through SDEs";
Ho et al. 2020, DDPM) for images (B, H, W, C), channels-last.

Layout, for ``channel_mult = (m_0, ..., m_{L-1})`` and ``n = num_res_blocks``::

    h = Conv3x3(x);                                     skips = [h]
    level i = 0..L-1 (width channels*m_i, resolution H / 2^i):
        n x [ResBlock (+ attention if the resolution is in attn_resolutions)]; push each
        Downsample (stride-2 conv) unless i = L-1;                        push
    middle: ResBlock, attention, ResBlock
    level i = L-1..0:
        (n + 1) x [ResBlock(concat(h, skips.pop())) (+ attention)]
        Upsample (nearest x2 + conv) unless i = 0
    out = Conv3x3_zero(SiLU(GN(h)))      (zero-initialised: the output is exactly 0 at init)

The conditioning ``e = SiLU(time_embed(time_scale * t) [+ label_embed(y)])`` enters every
residual block through a dense projection (added, or as scale/shift with
``scale_shift=True``). Residual and attention blocks rescale their skip sums by 1/sqrt(2)
(DDPM++ ``skip_rescale``). Blocks are in :mod:`diffax.nn.unet_blocks`.

With ``augment_dim > 0`` the network also takes EDM's augment labels ``a`` (Karras et al.
2022, Appendix F.2; :mod:`diffax.data.edm_augment`): a bias-free linear map of ``a`` is
added to the time features before the embedding MLP (EDM's ``map_augment``),
``time_embed = MLP(features(time_scale * t) + W_aug a)``; no labels means ``a = 0``.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from diffax import checks
from diffax.nn import init
from diffax.nn.embeddings import EMBEDDINGS, LabelEmbedding, TimeEmbedding, check_label
from diffax.nn.functional import batch_times
from diffax.nn.layers import conv
from diffax.nn.unet_blocks import (AttentionBlock, Downsample, ResBlock, Stage, Upsample,
                                   group_norm)


def _image_size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}.")
    return size


def check_divisible(size: tuple[int, int], levels: int) -> None:
    """H and W must be divisible by 2^(levels - 1) (one halving between levels)."""
    factor = 2 ** (levels - 1)
    if size[0] % factor or size[1] % factor:
        raise ValueError(f"image size {size[0]}x{size[1]} is not divisible by 2^(len(channel_mult)"
                         f" - 1) = {factor}; use fewer levels or another image size.")


class UNet(nnx.Module):
    """DDPM++ U-Net; ``net(x, t, label=None, *, dropout_key=None)`` -> array of x's shape
    (with ``out_channels`` channels).

    Args:
      in_channels: C of the input images.
      channels: base width; level i has ``channels * channel_mult[i]`` channels.
      channel_mult: width multipliers, one per resolution level.
      num_res_blocks: residual blocks per level on the way down (one more on the way up).
      attn_resolutions: spatial sizes (the height H / 2^i of a level) that get
        self-attention after each residual block, e.g. (7,) for 28x28 images with three
        levels. Needs ``image_size``.
      image_size: H (or (H, W)) of the images; required when ``attn_resolutions`` is not
        empty, and then checked at call time.
      dropout: dropout rate in the residual blocks (only with a ``dropout_key``).
      embedding: "sinusoidal" or "fourier" time features (width ``channels``).
      time_scale: the network embeds ``time_scale * t``.
      fourier_scale: standard deviation of the Fourier frequencies.
      num_classes: None or the number of classes (label table has a null row).
      out_channels: output channels (default ``in_channels``).
      scale_shift: condition residual blocks by GroupNorm scale/shift instead of addition.
      num_heads: attention heads.
      norm_groups: GroupNorm groups (None: largest divisor of the width <= min(32, width/4)).
      mid_attention: self-attention in the middle block.
      resample_conv: 3x3 convs in the down/upsampling layers (DDPM ``resamp_with_conv``);
        False uses 2x2 average pooling / nearest upsampling (cheaper on CPU).
      augment_dim: length of the augment labels the network is conditioned on
        (``net(..., augment_labels=a)``, a of shape (B, augment_dim)); 0: none.
      dtype: computation dtype (parameters stay float32).
    """

    def __init__(self, in_channels: int, *, channels: int = 32,
                 channel_mult: Sequence[int] = (1, 2, 2), num_res_blocks: int = 1,
                 attn_resolutions: Sequence[int] = (), image_size: int | Sequence[int] | None = None,
                 dropout: float = 0.0, embedding: str = "sinusoidal", time_scale: float = 1000.0,
                 fourier_scale: float = 16.0, num_classes: int | None = None,
                 out_channels: int | None = None, scale_shift: bool = False, num_heads: int = 1,
                 norm_groups: int | None = None, mid_attention: bool = True,
                 resample_conv: bool = True, augment_dim: int = 0, dtype: Any = None,
                 rngs: nnx.Rngs):
        checks.positive_int("UNet", "in_channels", in_channels)
        checks.positive_int("UNet", "channels", channels)
        checks.positive_int("UNet", "num_res_blocks", num_res_blocks)
        checks.positive_int("UNet", "num_heads", num_heads)
        checks.integer("UNet", "augment_dim", augment_dim, minimum=0)
        if norm_groups is not None:
            checks.positive_int("UNet", "norm_groups", norm_groups)
        channel_mult = tuple(channel_mult)
        if not channel_mult or not all(isinstance(m, int) and m > 0 for m in channel_mult):
            raise ValueError(f"channel_mult must be a non-empty sequence of positive integers, "
                             f"got {channel_mult!r}.")
        checks.choice("UNet", "embedding", embedding, EMBEDDINGS)
        rate = checks.probability("UNet", "dropout", dropout, hi_open=True)
        if out_channels is None:
            out_channels = in_channels
        checks.positive_int("UNet", "out_channels", out_channels)
        size = _image_size(image_size)
        attn_resolutions = tuple(attn_resolutions)
        levels = len(channel_mult)
        if size is not None:
            check_divisible(size, levels)
            level_res = [size[0] // 2 ** i for i in range(levels)]
            bad = [r for r in attn_resolutions if r not in level_res]
            if bad:
                raise ValueError(f"attn_resolutions {bad} match no level of a {size[0]}x{size[1]} "
                                 f"U-Net with channel_mult={channel_mult}; level resolutions are "
                                 f"{level_res}.")
        elif attn_resolutions:
            raise ValueError(f"attn_resolutions={attn_resolutions} needs image_size (the input "
                             f"height H) to know at which levels to put attention.")
        else:
            level_res = [None] * levels

        self.in_channels, self.out_channels = in_channels, out_channels
        self.image_size = size
        self.levels = levels
        self.num_classes = num_classes
        emb_dim = 4 * channels
        self.time_embed = TimeEmbedding(channels, emb_dim, embedding=embedding,
                                        time_scale=time_scale, fourier_scale=fourier_scale,
                                        dtype=dtype, rngs=rngs)
        self.label_embed = (LabelEmbedding(num_classes, emb_dim, dtype=dtype, rngs=rngs)
                            if num_classes is not None else None)

        sites = itertools.count()  # one dropout key index per residual block

        def stage(cin: int, cout: int, attn: bool) -> Stage:
            res = ResBlock(cin, cout, emb_dim, dropout=rate, scale_shift=scale_shift,
                           groups=norm_groups, site=next(sites), dtype=dtype, rngs=rngs)
            att = (AttentionBlock(cout, num_heads=num_heads, groups=norm_groups, dtype=dtype,
                                  rngs=rngs) if attn else None)
            return Stage(res, att)

        self.conv_in = conv(in_channels, channels, dtype=dtype, rngs=rngs)
        skip_ch, cur, down = [channels], channels, []
        for i, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                down.append(stage(cur, channels * mult, level_res[i] in attn_resolutions))
                cur = channels * mult
                skip_ch.append(cur)
            if i < levels - 1:
                down.append(Downsample(cur, with_conv=resample_conv, dtype=dtype, rngs=rngs))
                skip_ch.append(cur)
        self.down = nnx.List(down)

        self.mid1 = stage(cur, cur, mid_attention)
        self.mid2 = stage(cur, cur, False)

        up = []
        for i, mult in reversed(list(enumerate(channel_mult))):
            for _ in range(num_res_blocks + 1):
                up.append(stage(cur + skip_ch.pop(), channels * mult,
                                level_res[i] in attn_resolutions))
                cur = channels * mult
            if i > 0:
                up.append(Upsample(cur, with_conv=resample_conv, dtype=dtype, rngs=rngs))
        self.up = nnx.List(up)

        self.norm_out = group_norm(cur, norm_groups, dtype=dtype, rngs=rngs)
        self.conv_out = conv(cur, out_channels, zero=True, dtype=dtype, rngs=rngs)
        # created last, so every other parameter is the same with or without it
        self.augment_dim = augment_dim
        self.map_augment = (nnx.Linear(augment_dim, channels, use_bias=False,
                                       kernel_init=init.xavier_uniform(), dtype=dtype, rngs=rngs)
                            if augment_dim else None)

    def _time_embedding(self, t: jax.Array, batch: int,
                        augment_labels: jax.Array | None) -> jax.Array:
        if augment_labels is None:
            return self.time_embed(batch_times(t, batch))
        if self.map_augment is None or augment_labels.shape != (batch, self.augment_dim):
            raise ValueError(f"UNet: augment_labels must have shape (B, augment_dim) = "
                             f"({batch}, {self.augment_dim}), got {augment_labels.shape}"
                             + ("; build the network with augment_dim > 0 to condition on "
                                "them." if self.map_augment is None else "."))
        te = self.time_embed
        features = te.features(batch_times(t, batch)) + self.map_augment(augment_labels)
        return te.fc2(jax.nn.silu(te.fc1(features)))

    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 dropout_key: jax.Array | None = None,
                 augment_labels: jax.Array | None = None) -> jax.Array:
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ValueError(f"UNet expects x of shape (B, H, W, {self.in_channels}), got {x.shape}.")
        size = tuple(x.shape[1:3])
        if self.image_size is not None and size != self.image_size:
            raise ValueError(f"UNet was built for {self.image_size[0]}x{self.image_size[1]} images "
                             f"(image_size), got {size[0]}x{size[1]}.")
        check_divisible(size, self.levels)
        check_label(label, self.num_classes)
        batch = x.shape[0]
        emb = self._time_embedding(t, batch, augment_labels)
        if self.label_embed is not None:
            emb = emb + self.label_embed(label, batch)
        emb = jax.nn.silu(emb)

        h = self.conv_in(x)
        skips = [h]
        for block in self.down:
            h = block(h) if isinstance(block, Downsample) else block(h, emb, dropout_key)
            skips.append(h)
        h = self.mid2(self.mid1(h, emb, dropout_key), emb, dropout_key)
        for block in self.up:
            if isinstance(block, Upsample):
                h = block(h)
            else:
                h = block(jnp.concatenate([h, skips.pop()], axis=-1), emb, dropout_key)
        out = self.conv_out(jax.nn.silu(self.norm_out(h)))
        return out.astype(x.dtype)
