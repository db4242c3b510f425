"""IDX reader: exact round trips of hand-written files, clear errors, the real
Fashion-MNIST files of the Debian package ``dataset-fashion-mnist``."""

import gzip
import os
import struct

import numpy as np
import pytest

from diffax.data import get_dataset, load_fashion_mnist, parse_idx, read_idx
from diffax.data.fashion_mnist import DEFAULT_DIR, load_fashion_mnist_arrays


def _idx_bytes(code: int, shape, payload: bytes) -> bytes:
    """An IDX file written by hand (big-endian header), independent of the reader."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def _write(path, data: bytes, compress: bool = True) -> str:
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)
    return str(path)


def test_reads_uint8_images_exactly(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7
    path = _write(tmp_path / "imgs-idx3-ubyte.gz", _idx_bytes(0x08, (2, 3, 4), images.tobytes()))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)
    assert out[1, 2, 3] == (23 * 7) % 256


def test_a_file_read_again_is_a_fresh_copy_and_a_rewritten_file_is_parsed_again(tmp_path):
    path = _write(tmp_path / "a-idx1-ubyte.gz", _idx_bytes(0x08, (3,), bytes([1, 2, 3])))
    first = read_idx(path)
    first[0] = 99                   # the caller's array: the next read does not see it
    np.testing.assert_array_equal(read_idx(path), [1, 2, 3])
    assert not np.shares_memory(read_idx(path), read_idx(path))
    _write(path, _idx_bytes(0x08, (4,), bytes([5, 6, 7, 8])))   # another size
    np.testing.assert_array_equal(read_idx(path), [5, 6, 7, 8])
    plain = str(tmp_path / "b-idx1-ubyte")
    for mtime, values in ((1_000_000_000, [1, 2]), (2_000_000_000, [3, 4])):  # same size
        _write(plain, _idx_bytes(0x08, (2,), bytes(values)), compress=False)
        os.utime(plain, ns=(mtime, mtime))
        np.testing.assert_array_equal(read_idx(plain), values)


def test_reads_uncompressed_labels_and_big_endian_types(tmp_path):
    labels = bytes([9, 0, 3, 255])
    out = read_idx(_write(tmp_path / "labels", _idx_bytes(0x08, (4,), labels), compress=False))
    np.testing.assert_array_equal(out, [9, 0, 3, 255])
    ints = struct.pack(">3i", -5, 70000, 1)
    out = read_idx(_write(tmp_path / "ints.gz", _idx_bytes(0x0C, (3,), ints)))
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [-5, 70000, 1])
    floats = struct.pack(">2d", 0.25, -3.5)
    np.testing.assert_array_equal(parse_idx(_idx_bytes(0x0E, (2, 1), floats)), [[0.25], [-3.5]])


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", r"bad magic number 0x01000801"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", r"unknown element type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", r"truncated inside its header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", r"declares shape \(5,\).*holds 2 bytes"),
    (b"\x00\x00", r"too short"),
])
def test_bad_files_raise_clear_errors(tmp_path, data, match):
    path = _write(tmp_path / "bad.gz", data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert "bad.gz" in str(info.value)


def test_missing_and_truncated_gzip(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")
    full = gzip.compress(_idx_bytes(0x08, (100,), bytes(100)))
    path = tmp_path / "cut.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_fashion_mnist_from_a_custom_dir(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    _write(tmp_path / "t10k-images-idx3-ubyte.gz", _idx_bytes(0x08, (5, 28, 28), images.tobytes()))
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx_bytes(0x08, (5,), labels.tobytes()), False)
    ds = get_dataset("fashion_mnist", "test", data_dir=str(tmp_path))
    assert ds.num_examples == 5 and ds.shape == (28, 28, 1) and ds.num_classes == 10
    np.testing.assert_array_equal(ds.x[..., 0], images)
    np.testing.assert_array_equal(ds.label, labels)
    assert ds.label.dtype == np.int32
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_fashion_mnist("train", data_dir=str(tmp_path))


def test_fashion_mnist_inconsistent_files(tmp_path):
    _write(tmp_path / "t10k-images-idx3-ubyte.gz", _idx_bytes(0x08, (2, 28, 28), bytes(2 * 784)))
    _write(tmp_path / "t10k-labels-idx1-ubyte.gz", _idx_bytes(0x08, (3,), bytes(3)))
    with pytest.raises(ValueError, match="2 images but .* 3 labels"):
        load_fashion_mnist_arrays("test", str(tmp_path))
    _write(tmp_path / "t10k-images-idx3-ubyte.gz", _idx_bytes(0x08, (3, 27, 28), bytes(3 * 756)))
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        load_fashion_mnist_arrays("test", str(tmp_path))


def test_fashion_mnist_missing_dir_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"sudo apt-get install dataset-fashion-mnist.*data_dir"):
        load_fashion_mnist("train", data_dir=str(tmp_path / "absent"))
    with pytest.raises(ValueError, match=r"unknown split 'val'.*\['test', 'train'\]"):
        load_fashion_mnist("val")


@pytest.mark.skipif(not os.path.isdir(DEFAULT_DIR),
                    reason="needs the Debian package dataset-fashion-mnist")
def test_real_fashion_mnist():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert (train.num_examples, test.num_examples) == (60000, 10000)
    assert train.x.shape == (60000, 28, 28, 1) and train.x.dtype == np.uint8
    # Balanced classes 0..9; mean pixel values of the published files.
    np.testing.assert_array_equal(np.bincount(train.label), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(test.label), np.full(10, 1000))
    assert train.x.mean(dtype=np.float64) == pytest.approx(72.94035, abs=1e-4)
    assert test.x.mean(dtype=np.float64) == pytest.approx(73.14657, abs=1e-4)
    assert train.label[0] == 9 and test.label[0] == 9  # both start with an ankle boot
