"""TFDS through ``tfds.data_source`` + grain, with ``tfds.testing.mock_data`` (no
TensorFlow, no download), and the "not prepared" error on an empty data dir."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from diffax.data import DatasetNotPreparedError, get_dataset, make_pipeline  # noqa: E402


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(num_examples=24):
        yield


@pytest.mark.parametrize("name, shape", [("tfds:mnist", (28, 28, 1)),
                                         ("tfds:cifar10", (32, 32, 3)),
                                         ("tfds:fashion_mnist", (28, 28, 1))])
def test_mock_batches(mock_tfds, name, shape):
    ds = get_dataset(name, "train")
    assert ds.num_examples == 24 and ds.shape == shape and ds.num_classes == 10
    assert ds.element_spec["x"] == (shape, np.uint8)
    p = make_pipeline(ds, 8, 0, flip=True, dequantize=True)
    assert p.steps_per_epoch == 3
    labels = []
    for step in range(3):
        b = p.batch(step)
        assert b["x"].shape == (8, *shape) and b["x"].dtype == np.float32
        assert b["label"].shape == (8,) and b["label"].dtype == np.int32
        assert b["x"].min() >= -1 and b["x"].max() < 1
        labels.append(b["label"])
    labels = np.concatenate(labels)
    assert labels.min() >= 0 and labels.max() < 10


def test_mock_values_match_the_source(mock_tfds):
    """The pipeline's rows are the records of tfds.data_source, scaled to [-1, 1]."""
    source = tfds.data_source("cifar10", split="test")
    p = make_pipeline(get_dataset("tfds:cifar10", "test"), 6, 4)
    b = p.batch(1)
    for row, index in enumerate(p.indices(1)):
        record = source[int(index)]
        np.testing.assert_array_equal(b["x"][row], record["image"] / np.float32(127.5) - 1)
        assert b["label"][row] == record["label"]


def test_mock_host_sharding(mock_tfds):
    ds = get_dataset("tfds:mnist", "train")
    single = make_pipeline(ds, 8, 1, flip=True).batch(2)
    parts = [make_pipeline(ds, 8, 1, process_index=i, process_count=2, flip=True).batch(2)
             for i in range(2)]
    for key in single:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), single[key])


def test_celeb_a_center_crop_and_resize(mock_tfds):
    ds = get_dataset("tfds:celeb_a", "train")
    assert ds.shape == (64, 64, 3) and ds.num_classes is None
    b = make_pipeline(ds, 4, 0).batch(0)
    assert set(b) == {"x"} and b["x"].shape == (4, 64, 64, 3)
    small = get_dataset("tfds:celeb_a", "train", crop_size=100, image_size=16)
    assert small.shape == (16, 16, 3)
    # No resize: the decoded example is exactly the central 100 x 100 crop (218 x 178 input).
    crop_only = get_dataset("tfds:celeb_a", "train", crop_size=100, image_size=100)
    image = tfds.data_source("celeb_a", split="train")[5]["image"]
    np.testing.assert_array_equal(crop_only.get(np.array([5]))["x"][0], image[59:159, 39:139])
    with pytest.raises(ValueError, match=r"crop_size 300 exceeds the image size \(218, 178\)"):
        get_dataset("tfds:celeb_a", "train", crop_size=300)


def test_not_prepared_error_explains_how_to_prepare(tmp_path):
    with pytest.raises(DatasetNotPreparedError) as info:
        get_dataset("tfds:mnist", "train", data_dir=str(tmp_path))
    message = str(info.value)
    assert "is not prepared" in message and str(tmp_path) in message
    assert f"tfds build mnist --file_format=array_record --data_dir={tmp_path}" in message
    assert "download_and_prepare" in message and "get_dataset('fashion_mnist')" in message
    assert isinstance(info.value, FileNotFoundError)
    assert not any(tmp_path.rglob("*.array_record*"))  # nothing was downloaded


def test_unknown_tfds_name():
    with pytest.raises(ValueError, match=r"unknown data set 'tfds:imagenet'.*'tfds:cifar10'"):
        get_dataset("tfds:imagenet")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['size'\].*'image_size'"):
        get_dataset("tfds:mnist", size=32)
