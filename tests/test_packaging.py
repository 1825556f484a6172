"""The install files agree: pyproject.toml, environment.yml, the Makefile and .ci/run."""

import re
from pathlib import Path

import pytest
import yaml

import netviz_tp

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pip_section(env):
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def test_environment_yml_parses_and_keeps_conda_to_python_and_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert {re.split(r"[=<>]", d)[0] for d in conda} == {"python", "pip"}
    python = next(d for d in conda if d.startswith("python"))
    minimum = _pyproject()["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_environment_yml_installs_the_kit_and_the_makefile_torch():
    pip = _pip_section(yaml.safe_load((ROOT / "environment.yml").read_text()))
    kit = [p for p in pip if p.startswith("-e .")]
    assert kit, "environment.yml must pip-install the kit itself"
    extras = re.findall(r"\[(.*)\]", kit[0])
    declared = _pyproject()["project"]["optional-dependencies"]
    assert extras and all(e in declared for e in extras[0].split(","))
    makefile = (ROOT / "Makefile").read_text()
    default_torch = re.search(r"else\nTORCH \?= (.*)\n", makefile).group(1).split()
    assert sorted(p for p in pip if p.startswith("torch")) == sorted(default_torch)


def test_runtime_dependencies_hold_no_test_tools():
    runtime = " ".join(_pyproject()["project"]["dependencies"])
    for tool in ("pytest", "ruff", "nbgrader", "playwright", "captum"):
        assert tool not in runtime


def test_version_is_declared_once():
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"] == (
        "netviz_tp.__version__"
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+", netviz_tp.__version__)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^make test$", ci, re.M)
