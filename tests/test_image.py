"""The value convention's conversions and the heat-map overlay."""

import numpy as np
import pytest
import torch

from netviz_tp.image import from_uint8, overlay, rescale_heat, to_numpy


def test_from_uint8_round_trips_through_to_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    x = from_uint8(images)
    assert x.shape == (2, 3, 5, 7) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    np.testing.assert_allclose(to_numpy(x) * 255, images, atol=1e-4)


def test_from_uint8_accepts_one_image_and_grayscale():
    gray = np.full((1, 4, 4, 1), 255, dtype=np.uint8)
    assert from_uint8(gray).shape == (1, 3, 4, 4)
    assert from_uint8(np.zeros((4, 4, 3), np.uint8)).shape == (1, 3, 4, 4)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.zeros((2, 4, 4, 3), np.float32), TypeError, "uint8"),
        (np.zeros((2, 3, 4, 4), np.uint8), ValueError, "[N, H, W, 3]"),
    ],
)
def test_from_uint8_rejects_bad_input(bad, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        from_uint8(bad)


def test_rescale_heat_maps_each_image_to_unit_range():
    heat = torch.stack([torch.arange(6.0).view(2, 3) * 7, torch.full((2, 3), 3.0)])
    scaled = rescale_heat(heat)
    assert scaled[0].min() == 0 and scaled[0].max() == 1
    assert torch.equal(scaled[1], torch.zeros(2, 3))  # a constant map carries no information


def test_overlay_colours_hot_pixels_and_keeps_cold_ones():
    x = torch.full((1, 3, 2, 2), 0.2)
    heat = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    out = overlay(x, heat, alpha=0.5)
    assert out.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(out[0, 0, 0], [0.2, 0.2, 0.2])  # no heat: the image itself
    np.testing.assert_allclose(out[0, 0, 1], [0.6, 0.6, 0.1])  # full heat: half yellow
    with pytest.raises(ValueError, match="alpha"):
        overlay(x, heat, alpha=2)


def test_grey_images_become_rgb_for_imshow():
    grey = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(0))
    out = to_numpy(grey)
    assert out.shape == (2, 5, 7, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    np.testing.assert_allclose(out[..., 1], grey[:, 0].numpy())
    assert overlay(grey, grey[:, 0]).shape == (2, 5, 7, 3)
