"""Notebook setup: the Colab branch installs the kit from REPO_URL and only on Colab; the
budget follows NETVIZ_TP_FAST and the GPU; badges and setup cells come from course/setup.py."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from netviz_tp.course import setup as course_setup

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pip_calls(monkeypatch):
    """Replace subprocess.run by a recorder: nothing is installed."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    return calls


@pytest.fixture
def on_colab(monkeypatch):
    """A stand-in ``google.colab`` module, as a Colab kernel has."""
    google = types.ModuleType("google")
    module = types.ModuleType("google.colab")
    google.colab = module
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", module)


def test_setup_cell_installs_the_kit_from_the_repository_on_colab(on_colab, pip_calls):
    exec(course_setup.bootstrap_code(), {})
    assert len(pip_calls) == 1
    cmd, kwargs = pip_calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert cmd[-1] == course_setup.PIP_SPEC and f"git+{course_setup.REPO_URL}@" in cmd[-1]
    assert kwargs.get("check") is True  # a failed install stops the notebook


def test_setup_cell_installs_nothing_elsewhere(monkeypatch, pip_calls):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(course_setup.bootstrap_code(), {})
    assert pip_calls == []
    assert not course_setup.in_colab()


def test_fast_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("NETVIZ_TP_FAST", "1")
    fast = course_setup.budget(gpu=True)
    assert fast.mode == "fast" and fast.vgg16_weights is None  # offline CI and grading
    monkeypatch.setenv("NETVIZ_TP_FAST", "0")
    assert course_setup.budget(gpu=True).mode == "gpu"


def test_missing_gpu_reduces_the_iteration_counts(monkeypatch):
    monkeypatch.delenv("NETVIZ_TP_FAST", raising=False)
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu, gpu = course_setup.budget(), course_setup.budget(gpu=True)
    fast = course_setup.budget(fast=True)
    assert (cpu.mode, cpu.device, gpu.mode) == ("cpu", "cpu", "gpu")
    assert gpu.vis_steps == 200  # the course's value
    for knob in ("vis_steps", "sweep_steps", "vgg_steps", "attack_steps", "smoothgrad_samples"):
        assert fast.as_dict()[knob] < cpu.as_dict()[knob] < gpu.as_dict()[knob], knob
    assert cpu.vgg16_weights == gpu.vgg16_weights == "imagenet"


def test_setup_on_colab_without_gpu_warns_and_caches(on_colab, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("NETVIZ_TP_FAST", raising=False)
    monkeypatch.setenv("NETVIZ_TP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    chosen = course_setup.setup(gpu=False)
    out = capsys.readouterr().out
    assert chosen.mode == "cpu"
    assert "No GPU" in out and "Change runtime type" in out
    assert (tmp_path / "cache").is_dir()
    import os

    assert os.environ["TORCH_HOME"] == str(tmp_path / "cache" / "torch")


def test_setup_elsewhere_is_quiet_and_leaves_the_environment(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    chosen = course_setup.setup(fast=True)
    out = capsys.readouterr().out
    assert chosen.mode == "fast" and "No GPU" not in out
    assert out.count("\n") == 1 and "budget: fast" in out
    import os

    assert "TORCH_HOME" not in os.environ


def test_every_notebook_carries_the_generated_badge_and_setup_cell():
    sources = sorted((ROOT / "solutions").glob("*/*.py"))
    folders = [d for d in (ROOT / "solutions").iterdir() if d.is_dir()]
    assert len(sources) == len(folders) >= 5  # one source per practical
    for source in sources:
        text = source.read_text("utf-8")
        release = f"notebooks/{source.parent.name}/{source.stem}.ipynb"
        assert course_setup.badge(release) in text, source
        assert course_setup.colab_url(release).startswith(
            "https://colab.research.google.com/github/"
        )
        assert text.count(course_setup.bootstrap_code()) == 1, source
