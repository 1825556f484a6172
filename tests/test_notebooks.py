"""The practicals: sources well formed, release in sync and leak-free, every notebook runs.

Solution notebooks run top to bottom with NETVIZ_TP_FAST=1; student notebooks run to the end
and fail only with NotImplementedError, never before the first exercise. Notebooks run in a
kernel of this interpreter (a kernel spec written to a temporary JUPYTER_PATH), with the real
SqueezeNet from NETVIZ_TP_ASSETS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from netviz_tp.course import release
from netviz_tp.course.config import Course

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "solutions").glob("*/*.py"))
IDS = [p.parent.name for p in SOURCES]
KERNEL = "netviz-tp-test"
QUESTIONS = {f"q{i}": 2 if i in (1, 5, 8, 14) else 1 for i in range(1, 20)}  # ★ counts double


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel spec running this interpreter, found first on JUPYTER_PATH."""
    path = tmp_path_factory.mktemp("jupyter")
    spec = path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(path))
    mp.setenv("NETVIZ_TP_FAST", "1")
    yield KERNEL
    mp.undo()


def _execute(path: Path, kernel: str, *, allow_errors: bool):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name=kernel,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def _errors(nb) -> list[tuple[int, str, str]]:
    return [
        (i, out.ename, out.evalue)
        for i, cell in enumerate(nb.cells)
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]


# --- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_one_parameters_cell_after_setup_before_the_exercises(source):
    nb = jupytext.read(source)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{source.name}: {len(tagged)} parameters cells"
    setup = next(i for i, c in enumerate(nb.cells) if "setup(" in c.source)
    first_exercise = next(i for i, c in enumerate(nb.cells) if _meta(c).get("solution"))
    assert setup < tagged[0] < first_exercise


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_each_exercise_has_a_locked_graded_test_cell(source):
    cells = jupytext.read(source).cells
    exercises = [
        i for i, c in enumerate(cells) if c.cell_type == "code" and _meta(c).get("solution")
    ]
    assert exercises
    for i in exercises:
        test = next(c for c in cells[i + 1 :] if _meta(c).get("grade") or _meta(c).get("solution"))
        meta = _meta(test)
        assert test.cell_type == "code" and meta["grade"] and meta["locked"], cells[i].source[:60]
        assert meta["points"] > 0 and not meta.get("solution")
        first, *_ = test.source.splitlines()
        assert first.startswith("# Checks "), first  # says what it checks
        public, hidden = test.source.split("### BEGIN HIDDEN TESTS")
        assert "checks.check_" in public and "checks.check_" in hidden
        assert "### END HIDDEN TESTS" in hidden
        assert "### BEGIN SOLUTION" in cells[i].source


def test_every_question_is_one_manually_graded_answer_cell():
    found: dict[str, list] = {}
    for source in SOURCES:
        for cell in jupytext.read(source).cells:
            meta = _meta(cell)
            if meta.get("grade_id") in QUESTIONS:
                found.setdefault(meta["grade_id"], []).append(cell)
    assert sorted(found) == sorted(QUESTIONS)
    for qid, cells in found.items():
        assert len(cells) == 1, f"{qid} appears {len(cells)} times"
        (cell,) = cells
        meta = _meta(cell)
        assert cell.cell_type == "markdown" and meta["grade"] and meta["solution"]
        assert meta["points"] == QUESTIONS[qid], qid
        assert "Rubric (instructor only)" in cell.source  # removed from the release


def test_release_is_in_sync_and_leaks_nothing():
    assert release.check_in_sync(Course.load(ROOT)) == []


