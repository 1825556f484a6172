"""The main job: figures and one HTML page from the real SqueezeNet, and the model choice."""

import re

import pytest

from netviz_tp import models
from netviz_tp.course import report


def test_main_writes_every_figure_and_an_html_page(assets, tmp_path, monkeypatch):
    monkeypatch.setenv("NETVIZ_TP_FAST", "1")
    monkeypatch.setattr(report, "_optional_model", _squeezenet_only)
    page = report.main(tmp_path, "auto")
    html = page.read_text()
    for title in ("Saliency maps", "Fooling images", "Class visualisation", "Inside the network"):
        assert f"<h2>{title} (squeezenet1_1" in html
    assert "<h2>The thesis&#x27;s MNIST network</h2>" in html
    figures = [line.split("'")[1] for line in html.splitlines() if "<img src=" in line]
    assert len(figures) == 5 + 1 + 1 + 3 + 1 + 2
    for name in figures:
        assert (tmp_path / name).stat().st_size > 10_000  # a real PNG, not an empty canvas
    assert "top-1 accuracy on the 25 course images: 13" in html  # the assets' measured 13/25
    assert "vgg16 skipped: no weights here" in html
    assert html.count("p = ") == 5  # the network's verdict on each class visualisation
    assert "than 2 random regions of the same area for" in html
    assert "159,254 weights, trained 1 epochs" in html and "held-out digits right" in html
    assert "<h2>Generators (squeezenet1_1, 20 updates)</h2>" in html
    assert re.search(r"classified as that class for [0-2] of 2 classes", html)
    assert "sign noise: fooling rate" in html


def _squeezenet_only(name, notes):
    if name == "vgg16":
        notes.append("vgg16 skipped: no weights here")
        return None
    return models.load_model(name)


def test_auto_falls_back_to_the_offline_model_and_says_so(monkeypatch):
    def unavailable(name, **_):
        if name == "squeezenet1_1":
            raise models.WeightsUnavailableError("offline")
        return models.tiny_cnn()

    monkeypatch.setattr(models, "load_model", unavailable)
    notes = []
    model = report._main_model("auto", notes)
    assert model.name == "tiny_cnn"  # what the stub returned for efficientnet_lite0
    assert notes[0] == "squeezenet1_1 skipped: offline"
    assert "EfficientNet-Lite0" in notes[1]


def test_a_named_model_that_cannot_load_is_an_error(monkeypatch):
    def unavailable(name, **_):
        raise models.WeightsUnavailableError(f"no weights for {name}")

    monkeypatch.setattr(models, "load_model", unavailable)
    with pytest.raises(models.WeightsUnavailableError, match="no weights for vgg16"):
        report._main_model("vgg16", [])
