"""Image grids: exact layout and pixel values of the written PNG; to_uint8."""

import numpy as np
import pytest
from PIL import Image

from diffax.data import make_image_grid, save_image_grid, to_uint8, uint8_to_float


def test_to_uint8_inverts_the_scaling():
    v = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(uint8_to_float(v)), v)
    np.testing.assert_array_equal(to_uint8(np.array([-3.0, -1.0, 0.0, 1.0, 7.0])),
                                  [0, 0, 128, 255, 255])


def test_rgb_grid_png_has_the_expected_size_and_pixels(tmp_path):
    # 5 images of 3x4 RGB, each a constant color; 3 per row -> 2 rows, last row partly empty.
    colors = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]],
                      np.uint8)
    images = np.broadcast_to(colors[:, None, None, :], (5, 3, 4, 3))
    images = uint8_to_float(images)
    path = tmp_path / "sub" / "grid.png"
    grid = save_image_grid(images, path, nrow=3)
    png = np.asarray(Image.open(path))
    np.testing.assert_array_equal(png, grid)
    assert png.shape == (2 * (3 + 2) + 2, 3 * (4 + 2) + 2, 3) and png.dtype == np.uint8
    for i, color in enumerate(colors):
        r, c = divmod(i, 3)
        top, left = 2 + r * 5, 2 + c * 6
        np.testing.assert_array_equal(png[top:top + 3, left:left + 4],
                                      np.broadcast_to(color, (3, 4, 3)))
    # Padding and the empty sixth cell are white.
    assert np.all(png[:2] == 255) and np.all(png[:, :2] == 255)
    assert np.all(png[7:10, 14:18] == 255)


def test_grayscale_grid_png(tmp_path):
    images = np.linspace(-1, 1, 2 * 2 * 2).reshape(2, 2, 2, 1)
    path = tmp_path / "gray.png"
    save_image_grid(images, path, nrow=2, padding=1, pad_value=0)
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == (2 * 3 + 1, 1 * 3 + 1)  # (width, height)
        png = np.asarray(img)
    expected = to_uint8(images)[..., 0]
    np.testing.assert_array_equal(png[1:3, 1:3], expected[0])
    np.testing.assert_array_equal(png[1:3, 4:6], expected[1])
    assert png[0].sum() == 0 and png[:, 3].sum() == 0


def test_grid_defaults_and_errors():
    grid = make_image_grid(np.zeros((10, 4, 4, 1)), padding=0)
    assert grid.shape == (3 * 4, 4 * 4, 1)  # ceil(sqrt(10)) = 4 per row
    with pytest.raises(ValueError, match=r"C in \(1, 3\), got shape \(2, 4, 4, 2\)"):
        make_image_grid(np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="nrow must be >= 1"):
        make_image_grid(np.zeros((2, 4, 4, 1)), nrow=0)


def test_scaled_grid_is_pixel_repetition(tmp_path):
    images = np.linspace(-1, 1, 3 * 2 * 2).reshape(3, 2, 2, 1)
    plain = save_image_grid(images, tmp_path / "plain.png", nrow=3)
    scaled = save_image_grid(images, tmp_path / "x3.png", nrow=3, scale=3)
    with Image.open(tmp_path / "x3.png") as img:
        png = np.asarray(img)
    assert png.shape == (plain.shape[0] * 3, plain.shape[1] * 3)
    np.testing.assert_array_equal(png, plain[..., 0].repeat(3, 0).repeat(3, 1))
    np.testing.assert_array_equal(scaled[..., 0], png)
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        save_image_grid(images, tmp_path / "bad.png", scale=0)