def test_check_in_sync_reports_stale_and_leaking_releases(tmp_path):
    """Edit a source without rebuilding and paste a solution into the release: both are seen."""
    import shutil

    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    for name in ("nbgrader_config.py", "jupytext.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    source = tmp_path / "solutions" / "01_saliency" / "saliency.py"
    source.write_text(source.read_text("utf-8").replace("## Setup", "## Set-up", 1), "utf-8")
    student = tmp_path / "notebooks" / "01_saliency" / "saliency.ipynb"
    nb = nbformat.read(student, as_version=4)
    stub = next(c for c in nb.cells if "raise NotImplementedError()" in c.source)
    stub.source = stub.source.replace(
        "raise NotImplementedError()", "saliency = X.grad.abs().amax(dim=1)"
    )
    nbformat.write(nb, student)
    problems = release.check_in_sync(Course.load(tmp_path))
    stale = "solutions/01_saliency/saliency.ipynb differs from solutions/01_saliency/saliency.py"
    assert f"{stale}; run `netviz-tp build`" in problems
    assert "notebooks/01_saliency/saliency.ipynb is out of date; run `netviz-tp build`" in problems
    assert any("solution text: 'saliency = X.grad.abs().amax(dim=1)'" in p for p in problems)
    release.build(Course.load(tmp_path))
    assert release.check_in_sync(Course.load(tmp_path)) == []


def test_leak_check_sees_solution_text(tmp_path):
    """The leak check itself: a release holding a solution line is reported."""
    (tmp_path / "solutions" / "a").mkdir(parents=True)
    (tmp_path / "notebooks" / "a").mkdir(parents=True)
    (tmp_path / "solutions" / "a" / "a.py").write_text(
        "def f(x):\n    ### BEGIN SOLUTION\n    secret = x.flatten(1).norm(dim=1)\n"
        "    ### END SOLUTION\n    return secret\n"
    )
    (tmp_path / "notebooks" / "a" / "a.py").write_text("    secret = x.flatten(1).norm(dim=1)\n")
    course = Course(tmp_path, source_directory="solutions", release_directory="notebooks")
    problems = release.find_leaks(course)
    assert problems == [
        "notebooks/a/a.py contains solution text: 'secret = x.flatten(1).norm(dim=1)'"
    ]


# --- execution ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_solution_runs_top_to_bottom(source, kernel, assets):
    nb = _execute(source.with_suffix(".ipynb"), kernel, allow_errors=False)
    out = "\n".join(
        o.get("text", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "stream"
    )
    assert "budget: fast" in out
    assert out.count("✔ ") >= 2 and "✘" not in out
    if "VGG16_WEIGHTS" in source.read_text("utf-8"):
        assert "VGG16 HAS RANDOM WEIGHTS" in out  # offline: said loudly, never silently
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert figures >= 2


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_student_notebook_fails_only_where_code_is_missing(source, kernel, assets):
    student = ROOT / "notebooks" / source.parent.name / source.with_suffix(".ipynb").name
    nb = _execute(student, kernel, allow_errors=True)
    errors = _errors(nb)
    assert errors, "the untouched release should fail at the first exercise"
    first_stub = next(
        i for i, c in enumerate(nb.cells) if "raise NotImplementedError()" in c.source
    )
    assert errors[0][0] > first_stub, f"cell {errors[0][0]} fails before the first exercise"
    assert {name for _, name, _ in errors} == {"NotImplementedError"}, errors


def test_papermill_parameters_override_the_budget(kernel, assets, tmp_path, monkeypatch):
    """Injected parameters win over the budget: VGG16_WEIGHTS=None without NETVIZ_TP_FAST."""
    import papermill

    monkeypatch.delenv("NETVIZ_TP_FAST")
    source = ROOT / "solutions" / "01_saliency" / "saliency.ipynb"
    params = {"N_IMAGES": 1, "SMOOTHGRAD_SAMPLES": 1, "VGG16_WEIGHTS": None}
    nb = papermill.execute_notebook(
        str(source),
        str(tmp_path / "out.ipynb"),
        parameters=params,
        kernel_name=kernel,
        cwd=str(source.parent),
        progress_bar=False,
    )
    out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "budget: fast" not in out and "VGG16 HAS RANDOM WEIGHTS" in out
    assert "1/1 images correctly classified" in out
