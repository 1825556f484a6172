"""The practical-5 explorer: kind, class and e drive the perturbed image and its prediction."""

from __future__ import annotations

import pytest
import torch

from netviz_tp.fooling import as_perturbation, fooling_curve, sign_noise
from netviz_tp.widgets import generator_explorer


def settled(ex):
    assert ex.wait(60), "the explorer did not finish in time"
    assert ex.error.value == "", ex.error.value
    return ex


def test_explorer_shows_the_perturbed_image_and_its_prediction(tiny, images):
    v = as_perturbation(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)))
    curve = fooling_curve(tiny, images, v, [3, 6], e=[1, 35], name="gen")
    ex = settled(
        generator_explorer(
            tiny, images, {"gen": (v, [3, 6]), "noise": (sign_noise(v), [3, 6])}, curves=[curve]
        )
    )
    assert ex.curves_image.value[:4] == b"\x89PNG"
    assert [label for label, _ in ex.class_dd.options] == ["3", "6"]
    ex.e_slider.value = 0
    settled(ex)
    assert "unchanged" in ex.caption.value and "x + 0·V/255" in ex.caption.value
    first = ex.output_image.value
    ex.e_slider.value = 35
    settled(ex)
    assert ex.output_image.value != first and "x + 35·V/255" in ex.caption.value
    ex.kind_dd.value = "noise"
    settled(ex)
    assert ex.v_image.value[:4] == b"\x89PNG"


def test_explorer_refuses_perturbations_it_cannot_add(tiny, images):
    with pytest.raises(ValueError, match="max"):
        generator_explorer(tiny, images, {"gen": (torch.full((1, 3, 32, 32), 3.0), [1])})
    with pytest.raises(ValueError, match="empty"):
        generator_explorer(tiny, images, {})
