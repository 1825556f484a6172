"""The explorers, driven headlessly: set each control's value (its observers run, as in a
browser) and check that the rendered outputs change as they should."""

from __future__ import annotations

import dataclasses
import io
import re
import threading
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from netviz_tp.attacks import ATTACKS
from netviz_tp.data import CourseData, imagenet_classes
from netviz_tp.featviz import PRESETS, VisSettings
from netviz_tp.models import WeightsUnavailableError, tiny_cnn, top_k
from netviz_tp.saliency import ATTRIBUTIONS
from netviz_tp.widgets import adversarial_explorer, class_vis_explorer, saliency_explorer
from netviz_tp.widgets.common import Cancelled, Watched, Worker, one_line
from netviz_tp.widgets.featviz import SLIDERS
from netviz_tp.widgets.pickers import resolve_class

TIMEOUT = 120


def settled(ex):
    assert ex.wait(TIMEOUT), "the explorer's work did not finish in time"
    return ex


def png_ok(data: bytes) -> bool:
    return bytes(data).startswith(b"\x89PNG")


def classes(widget) -> list[str]:
    return list(widget._dom_classes)


@pytest.fixture
def two_tiny():
    return {"tiny a": tiny_cnn(seed=0), "tiny b": tiny_cnn(seed=1)}


@pytest.fixture
def labelled(images):
    """The four random images as a course dataset with labels 1, 2, 3, 4."""
    return CourseData(images, torch.tensor([1, 2, 3, 4]), imagenet_classes())


@pytest.fixture
def course3(course_data):
    return CourseData(course_data.x[:3], course_data.y[:3], course_data.class_names)


# ---- shared machinery ----------------------------------------------------------------------


def test_worker_runs_only_the_latest_request_and_marks_the_running_one_stale():
    worker, release, ran, seen_stale = Worker(), threading.Event(), [], []
    started = threading.Event()

    def first(token):
        started.set()
        release.wait(TIMEOUT)
        ran.append(1)
        seen_stale.append(token.stale)

    worker.submit(first)
    assert started.wait(TIMEOUT)
    worker.submit(lambda token: ran.append(2))  # replaced by the third before it starts
    worker.submit(lambda token: ran.append(3))
    release.set()
    assert worker.wait(TIMEOUT)
    assert ran == [1, 3] and seen_stale == [True]


def test_watched_model_counts_forwards_and_stops_once_stale(tiny, images):
    worker, tokens, calls = Worker(), [], []
    worker.submit(tokens.append)
    assert worker.wait(TIMEOUT)
    watched = Watched(tiny, tokens[0], lambda: calls.append(1))
    assert torch.equal(watched(images), tiny(images)) and calls == [1]
    assert watched.num_classes == tiny.num_classes
    worker.submit(tokens.append)  # a newer request: the first token goes stale
    assert worker.wait(TIMEOUT)
    with pytest.raises(Cancelled):
        watched(images)


def test_one_line_keeps_the_first_line_of_an_error():
    assert one_line(ValueError("bad value\n  Traceback...")) == "ValueError: bad value"
    assert one_line(KeyError("no class 'x'")) == "KeyError: no class 'x'"


@pytest.mark.parametrize("make", [saliency_explorer, adversarial_explorer, class_vis_explorer])
def test_every_control_has_a_stable_class_and_sits_in_the_widget(make, two_tiny, labelled):
    ex = settled(make(models=two_tiny, images=labelled))
    names = ["model_dd", "image_dd", "upload", "class_box", "status", "error", "progress"]
    names += ["output_image"] + [n for n in vars(ex) if n.endswith(("_dd", "_slider", "_button"))]

    def descendants(w):
        yield w
        for child in getattr(w, "children", ()):
            yield from descendants(child)

    inside = {id(w) for w in descendants(ex.widget)}
    for name in names:
        widget = getattr(ex, name)
        assert any(c.startswith("nv-") for c in classes(widget)), name
        assert id(widget) in inside, name
    assert "nv-error" in classes(ex.error)


# ---- saliency explorer ---------------------------------------------------------------------


