"""EDM's non-leaky augmentation: each transform against an exact answer, the identity at
p = 0, the frequencies of the draws against p (binomial bound), the labels against an
independent reconstruction of EDM's transform matrices, and jit/vmap."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from diffax.data.edm_augment import (EDM_TRANSFORMS, TRANSFORMS, EDMAugment,
                                     augment_from_config, mirror_index)

ALL = EDMAugment(p=1.0, transforms=TRANSFORMS, always=())


def _labels(pipe, **values):
    """A (1, label_dim) label vector with the given transforms' labels."""
    lab = np.zeros((1, pipe.label_dim), np.float32)
    for name, v in values.items():
        lab[0, pipe.label_slices()[name]] = v
    return lab


def _grid(h=8, w=8, c=1):
    return np.arange(h * w * c, dtype=np.float32).reshape(1, h, w, c)


def test_label_layout_is_edms():
    pipe = EDMAugment(p=0.12)
    assert pipe.label_dim == 9 and pipe.enabled == EDM_TRANSFORMS
    assert ALL.label_dim == 13
    assert pipe.probability("xflip") == 1.0 and pipe.probability("yflip") == 0.12
    assert pipe.probability("rotate_int") == 0.0 and EDMAugment(p=0).probability("xflip") == 0


def test_flips_and_quarter_turns_are_exact():
    img = _grid(6, 6, 2)
    out = lambda **v: np.asarray(ALL.apply(img, _labels(ALL, **v)))
    np.testing.assert_array_equal(out(xflip=1), img[:, :, ::-1])
    np.testing.assert_array_equal(out(yflip=1), img[:, ::-1])
    # quarter turns k = 0..3 are labelled (k in {1,2}, k in {2,3})
    turns = {(0, 0): 0, (1, 0): 1, (1, 1): 2, (0, 1): 3}
    got = {k: out(rotate_int=list(lab)) for lab, k in turns.items()}
    np.testing.assert_array_equal(got[2], img[:, ::-1, ::-1])
    np.testing.assert_array_equal(got[1], np.rot90(img, 1, axes=(1, 2)))
    np.testing.assert_array_equal(got[3], np.rot90(img, 3, axes=(1, 2)))


def test_integer_translation_reflects_at_the_border():
    img = _grid(8, 8)
    # W = 8, translate_int_max = 1/8: labels are shifts in pixels, here (+2, -1)
    out = np.asarray(ALL.apply(img, _labels(ALL, translate_int=[2, -1])))[0, ..., 0]
    rows = [1, 2, 3, 4, 5, 6, 7, 6]          # out row i = in row mirror(i + 1)
    cols = [2, 1, 0, 1, 2, 3, 4, 5]          # out col j = in col mirror(j - 2)
    np.testing.assert_array_equal(out, img[0, ..., 0][np.ix_(rows, cols)])
    np.testing.assert_array_equal(mirror_index(jnp.arange(-3, 12), 5),
                                  [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3])


def test_fractional_transforms_on_a_grid():
    img = _grid(16, 16)
    apply = lambda **v: np.asarray(ALL.apply(img, _labels(ALL, **v)))
    # a quarter turn by rotate_frac equals the exact one (cos(pi/2) is 4e-8 in float32)
    w = math.pi / 2
    np.testing.assert_allclose(apply(rotate_frac=[math.cos(w) - 1, math.sin(w)]),
                               np.rot90(img, 1, axes=(1, 2)), atol=1e-3)
    # a fractional translation by whole pixels (w W / 8 = 2 px right, 4 px up) is the
    # blit shift (labels: pixels / (W / 8))
    np.testing.assert_allclose(apply(translate_frac=[1.0, -2.0]),
                               apply(translate_int=[1.0, -2.0]), atol=1e-4)
    assert not np.allclose(apply(translate_int=[1.0, -2.0]), img)
    # zooming or stretching a constant image leaves it constant
    const = np.full((1, 16, 16, 3), 0.37, np.float32)
    for v in (dict(scale=[1.7]), dict(aniso=[-0.8, 1.1]), dict(scale=[-2.0])):
        np.testing.assert_allclose(ALL.apply(const, _labels(ALL, **v)), const, atol=1e-6)


def _edm_inverse_matrix(labels, pipe, h, w):
    """EDM's G_inv built independently (training/augment.py order and conventions) from
    labels decoded into the drawn parameters."""
    def rot(a):
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    def scl(sx, sy):
        return np.diag([sx, sy, 1.0])

    lab = {n: labels[s] for n, s in pipe.label_slices().items()}
    g = np.eye(3)
    s = 2.0 ** (pipe.scale_std * lab["scale"][0])
    g = g @ scl(1 / s, 1 / s)
    angle = np.arctan2(lab["rotate_frac"][1], lab["rotate_frac"][0] + 1)
    g = g @ rot(angle)                           # rotate2d_inv(-w)
    a0, a1 = lab["aniso"]
    strength, r = (np.sign(a0) * np.hypot(a0, a1), np.arctan(a1 / a0)) if a0 else (a1, math.pi / 2)
    s = 2.0 ** (pipe.aniso_std * strength)
    g = g @ rot(-r) @ scl(1 / s, s) @ rot(r)     # rotate2d_inv(r) scale2d_inv(s, 1/s) ...
    tx, ty = lab["translate_frac"] * np.array([w, h]) * pipe.translate_frac_std
    g = g @ np.array([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]])
    return g


