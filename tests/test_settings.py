"""settings: each environment variable has one meaning, bad values are named, one cache rule."""

from __future__ import annotations

import sys
import types

import pytest

from netviz_tp import settings
from netviz_tp.course import setup


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_fast_is_true_for_yes_values(monkeypatch, value):
    monkeypatch.setenv("NETVIZ_TP_FAST", value)
    assert settings.fast() is True
    assert setup.budget(gpu=True).mode == "fast"


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_fast_is_false_for_no_values_and_when_unset(monkeypatch, value):
    monkeypatch.setenv("NETVIZ_TP_FAST", value)
    assert settings.fast() is False
    monkeypatch.delenv("NETVIZ_TP_FAST")
    assert settings.fast() is False and setup.budget(gpu=True).mode == "gpu"


@pytest.mark.parametrize("value", ["2", "fast", "yes please"])
def test_a_garbage_flag_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("NETVIZ_TP_FAST", value)
    with pytest.raises(ValueError, match=f"NETVIZ_TP_FAST='{value}' is not a yes/no value"):
        settings.fast()
    with pytest.raises(ValueError, match="NETVIZ_TP_FAST"):
        setup.budget()


@pytest.mark.parametrize(("value", "max_iter", "vis_steps"), [("yes", 10, 5), ("0", 100, None)])
def test_the_main_job_reads_the_same_flag(monkeypatch, tmp_path, value, max_iter, vis_steps):
    """`make run` and the notebooks agree on NETVIZ_TP_FAST (it once meant exactly "1" here)."""
    from netviz_tp.course import report
    from netviz_tp.models import tiny_cnn

    seen = {}
    monkeypatch.setenv("NETVIZ_TP_FAST", value)
    monkeypatch.setattr(report, "_main_model", lambda name, notes: tiny_cnn())
    monkeypatch.setattr(
        report.data, "load_imagenet_val", lambda: types.SimpleNamespace(class_names=None)
    )
    monkeypatch.setattr(report, "_saliency_section", lambda *a: report.Section("s"))
    monkeypatch.setattr(
        report,
        "_fooling_section",
        lambda *a, max_iter: seen.update(max_iter=max_iter) or report.Section("f"),
    )
    monkeypatch.setattr(
        report,
        "_class_vis_section",
        lambda *a, steps: seen.update(steps=steps) or report.Section("c"),
    )
    monkeypatch.setattr(
        report,
        "_inside_section",
        lambda *a, n_random: seen.update(n_random=n_random) or report.Section("i"),
    )
    monkeypatch.setattr(
        report,
        "_mnist_section",
        lambda out, *, epochs, n: seen.update(mnist=(epochs, n)) or report.Section("m"),
    )
    monkeypatch.setattr(
        report,
        "_generators_section",
        lambda *a: seen.update(generators=a[-1]) or report.Section("g"),
    )
    report.main(tmp_path, "tiny_cnn")
    fast = value == "yes"
    mnist = (1, 100) if fast else (report.mnist.RECIPE["epochs"], None)
    assert seen == {
        "max_iter": max_iter,
        "steps": vis_steps,
        "n_random": 2 if fast else 8,
        "mnist": mnist,
        "generators": report.training.BUDGETS["fast" if fast else "cpu"],
    }


def test_assets_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("NETVIZ_TP_ASSETS", raising=False)
    assert settings.assets_dir() is None
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(tmp_path))
    assert settings.assets_dir() == tmp_path
    (tmp_path / "file").touch()
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError, match="NETVIZ_TP_ASSETS=.*file is not a directory"):
        settings.assets_dir()


def test_cache_dir_is_created_on_demand(monkeypatch, tmp_path):
    monkeypatch.setenv("NETVIZ_TP_CACHE", str(tmp_path / "a" / "b"))
    assert settings.cache_dir() == tmp_path / "a" / "b" and settings.cache_dir().is_dir()
    monkeypatch.delenv("NETVIZ_TP_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    expected = tmp_path / "home" / ".cache" / "netviz_tp"
    assert settings.cache_dir() == expected and expected.is_dir()


def test_cache_dir_on_colab_is_the_drive_when_mounted(monkeypatch, tmp_path):
    monkeypatch.delenv("NETVIZ_TP_CACHE", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    drive = tmp_path / "drive" / "MyDrive"
    drive.mkdir(parents=True)
    monkeypatch.setattr(settings, "COLAB_DRIVE", drive)
    assert settings.in_colab()
    assert settings.cache_dir() == drive / "netviz_tp_cache"
    monkeypatch.setattr(settings, "COLAB_DRIVE", tmp_path / "not-mounted")
    made = []
    monkeypatch.setattr(settings.Path, "mkdir", lambda self, **kw: made.append(self))
    assert settings.cache_dir() == settings.Path("/content/netviz_tp_cache") == made[-1]


def test_data_and_weights_use_the_one_cache_and_assets_rule():
    from netviz_tp import data, weights

    assert data.cache_dir is settings.cache_dir and data.assets_dir is settings.assets_dir
    assert weights.assets_dir is settings.assets_dir
