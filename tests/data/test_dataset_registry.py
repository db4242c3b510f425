"""get_dataset: names, options, splits, the digits set, preprocessing helpers."""

import os

import numpy as np
import pytest

from diffax.data import (DATASETS, ArrayDataset, augment_images, center_crop, dataset_names,
                         dataset_options, get_dataset, make_pipeline, resize)
from diffax.data.digits import digits_to_uint8
from diffax.data.fashion_mnist import DEFAULT_DIR


def test_names_and_unknown_name():
    names = dataset_names()
    for name in ("fashion_mnist", "digits", "moons", "rings", "swiss_roll", "checkerboard",
                 "8gaussians", "gmm2d", "tfds:mnist", "tfds:cifar10", "tfds:celeb_a",
                 "tfds:fashion_mnist"):
        assert name in names
    with pytest.raises(ValueError, match=r"unknown data set 'cifar10' \(did you mean "
                                         r"'tfds:cifar10'\?\); valid choices: .*'digits'"):
        get_dataset("cifar10")
    with pytest.raises(ValueError, match=r"data set 'digits': unknown option\(s\) \['data_dir'\]; "
                                         r"valid options: \[\]"):
        get_dataset("digits", data_dir="/tmp")
    assert list(DATASETS) == names and DATASETS.family("moons") is None
    assert dataset_options("fashion_mnist") == ("data_dir",)
    assert dataset_options("tfds:mnist") == ("data_dir", "crop_size", "image_size")
    assert "noise" in dataset_options("moons")


def test_digits():
    train, test, every = (get_dataset("digits", s) for s in ("train", "test", "all"))
    assert (train.num_examples, test.num_examples, every.num_examples) == (1500, 297, 1797)
    assert train.shape == (8, 8, 1) and train.x.dtype == np.uint8 and train.num_classes == 10
    np.testing.assert_array_equal(np.concatenate([train.x, test.x]), every.x)
    assert every.x.max() == 255 and every.x.min() == 0
    from sklearn.datasets import load_digits

    raw = load_digits()
    np.testing.assert_array_equal(every.x[..., 0], np.round(raw.images * 255 / 16))
    np.testing.assert_array_equal(every.label, raw.target)
    np.testing.assert_array_equal(digits_to_uint8([0, 1, 8, 16]), [0, 16, 128, 255])
    with pytest.raises(ValueError, match=r"unknown split 'validation'"):
        get_dataset("digits", "validation")
    b = make_pipeline(train, 100, 0, flip=True).batch(0)
    assert b["x"].shape == (100, 8, 8, 1) and b["label"].max() < 10


@pytest.mark.skipif(not os.path.isdir(DEFAULT_DIR),
                    reason="needs the Debian package dataset-fashion-mnist")
def test_fashion_mnist_pipeline_and_spec():
    ds = get_dataset("fashion_mnist", "test")
    assert ds.element_spec["x"] == ((28, 28, 1), np.uint8)
    assert ds.element_spec["label"] == ((), np.int32)
    p = make_pipeline(ds, 1000, 0)
    assert p.steps_per_epoch == 10
    x = np.concatenate([p.batch(s)["x"] for s in range(10)])
    # One epoch is the whole test set: the mean pixel is the set's (73.1466 / 255 scaled).
    assert (x.astype(np.float64).mean() + 1) * 127.5 == pytest.approx(73.14657, abs=1e-3)


def test_array_dataset_validation():
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\)"):
        ArrayDataset("bad", "train", np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ArrayDataset("bad", "train", np.zeros((2, 2), np.float32), np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="both label and num_classes"):
        ArrayDataset("bad", "train", np.zeros((2, 2), np.float32), np.array([0, 1]))


def test_crop_resize_and_augment_helpers():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    np.testing.assert_array_equal(center_crop(image, 4), image[1:5, 2:6])
    np.testing.assert_array_equal(center_crop(image, (3, 5)), image[1:4, 1:6])
    with pytest.raises(ValueError, match="must be positive and fit"):
        center_crop(image, 7)
    flat = np.full((16, 16, 1), 77, np.uint8)
    out = resize(flat, 4)
    assert out.shape == (4, 4, 1) and np.all(out == 77)
    assert resize(image, (6, 8)) is image
    with pytest.raises(ValueError, match="expected uint8 images"):
        augment_images(np.zeros((2, 4, 4, 1)), seed=0, step=0, rows=np.arange(2))
