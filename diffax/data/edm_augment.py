"""EDM's non-leaky geometric augmentation (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", Appendix F.2; after Karras et al. 2020, ADA).

Each training image is transformed with probability ``p`` per enabled transform, and the
network is told what was done: the transform parameters form a vector of *augment
labels* ``a`` (zero = no augmentation) that conditions the denoiser, ``D(x; sigma, a)``.
At sampling time ``a = 0``, so the model generates un-augmented images and the
augmentations do not leak into the samples. Pure JAX: :meth:`EDMAugment.__call__` jits,
vmaps and runs inside the train step (``experiments/tasks/image.py``).

Transforms (in this order; the labels of the enabled ones are concatenated in the same
order). Images are (B, H, W, C), pixel (row i, column j) has the centred coordinates
``p = (j - (W-1)/2, i - (H-1)/2)`` (x right, y down). Each transform is applied with
probability ``q`` (``q = p``, or ``q = 1`` for those in ``always`` while ``p > 0``:
EDM's x-flip multiplier 1e8); a transform not applied has all-zero labels.

=============  ======================================================  ===================
name           draw (when applied)                                     labels
=============  ======================================================  ===================
xflip          f ~ Bernoulli(1/2); mirror columns if f = 1             f
yflip          f ~ Bernoulli(1/2); mirror rows if f = 1                f
rotate_int     k ~ U{0,1,2,3}; rotate by k quarter turns (H = W)       [k in {1,2}, k in {2,3}]
translate_int  u ~ U(-1,1)^2; shift by t = round(u (W, H) m_int) px    t / ((W, H) m_int)
scale          w ~ N(0,1); zoom by s = 2^(s_std w)                     w
rotate_frac    w ~ U(-pi r_max, pi r_max); rotate by w                 [cos w - 1, sin w]
aniso          w ~ N(0,1), r = 0 or (prob 1/2) r ~ U(-pi/2, pi/2);     [w cos r, w sin r]
               stretch by 2^(a_std w) along the axis at angle r,
               shrink by the same factor across it
translate_frac w ~ N(0,1)^2; shift by t = w (W, H) t_std px            w
=============  ======================================================  ===================

The pixel-blitting transforms (flips, quarter turns, integer shifts) move pixels exactly;
integer shifts reflect at the border, ``x -> mirror(x - t)`` with
``mirror(x) = (n-1) - |(n-1) - x mod (2n-2)|``. The last four compose one affine map
that sends an output pixel ``p`` to the input position (EDM's ``G_inv``)::

    q = S(2^-(s_std w_s)) R(w_rot) A (p - t),   R(w) = [[cos w, -sin w], [sin w, cos w]],
    A = R(-r) diag(2^-(a_std w), 2^(a_std w)) R(r)
      = cosh(k w) I + sinh(k w) [[-cos 2r, sin 2r], [sin 2r, cos 2r]],  k = a_std ln 2,

and the output is the input sampled bilinearly at ``q`` with mirror reflection outside.
Everything is computed from the labels (:meth:`EDMAugment.apply`), so the labels encode
the transform exactly: ``cos w, sin w`` directly, and the anisotropic pair through
``w = sign(a_0) |a|``, ``cos 2r = (a_0^2 - a_1^2)/|a|^2``, ``sin 2r = 2 a_0 a_1/|a|^2``.

Differences from the official pipeline (training/augment.py of NVlabs/edm), chosen
deliberately: (1) the anisotropy angle is drawn from (-pi/2, pi/2) instead of (-pi, pi):
``A`` has period pi in ``r``, and ``w (cos r, sin r)`` has the same law either way (``w``
is symmetric), so transforms and labels have EDM's distributions, but here the labels
determine ``w``'s sign (EDM's labels cannot tell ``(w, r)`` from ``(-w, r + pi)``, two
different stretches); (2) bilinear resampling at the image resolution with mirror
reflection everywhere, where EDM upsamples 2x with sym6 wavelet filters, samples
bilinearly and downsamples (less blur for sub-pixel shifts); (3) integer shifts move
content by ``+t`` along both axes (EDM shifts y by ``-t``; the law is symmetric). Colour
transforms are not implemented (EDM's CIFAR-10 recipe does not use them).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp

from diffax import checks

#: Transform names in application (and label) order, with their number of labels.
LABEL_SIZES = {"xflip": 1, "yflip": 1, "rotate_int": 2, "translate_int": 2, "scale": 1,
               "rotate_frac": 2, "aniso": 2, "translate_frac": 2}
TRANSFORMS = tuple(LABEL_SIZES)
#: EDM's CIFAR-10 set (train.py ``--augment``: xflip=1e8, yflip, scale, rotate_frac,
#: aniso, translate_frac all 1), 9 labels.
EDM_TRANSFORMS = ("xflip", "yflip", "scale", "rotate_frac", "aniso", "translate_frac")
_GEOMETRIC = ("scale", "rotate_frac", "aniso", "translate_frac")


def mirror_index(x: jax.Array, n: int) -> jax.Array:
    """Reflect integer positions into [0, n-1] without repeating the edge pixel:
    ``(n-1) - |(n-1) - x mod (2n-2)|`` (..., 2, 1, | 0, 1, ..., n-1 |, n-2, ...)."""
    period = 2 * n - 2
    return (n - 1) - jnp.abs((n - 1) - jnp.mod(x, period))


@dataclasses.dataclass(frozen=True)
class EDMAugment:
    """The augmentation pipe; ``pipe(key, images) -> (augmented, labels)``.

    Args:
      p: probability of each enabled transform, in [0, 1] (EDM's CIFAR-10: 0.12).
        ``p = 0`` is the identity with zero labels.
      transforms: enabled transform names (a subset of :data:`TRANSFORMS`, any order;
        applied and labelled in :data:`TRANSFORMS` order).
      always: enabled transforms applied with probability 1 whenever ``p > 0`` (EDM's
        probability multiplier 1e8 for x-flips: half of the images are mirrored).
      translate_int_max, scale_std, rotate_frac_max, aniso_std, aniso_rotate_prob,
        translate_frac_std: the ranges of the table in the module docstring (EDM's
        defaults).
    """

    p: float
    transforms: Sequence[str] = EDM_TRANSFORMS
    always: Sequence[str] = ("xflip",)
    translate_int_max: float = 0.125
    scale_std: float = 0.2
    rotate_frac_max: float = 1.0
    aniso_std: float = 0.2
    aniso_rotate_prob: float = 0.5
    translate_frac_std: float = 0.125

    def __post_init__(self):
        where = "EDMAugment"
        object.__setattr__(self, "p", checks.probability(where, "p", self.p))
        for field in ("transforms", "always"):
            names = tuple(getattr(self, field))
            for name in names:
                checks.choice(where, f"{field} entry", name, TRANSFORMS)
            object.__setattr__(self, field, names)
        missing = [n for n in self.always if n not in self.transforms]
        if missing:
            raise ValueError(f"{where}: always={list(self.always)} names transforms that are "
                             f"not enabled ({missing}); enabled: {list(self.transforms)}.")
        for field in ("translate_int_max", "scale_std", "rotate_frac_max", "aniso_std",
                      "translate_frac_std"):
            checks.positive(where, field, getattr(self, field))
        checks.probability(where, "aniso_rotate_prob", self.aniso_rotate_prob)

    @property
    def enabled(self) -> tuple[str, ...]:
        """The enabled transforms in application order."""
        return tuple(n for n in TRANSFORMS if n in self.transforms)

    @property
    def label_dim(self) -> int:
        """Length of the label vector (9 for :data:`EDM_TRANSFORMS`)."""
        return sum(LABEL_SIZES[n] for n in self.enabled)

    def probability(self, name: str) -> float:
        """Probability that transform ``name`` is applied to an image."""
        if name not in self.transforms or self.p == 0.0:
            return 0.0
        return 1.0 if name in self.always else self.p

    def label_slices(self) -> dict[str, slice]:
        """Where each enabled transform's labels sit in the label vector."""
        out, start = {}, 0
        for name in self.enabled:
            out[name] = slice(start, start + LABEL_SIZES[name])
            start += LABEL_SIZES[name]
        return out

    # -- drawing the labels --------------------------------------------------------------
    def sample_labels(self, key: jax.Array, shape: Sequence[int]) -> jax.Array:
        """Labels (B, label_dim) float32 for a batch of images of ``shape`` (B, H, W, C)."""
        return _sample_labels(self, key, tuple(int(s) for s in shape[:3]))

    def _sample_labels(self, key: jax.Array, shape: tuple[int, int, int]) -> jax.Array:
        b, h, w = shape
        parts = []
        for name, k in zip(self.enabled, jax.random.split(key, max(len(self.enabled), 1))):
            k_apply, k_draw, k_extra = jax.random.split(k, 3)
            applied = jax.random.uniform(k_apply, (b,)) < self.probability(name)
            parts.append(jnp.where(applied[:, None], self._draw(name, k_draw, k_extra, b, h, w),
                                   0.0))
        if not parts:
            return jnp.zeros((b, 0), jnp.float32)
        return jnp.concatenate(parts, axis=1).astype(jnp.float32)

    def _draw(self, name: str, key: jax.Array, extra: jax.Array, b: int, h: int,
              w: int) -> jax.Array:
        if name in ("xflip", "yflip"):
            return jax.random.bernoulli(key, 0.5, (b, 1)).astype(jnp.float32)
        if name == "rotate_int":
            k = jax.random.randint(key, (b,), 0, 4)
            return jnp.stack([(k == 1) | (k == 2), (k == 2) | (k == 3)], 1).astype(jnp.float32)
        if name == "translate_int":
            u = jax.random.uniform(key, (b, 2), minval=-1.0, maxval=1.0)
            size = jnp.array([w, h], jnp.float32) * self.translate_int_max
            return jnp.round(u * size) / size
        if name == "scale":
            return jax.random.normal(key, (b, 1))
        if name == "rotate_frac":
            angle = jax.random.uniform(key, (b,), minval=-math.pi, maxval=math.pi)
            angle = angle * self.rotate_frac_max
            return jnp.stack([jnp.cos(angle) - 1.0, jnp.sin(angle)], 1)
        if name == "aniso":
            k_w, k_r = jax.random.split(key)
            strength = jax.random.normal(k_w, (b,))
            angle = jax.random.uniform(k_r, (b,), minval=-math.pi / 2, maxval=math.pi / 2)
            angle = jnp.where(jax.random.uniform(extra, (b,)) < self.aniso_rotate_prob, angle, 0.0)
            return jnp.stack([strength * jnp.cos(angle), strength * jnp.sin(angle)], 1)
        return jax.random.normal(key, (b, 2))  # translate_frac

    # -- applying them -------------------------------------------------------------------
    def apply(self, images: jax.Array, labels: jax.Array) -> jax.Array:
        """The images transformed as ``labels`` (B, label_dim) say (all zero: unchanged)."""
        images = checks.float_batch("EDMAugment.apply", "images", images, min_ndim=4)
        if images.ndim != 4:
            raise ValueError(f"EDMAugment.apply: images must have shape (B, H, W, C), got "
                             f"shape {images.shape}.")
        b, h, w, _ = images.shape
        if labels.shape != (b, self.label_dim):
            raise ValueError(f"EDMAugment.apply: labels must have shape (B, label_dim) = "
                             f"({b}, {self.label_dim}) for transforms {list(self.enabled)}, "
                             f"got {labels.shape}.")
        if min(h, w) < 2:
            raise ValueError(f"EDMAugment.apply: images must be at least 2x2, got {h}x{w}.")
        if "rotate_int" in self.transforms and h != w:
            raise ValueError(f"EDMAugment: rotate_int needs square images, got {h}x{w}.")
        return _apply(self, images, labels)

    def _apply(self, images: jax.Array, labels: jax.Array) -> jax.Array:
        b, h, w, _ = images.shape
        lab = {n: labels[:, s] for n, s in self.label_slices().items()}
        flip = lambda x, on, axis: jnp.where(on[:, None, None, None] > 0.5,
                                             jnp.flip(x, axis), x)
        if "xflip" in lab:
            images = flip(images, lab["xflip"][:, 0], 2)
        if "yflip" in lab:
            images = flip(images, lab["yflip"][:, 0], 1)
        if "rotate_int" in lab:
            fx, fy = lab["rotate_int"][:, 0], lab["rotate_int"][:, 1]
            images = flip(flip(images, fx, 2), fy, 1)
            swap = (fx > 0.5) != (fy > 0.5)
            images = jnp.where(swap[:, None, None, None], jnp.swapaxes(images, 1, 2), images)
        if "translate_int" in lab:
            size = jnp.array([w, h], jnp.float32) * self.translate_int_max
            shift = jnp.round(lab["translate_int"] * size).astype(jnp.int32)
            rows = mirror_index(jnp.arange(h)[None, :] - shift[:, 1:2], h)   # (B, H)
            cols = mirror_index(jnp.arange(w)[None, :] - shift[:, 0:1], w)   # (B, W)
            images = jax.vmap(lambda im, r, c: im[r][:, c])(images, rows, cols)
        if any(n in lab for n in _GEOMETRIC):
            images = _warp(images, *self._affine(lab, b, h, w))
        return images

    def _affine(self, lab: dict, b: int, h: int, w: int) -> tuple[jax.Array, jax.Array]:
        """``(M, t)``: (B, 2, 2) and (B, 2) with input position ``M (p - t)``."""
        m = jnp.broadcast_to(jnp.eye(2), (b, 2, 2))
        if "scale" in lab:
            m = m * jnp.exp2(-self.scale_std * lab["scale"][:, 0])[:, None, None]
        if "rotate_frac" in lab:
            c, s = 1.0 + lab["rotate_frac"][:, 0], lab["rotate_frac"][:, 1]
            rot = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
            m = m @ rot
        if "aniso" in lab:
            a0, a1 = lab["aniso"][:, 0], lab["aniso"][:, 1]
            norm2 = a0 ** 2 + a1 ** 2
            safe = jnp.where(norm2 > 0, norm2, 1.0)
            strength = jnp.where(a0 >= 0, 1.0, -1.0) * jnp.sqrt(norm2)
            cos2, sin2 = (a0 ** 2 - a1 ** 2) / safe, 2 * a0 * a1 / safe
            kw = self.aniso_std * math.log(2.0) * strength
            ch, sh = jnp.cosh(kw), jnp.sinh(kw)
            aniso = jnp.stack([jnp.stack([ch - sh * cos2, sh * sin2], -1),
                               jnp.stack([sh * sin2, ch + sh * cos2], -1)], -2)
            m = m @ aniso
        t = jnp.zeros((b, 2))
        if "translate_frac" in lab:
            t = lab["translate_frac"] * (jnp.array([w, h], jnp.float32) * self.translate_frac_std)
        return m, t

    def __call__(self, key: jax.Array, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(augmented images, labels)`` for a batch (B, H, W, C)."""
        labels = self.sample_labels(key, jnp.shape(images))
        return self.apply(images, labels), labels


# one compiled program per pipe and shape (the pipe is a static, hashable argument); inside
# an outer jit these calls are inlined
_sample_labels = jax.jit(EDMAugment._sample_labels, static_argnums=(0, 2))
_apply = jax.jit(EDMAugment._apply, static_argnums=0)


def _warp(images: jax.Array, m: jax.Array, t: jax.Array) -> jax.Array:
    """Bilinear resampling of (B, H, W, C) images at ``q = M (p - t)`` (centred pixel
    coordinates, mirror reflection outside the image)."""
    b, h, w, _ = images.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy,
                          jnp.arange(w, dtype=jnp.float32) - cx, indexing="ij")
    px = xs[None] - t[:, 0, None, None]
    py = ys[None] - t[:, 1, None, None]
    qx = m[:, 0, 0, None, None] * px + m[:, 0, 1, None, None] * py + cx
    qy = m[:, 1, 0, None, None] * px + m[:, 1, 1, None, None] * py + cy
    x0, y0 = jnp.floor(qx), jnp.floor(qy)
    fx, fy = (qx - x0)[..., None], (qy - y0)[..., None]
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)

    def gather(im, yy, xx):
        return im[mirror_index(yy, h), mirror_index(xx, w)]

    g = jax.vmap(gather)
    top = g(images, y0, x0) * (1 - fx) + g(images, y0, x0 + 1) * fx
    bottom = g(images, y0 + 1, x0) * (1 - fx) + g(images, y0 + 1, x0 + 1) * fx
    return (top * (1 - fy) + bottom * fy).astype(images.dtype)


def augment_from_config(section) -> EDMAugment | None:
    """The pipe of a config section with ``p``, ``transforms`` and ``always`` (``None``
    when the section is missing or ``p = 0``: augmentation off)."""
    if section is None or float(section.p) == 0.0:
        return None
    return EDMAugment(p=float(section.p), transforms=tuple(section.transforms),
                      always=tuple(section.always))


__all__ = ["EDMAugment", "EDM_TRANSFORMS", "LABEL_SIZES", "TRANSFORMS",
           "augment_from_config", "mirror_index"]