def test_saliency_shows_map_overlay_and_top5(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    assert ex.error.value == ""
    for image in (ex.input_image, ex.output_image, ex.overlay_image):
        assert png_ok(image.value)
    assert ex.top5.value.count("<li>") == 5
    assert ex.progress.bar_style == "success"


def test_each_method_draws_its_own_map(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    maps = {}
    for method in ATTRIBUTIONS:
        ex.method_dd.value = method
        settled(ex)
        assert ex.error.value == "", ex.error.value
        assert method in ex.map_caption.value
        maps[method] = bytes(ex.output_image.value)
    assert len(set(maps.values())) == len(ATTRIBUTIONS)


def test_the_method_knobs_are_sliders_that_change_the_map(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    sliders = ex.knobs.sliders
    assert set(sliders) == {"samples", "noise", "steps"}
    assert all(s.disabled for s in sliders.values())  # vanilla has no knob
    ex.method_dd.value = "smoothgrad"
    settled(ex)
    assert not sliders["samples"].disabled and not sliders["noise"].disabled
    assert sliders["steps"].disabled and sliders["samples"].value == 25  # smoothgrad's default
    before = bytes(ex.output_image.value)
    sliders["samples"].value = 3
    settled(ex)
    assert ex.error.value == "" and bytes(ex.output_image.value) != before
    ex.method_dd.value = "integrated_gradients"
    settled(ex)
    assert not sliders["steps"].disabled and sliders["samples"].disabled


def test_model_change_changes_map_and_top5(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    before = bytes(ex.output_image.value), ex.top5.value
    ex.model_dd.value = "tiny b"
    settled(ex)
    assert bytes(ex.output_image.value) != before[0] and ex.top5.value != before[1]


def test_image_change_changes_input_map_and_top5(squeezenet, course3):
    ex = settled(saliency_explorer(models={"sq": squeezenet}, images=course3))
    before = bytes(ex.input_image.value), bytes(ex.output_image.value), ex.top5.value
    ex.image_dd.value = 1
    settled(ex)
    after = bytes(ex.input_image.value), bytes(ex.output_image.value), ex.top5.value
    assert all(a != b for a, b in zip(after, before, strict=True))
    _, idx = top_k(squeezenet, course3.x[1:2])
    assert imagenet_classes()[int(idx[0, 0])].split(",")[0] in ex.top5.value


def test_target_modes_explain_true_predicted_and_named_classes(squeezenet, course_data):
    _, idx = top_k(squeezenet, course_data.x, k=1)
    wrong = next(i for i in range(len(idx)) if idx[i, 0] != course_data.y[i])
    data = CourseData(course_data.x[wrong : wrong + 1], course_data.y[wrong : wrong + 1],
                      course_data.class_names)  # fmt: skip
    name = lambda i: course_data.class_names[int(i)].split(",")[0]  # noqa: E731
    ex = settled(saliency_explorer(models={"sq": squeezenet}, images=data))
    maps = {}
    for mode, expected in [("true class", data.y[0]), ("predicted class", idx[wrong, 0])]:
        ex.target_mode.value = mode
        settled(ex)
        assert name(expected) in ex.map_caption.value
        maps[mode] = bytes(ex.output_image.value)
    ex.class_box.value = "goldfish"  # typing a name switches to "class by name"
    settled(ex)
    assert ex.target_mode.value == "class by name" and "goldfish" in ex.map_caption.value
    maps["goldfish"] = bytes(ex.output_image.value)
    assert len(set(maps.values())) == 3


def test_invalid_class_name_shows_an_error_then_recovers(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    shown = bytes(ex.output_image.value)
    ex.class_box.value = "zzzz"
    settled(ex)
    assert "zzzz" in ex.error.value and "Traceback" not in ex.error.value
    assert ex.error.layout.display != "none" and ex.progress.bar_style == "danger"
    assert bytes(ex.output_image.value) == shown  # the last good map stays
    ex.class_box.value = "7"
    settled(ex)
    assert ex.error.value == "" and ex.error.layout.display == "none"
    assert bytes(ex.output_image.value) != shown


def test_unavailable_weights_show_their_message(monkeypatch, two_tiny, labelled):
    def offline(name, *args, **kwargs):
        raise WeightsUnavailableError(f"no ImageNet weights for {name!r}: offline\nmore text")

    monkeypatch.setattr("netviz_tp.models.load_model", offline)
    ex = settled(saliency_explorer(models=[two_tiny["tiny a"], "vgg16"], images=labelled))
    ex.model_dd.value = "vgg16"
    settled(ex)
    assert ex.error.value.count("WeightsUnavailableError: no ImageNet weights for") == 1
    assert "more text" not in ex.error.value
    ex.model_dd.value = "tiny_cnn"
    settled(ex)
    assert ex.error.value == ""


def test_upload_adds_the_image_and_selects_it(two_tiny, labelled):
    ex = settled(saliency_explorer(models=two_tiny, images=labelled))
    before = bytes(ex.input_image.value)
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), (200, 30, 30), np.uint8)).save(buffer, "png")
    content = buffer.getvalue()
    upload = {"name": "red.png", "type": "image/png", "size": len(content)}
    upload |= {"last_modified": datetime.now(timezone.utc), "content": memoryview(content)}
    ex.upload.value = (upload,)
    settled(ex)
    assert ex.image_dd.label == "upload: red.png"
    assert bytes(ex.input_image.value) != before and ex.error.value == ""
    shown = np.asarray(Image.open(io.BytesIO(bytes(ex.input_image.value))))
    assert shown.shape == (224, 224, 3) and (shown[112, 112] == (200, 30, 30)).all()


# ---- adversarial explorer ------------------------------------------------------------------


def _size(text: str) -> float:
    return float(re.search(r"L&infin; ([\d.]+)/255", text).group(1))


def test_attack_reports_success_iterations_and_size(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    text = ex.result.value
    assert ex.error.value == "" and "<b>success</b>" in text and "stingray" in text
    assert re.search(r"after \d+ iterations", text) and _size(text) > 0 and "L2 " in text
    assert "stingray" in ex.after_caption.value
    for image in (ex.input_image, ex.output_image, ex.perturbation_image):
        assert png_ok(image.value)


def test_sliders_follow_the_method(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    enabled = {}
    for method in ATTACKS:
        ex.method_dd.value = method
        settled(ex)
        enabled[method] = {
            s: not getattr(ex, f"{s}_slider").disabled for s in ("lr", "eps", "steps")
        }
    assert enabled["fooling"] == {"lr": True, "eps": False, "steps": True}
    assert enabled["fgsm"] == {"lr": False, "eps": True, "steps": False}
    assert enabled["pgd"] == {"lr": False, "eps": True, "steps": True}


def test_eps_sets_the_fgsm_perturbation_size(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    ex.method_dd.value = "fgsm"
    for eps in (2.0, 5.0):
        ex.eps_slider.value = eps
        settled(ex)
        assert _size(ex.result.value) == pytest.approx(eps, abs=0.01)


def test_steps_and_lr_change_the_course_attack(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    iterations = lambda: int(re.search(r"after (\d+) iterations", ex.result.value).group(1))  # noqa: E731
    used = iterations()
    ex.steps_slider.value = 2
    settled(ex)
    assert iterations() == 2 and "<b>failure</b>" in ex.result.value
    ex.steps_slider.value = 200
    ex.lr_slider.value = 1.0
    settled(ex)
    assert "<b>success</b>" in ex.result.value and iterations() < used


def test_target_and_image_controls_change_the_result(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    shown = bytes(ex.output_image.value)
    ex.class_box.value = "goldfish"
    settled(ex)
    assert "target goldfish" in ex.result.value and bytes(ex.output_image.value) != shown
    before = bytes(ex.input_image.value)
    ex.image_dd.value = 2
    settled(ex)
    assert bytes(ex.input_image.value) != before


def test_target_already_predicted_is_a_one_line_error(squeezenet, course3):
    ex = settled(adversarial_explorer(models={"sq": squeezenet}, images=course3))
    ex.method_dd.value = "pgd"
    ex.class_box.value = str(int(course3.y[0]))  # hay, which SqueezeNet predicts
    settled(ex)
    assert "ValueError: the target is already the model&#x27;s prediction" in ex.error.value


def test_a_new_request_cancels_a_running_attack(two_tiny, labelled):
    ex = settled(adversarial_explorer(models=two_tiny, images=labelled, target="3"))
    results = []
    ex.result.observe(lambda change: results.append(change["new"]), "value")

    def retarget(change):  # at the running attack's first forward pass, on the worker
        if change["new"] > 0 and ex.class_box.value == "3":
            ex.class_box.value = "5"

    ex.progress.observe(retarget, "value")
    ex.lr_slider.value = 0.05  # starts an attack on class 3, replaced by one on class 5
    settled(ex)
    assert len(results) == 1 and "target 5" in results[0] and ex.error.value == ""


def test_invalid_target_name_shows_an_error(two_tiny, labelled):
    ex = settled(adversarial_explorer(models=two_tiny, images=labelled, target="3"))
    ex.class_box.value = "not a class"
    settled(ex)
    assert "not a class" in ex.error.value


# ---- class-visualisation explorer ----------------------------------------------------------


def _small(ex, steps=3):
    ex.steps_slider.value = steps
    ex.jitter_slider.value = 2
    return ex


def test_presets_fill_the_sliders(two_tiny, labelled):
    ex = class_vis_explorer(models=two_tiny, images=labelled, target="3")
    assert set(SLIDERS) <= {f.name for f in dataclasses.fields(VisSettings)}
    for name, preset in PRESETS.items():
        ex.preset_dd.value = name
        got = (ex.lr_slider.value, ex.l2_slider.value, ex.blur_slider.value,
               ex.jitter_slider.value, ex.steps_slider.value)  # fmt: skip
        want = (preset.lr, preset.l2, preset.blur_every, preset.jitter, preset.steps)
        assert got == pytest.approx(want)
        settings = ex.settings()
        assert (settings.space, settings.blur_sigma) == (preset.space, preset.blur_sigma)


def test_each_finished_run_adds_one_tile_to_the_gallery(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"))
    frames = []
    ex.output_image.observe(lambda change: frames.append(change["new"]), "value")
    ex.run_button.click()
    settled(ex)
    assert ex.runs == 1 and len(ex.gallery.children) == 1 and ex.error.value == ""
    assert len(frames) >= 2 and png_ok(frames[-1])  # a live frame, then the result
    ex.lr_slider.value = 0.05
    ex.model_dd.value = "tiny b"
    ex.run_button.click()
    settled(ex)
    assert len(ex.gallery.children) == 2
    caption = ex.gallery.children[1].children[1].value
    assert "lr 0.05" in caption and "tiny_cnn" in caption and "3/3 steps" in caption
    ex.clear_button.click()
    assert ex.gallery.children == () and ex.runs == 0


def test_stop_halts_a_run_early(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"), steps=400)

    def press_stop(change):  # pressed from the worker thread, at step 3, deterministically
        if change["new"] == 3:
            ex.stop_button.click()

    ex.progress.observe(press_stop, "value")
    ex.run_button.click()
    settled(ex)
    assert ex.runs == 1 and "stopped at step 3" in ex.caption.value
    assert "3/400 steps" in ex.gallery.children[0].children[1].value


def test_a_new_run_cancels_the_stale_one(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"), steps=400)

    def restart(change):
        if change["new"] == 3 and ex.steps_slider.value == 400:
            ex.steps_slider.value = 5
            ex.run_button.click()

    ex.progress.observe(restart, "value")
    ex.run_button.click()
    settled(ex)
    assert ex.runs == 1  # only the second run reached the gallery
    assert "5/5 steps" in ex.gallery.children[0].children[1].value


def test_starting_from_an_image_aims_at_its_class(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"))
    assert ex.image_dd.value == "noise"
    ex.image_dd.value = 1  # the second image, labelled 2
    assert ex.class_box.value == "2"
    ex.run_button.click()
    settled(ex)
    assert "from 1: great white shark" in ex.gallery.children[0].children[1].value


def test_class_vis_invalid_class_is_an_error_not_a_run(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"))
    ex.class_box.value = "zzzz"
    ex.run_button.click()
    settled(ex)
    assert "zzzz" in ex.error.value and ex.runs == 0


def test_a_sweep_adds_one_tile_per_value_run_as_one_batch(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"))
    ex.sweep_dd.value = "steps"
    assert ex.sweep_values.value == "1, 3, 9"  # around the slider's 3 steps
    ex.sweep_dd.value = "lr"
    ex.sweep_values.value = "0.05, 0.3, 2"
    sizes = []
    net = ex.model().net
    hook = net.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    try:
        ex.sweep_button.click()
        settled(ex)
    finally:
        hook.remove()
    assert ex.error.value == "" and ex.runs == 3
    assert sizes.count(3) == 3 and max(sizes) == 3  # 3 steps, one batch of 3 images
    captions = [card.children[1].value for card in ex.gallery.children]
    for caption, lr in zip(captions, ["0.05", "0.3", "2"], strict=True):
        assert f"lr {lr}," in caption and "3/3 steps" in caption
    assert "lr = 0.05, 0.3, 2" in ex.status.value and ex.progress.value == 9
    ex.sweep_values.value = "0.1, fast"
    ex.sweep_button.click()
    settled(ex)
    assert "numbers separated by commas" in ex.error.value and ex.runs == 3


def test_stop_halts_a_sweep(two_tiny, labelled):
    ex = _small(class_vis_explorer(models=two_tiny, images=labelled, target="3"), steps=400)
    ex.sweep_values.value = "0.1, 1"

    def press_stop(change):
        if change["new"] >= 4:
            ex.stop_button.click()

    ex.progress.observe(press_stop, "value")
    ex.sweep_button.click()
    settled(ex)
    assert "sweep of lr stopped" in ex.status.value and ex.runs == 0 and ex.error.value == ""


def test_starting_from_a_course_image_names_its_class(squeezenet, course_data):
    two = CourseData(course_data.x[:2], course_data.y[:2], course_data.class_names)
    ex = _small(class_vis_explorer(models=[squeezenet], images=two, target="3"))
    ex.image_dd.value = 1
    label = int(course_data.y[1])
    assert ex.class_box.value == course_data.class_names[label]
    assert resolve_class(ex.class_box.value) == label