def test_labels_encode_the_transform():
    """Drawn labels, decoded into EDM's parameters and EDM's matrices, resampled by scipy
    (bilinear, mirror), reproduce the pipeline's images."""
    pipe = EDMAugment(p=1.0, transforms=("scale", "rotate_frac", "aniso", "translate_frac"),
                      always=(), aniso_rotate_prob=1.0)
    h, w = 12, 10
    images = np.asarray(jax.random.normal(jax.random.key(3), (6, h, w, 2)))
    out, labels = pipe(jax.random.key(4), images)
    out, labels = np.asarray(out), np.asarray(labels)
    assert np.all(labels != 0)
    ys, xs = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    p = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])
    for b in range(len(images)):
        q = _edm_inverse_matrix(labels[b], pipe, h, w) @ p
        coords = [q[1] + (h - 1) / 2, q[0] + (w - 1) / 2]
        for c in range(2):
            ref = ndimage.map_coordinates(images[b, ..., c].astype(np.float64), coords,
                                          order=1, mode="mirror").reshape(h, w)
            np.testing.assert_allclose(out[b, ..., c], ref, atol=2e-5)
    # reapplying from the labels alone reproduces the augmented images
    np.testing.assert_array_equal(pipe.apply(images, labels), out)


def test_p_zero_is_the_identity_with_zero_labels():
    images = jax.random.normal(jax.random.key(0), (8, 8, 8, 3))
    out, labels = EDMAugment(p=0.0, transforms=TRANSFORMS)(jax.random.key(1), images)
    assert labels.shape == (8, 13)
    np.testing.assert_array_equal(labels, 0)
    np.testing.assert_array_equal(out, images)
    assert augment_from_config(None) is None


def test_frequencies_match_p(p=0.3):
    """Fraction of images with non-zero labels per transform vs its exact probability;
    5 binomial standard deviations."""
    n = 20_000
    pipe = EDMAugment(p=p, transforms=TRANSFORMS, always=("xflip",))
    labels = np.asarray(pipe.sample_labels(jax.random.key(7), (n, 8, 8, 1)))
    # when applied: a flip mirrors half of the time, a quarter turn is not 0 three times
    # in four, an integer shift of round(u * 8 / 8) is not 0 unless |u_x|, |u_y| <= 1/2
    nonzero_given_applied = {"xflip": 0.5, "yflip": 0.5, "rotate_int": 0.75,
                             "translate_int": 0.75}
    for name, sl in pipe.label_slices().items():
        q = pipe.probability(name) * nonzero_given_applied.get(name, 1.0)
        freq = np.mean(np.any(labels[:, sl] != 0, axis=1))
        assert abs(freq - q) < 5 * math.sqrt(q * (1 - q) / n), (name, freq, q)


def test_jit_and_vmap():
    pipe = EDMAugment(p=0.5)
    images = jax.random.normal(jax.random.key(0), (4, 6, 6, 1))
    keys = jax.random.split(jax.random.key(1), 2)
    out, labels = jax.jit(pipe)(keys[0], images)
    ref_out, ref_labels = pipe(keys[0], images)
    np.testing.assert_allclose(out, ref_out, atol=1e-6)
    np.testing.assert_array_equal(labels, ref_labels)
    outs, labs = jax.vmap(pipe, in_axes=(0, None))(keys, images)
    assert outs.shape == (2, 4, 6, 6, 1) and labs.shape == (2, 4, 9)
    np.testing.assert_allclose(outs[0], ref_out, atol=1e-6)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="unknown transforms entry 'shear'"):
        EDMAugment(p=0.1, transforms=("xflip", "shear"))
    with pytest.raises(ValueError, match="p must be"):
        EDMAugment(p=1.5)
    with pytest.raises(ValueError, match="always=.*not enabled"):
        EDMAugment(p=0.1, transforms=("yflip",), always=("xflip",))
    pipe = EDMAugment(p=0.1)
    with pytest.raises(ValueError, match=r"labels must have shape .* \(2, 9\)"):
        pipe.apply(jnp.zeros((2, 8, 8, 1)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="square images"):
        EDMAugment(p=0.1, transforms=("rotate_int",), always=()).apply(
            jnp.zeros((1, 8, 6, 1)), jnp.zeros((1, 2)))
