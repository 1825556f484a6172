"""The average-activation explorer, driven headlessly: each control's observers run as in a
browser, and the rendered maps, captions and errors follow."""

from __future__ import annotations

import pytest
import torch

from netviz_tp.activations import compare_activations
from netviz_tp.data import CourseData, imagenet_classes
from netviz_tp.models import tiny_cnn
from netviz_tp.widgets import activations_explorer
from netviz_tp.widgets.activations import ADVERSARIAL, BY_NAME, VIEWS

TIMEOUT = 120


def settled(ex):
    assert ex.wait(TIMEOUT), "the explorer's work did not finish in time"
    return ex


@pytest.fixture
def explorer(images):
    data = CourseData(images, torch.tensor([1, 2, 3, 4]), imagenet_classes())
    return settled(activations_explorer(models={"tiny": tiny_cnn(seed=0)}, images=data))


def test_every_control_has_a_stable_class(explorer):
    ex = explorer
    for control in (ex.mode, ex.image_dd, ex.second_dd, ex.eps, ex.adv_button, ex.classes_box,
                    ex.model_dd, ex.ord_dd, ex.layer_slider, ex.filter_slider, ex.view,
                    ex.log_box, ex.cam_class, ex.class_box, ex.image_a, ex.centre, ex.image_b,
                    ex.cam_image):  # fmt: skip
        assert any(c.startswith("nv-") for c in control._dom_classes), control
    assert "nv-activations-explorer" in ex.widget._dom_classes


def test_image_against_its_fgsm_version_by_default(explorer, images):
    ex = explorer
    assert ex.error.value == "" and ex.second_dd.value == ADVERSARIAL
    comp = ex.comparison
    assert comp.names == ["0", "3", "7"] and ex.layer_slider.max == 2
    assert comp.labels[0] == "first image" and comp.labels[1].startswith("FGSM")
    assert all(bytes(img.value).startswith(b"\x89PNG") for img in (ex.image_a, ex.centre))
    assert "filter" in ex.caption_centre.value and "(n=1)" in ex.caption_a.value


def test_layer_and_filter_sliders_follow_the_ranking(explorer):
    ex = explorer
    ex.layer_slider.value = 1
    settled(ex)
    layer = ex.comparison["3"]
    assert ex.filter_slider.max == 31
    top = int(layer.ranking[0])
    assert f"filter {top} (rank 0 of 32)" in ex.caption_centre.value
    before = bytes(ex.centre.value)
    ex.filter_slider.value = 5
    settled(ex)
    assert f"filter {int(layer.ranking[5])} (rank 5 of 32)" in ex.caption_centre.value
    assert bytes(ex.centre.value) != before


def test_each_view_draws_something_else(explorer):
    ex = explorer
    seen = set()
    for view in VIEWS:
        ex.view.value = view
        settled(ex)
        assert ex.error.value == "" and view in ex.caption_centre.value
        seen.add(bytes(ex.centre.value))
    ex.log_box.value = True
    settled(ex)
    seen.add(bytes(ex.centre.value))
    assert len(seen) == len(VIEWS) + 1


def test_second_image_and_norm_change_the_comparison(explorer, images):
    ex = explorer
    ex.second_dd.value = 2
    settled(ex)
    direct = compare_activations(ex.model(), images[:1], images[2:3])
    torch.testing.assert_close(ex.comparison["3"].delta, direct["3"].delta)
    ex.ord_dd.value = "L-inf"
    settled(ex)
    assert ex.comparison.ord == float("inf")
    ex.adv_button.click()
    settled(ex)
    assert ex.second_dd.value == ADVERSARIAL and ex.comparison.labels[1].startswith("FGSM")


def test_classes_mode_error_is_one_line_then_recovers(explorer):
    ex = explorer
    ex.mode.value = "classes"  # the tiny CNN predicts one class for all four images
    settled(ex)
    assert "at least two predicted classes" in ex.error.value
    assert "\n" not in ex.error.value
    ex.adv_button.click()
    settled(ex)
    assert ex.error.value == "" and ex.mode.value == "images"


def test_grad_cam_of_the_top_classes_and_by_name(explorer):
    ex = explorer
    assert len(ex.cam_class.options) == 6  # top-5 and "by name"
    first = bytes(ex.cam_image.value)
    ex.cam_class.value = 3
    settled(ex)
    assert bytes(ex.cam_image.value) != first
    ex.class_box.value = "no such class"
    settled(ex)
    assert ex.cam_class.value == BY_NAME and "no ImageNet class" in ex.error.value
    ex.class_box.value = "7"
    settled(ex)
    assert ex.error.value == "" and ex.cam_caption.value.endswith("7")


@pytest.mark.assets
def test_classes_mode_on_the_course_images(squeezenet, course_data):
    ex = settled(activations_explorer(models=[squeezenet], images=course_data))
    ex.mode.value = "classes"
    settled(ex)
    assert ex.error.value == "" and ex.comparison.counts == (1, 1)
    ex.classes_box.value = "hay, quail"
    settled(ex)
    assert ex.comparison.labels == ("hay", "quail") and "hay (n=1)" in ex.caption_a.value
