"""The pinned release: every notebook installs the kit at its own version's tag, from REPO_URL."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import netviz_tp
from netviz_tp.course import release
from netviz_tp.course import setup as colab
from netviz_tp.course.config import Course

ROOT = Path(__file__).resolve().parents[1]


def test_install_line_pins_this_version_at_the_one_repository_address():
    assert f"netviz-tp @ git+{colab.REPO_URL}@v{netviz_tp.__version__}" == colab.PIP_SPEC
    assert release.pinned_specs(colab.bootstrap_code()) == [colab.PIP_SPEC]
    for notebook in sorted(ROOT.glob("notebooks/*/*.ipynb")):
        setup = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells)
        assert release.pinned_specs(setup) == [colab.PIP_SPEC], notebook


def test_stamp_rewrites_only_the_install_line():
    text = 'x = 1\n    KIT = "netviz-tp @ git+https://example.org/kit@main"\nKITE = "keep"\n'
    assert release.stamp(text) == f'x = 1\n    KIT = "{colab.PIP_SPEC}"\nKITE = "keep"\n'
    assert release.stamp(release.stamp(text)) == release.stamp(text)


@pytest.mark.notebooks
def test_a_new_version_is_caught_by_the_check_and_stamped_by_the_build(tmp_path, monkeypatch):
    """Bump the version (or fork to another address): `build --check` names the stale pin;
    `build` stamps it into the source and the release, whose setup cell then installs it."""
    for name in ("nbgrader_config.py", "jupytext.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name / "01_saliency", tmp_path / name / "01_saliency")
    spec = "netviz-tp @ git+https://git.example.edu/course/kit@v9.9.9"
    monkeypatch.setattr(colab, "PIP_SPEC", spec)
    problems = release.check_in_sync(Course.load(tmp_path))
    assert problems == [
        f"solutions/01_saliency/saliency.py: the install line pins "
        f"'netviz-tp @ git+{colab.REPO_URL}@v{netviz_tp.__version__}', this kit is {spec!r}; "
        "run `netviz-tp build`"
    ]
    release.build(Course.load(tmp_path))
    assert release.check_in_sync(Course.load(tmp_path)) == []
    nb = nbformat.read(tmp_path / "notebooks" / "01_saliency" / "saliency.ipynb", as_version=4)
    setup = next(c.source for c in nb.cells if "KIT = " in c.source)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setitem(sys.modules, "google.colab", object())
    exec(setup.split("from netviz_tp")[0], {})  # the install part of the setup cell
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", spec]]
