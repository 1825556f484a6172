"""Grading round trips through real nbgrader: honest, damaged and dishonest submissions.

The toy course in tests/fixtures/grading/ has two autograded exercises (2 and 3 points) and a
written answer (1 point, graded by hand); its hidden test for ``norm2`` forbids the reference
``math.hypot``. Every submission is built from its release and source notebooks with nbformat,
graded in one batch, and each per-cell score is asserted exactly from grades.csv.
"""

from __future__ import annotations

import contextlib
import copy
import csv
from pathlib import Path

import nbformat
import pytest

from netviz_tp.course.grades_csv import TRAILING
from netviz_tp.course.grading import grade, release_notebooks
from netviz_tp.course.submissions import GradingError, collect_submissions, fill_answers, repair

pytestmark = pytest.mark.notebooks

TOY = Path(__file__).parent / "fixtures" / "grading"
CELLS = ["test_square", "test_norm2", "explain"]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _index(nb, grade_id: str) -> int:
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    return ids.index(grade_id)


def set_answer(nb, grade_id: str, text: str):
    nb = copy.deepcopy(nb)
    nb.cells[_index(nb, grade_id)].source = text
    return nb


def strip_metadata(nb):
    """What Colab hands back: no nbgrader metadata, no cell ids."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def code(text: str):
    return nbformat.v4.new_code_cell(text)


@pytest.fixture(scope="module")
def toy():
    release = release_notebooks("toy", course=TOY)["toy"]
    return release, fill_answers(release, _read(TOY / "source" / "toy" / "toy.ipynb"))


def toy_submissions(release, solution) -> dict[str, tuple[object, dict]]:
    """student -> (notebook or raw text, expected per-cell scores; None = to grade by hand)."""
    full = {"test_square": 2, "test_norm2": 3, "explain": None}
    colab = copy.deepcopy(solution)
    colab.cells.insert(_index(solution, "test_square") + 1, code("scratch = square(5)"))
    colab = strip_metadata(colab)

    dup = copy.deepcopy(solution)
    at = _index(dup, "square")
    wrong = copy.deepcopy(dup.cells[at])
    wrong.source, wrong.id = "def square(x):\n    return x + x", "wrong-copy"
    dup.cells.insert(at, wrong)  # the later, correct copy is what the kernel keeps
    test_copy = copy.deepcopy(dup.cells[_index(dup, "test_norm2")])
    test_copy.id = "test-copy"
    dup.cells.insert(_index(dup, "test_norm2"), test_copy)

    moved = copy.deepcopy(solution)
    del moved.cells[_index(moved, "test_square")]  # deleted test: restored, run, scored
    at = _index(moved, "norm2")
    block = [moved.cells.pop(at) for _ in range(2)]  # norm2 and its test
    moved.cells[2:2] = block  # moved above exercise 1, just after the imports

    tampered = set_answer(solution, "square", "def square(x):\n    return 0")
    tampered = set_answer(tampered, "test_square", "assert True")
    tampered.cells[_index(tampered, "test_norm2")].metadata.nbgrader.points = 100

    cheat = set_answer(solution, "norm2", "def norm2(x, y):\n    return math.hypot(x, y)")
    loop = set_answer(
        solution, "square", "while True:\n    pass\n\ndef square(x):\n    return x * x"
    )
    raises = set_answer(solution, "square", "raise ValueError('oops')")
    raises.cells.insert(_index(raises, "norm2"), code("1 / 0"))
    return {
        "solution": (solution, full),
        "release": (release, {"test_square": 0, "test_norm2": 0, "explain": 0}),
        "colab": (colab, full),
        "duplicated": (dup, full),
        "moved_deleted": (moved, full),
        "reference": (cheat, {**full, "test_norm2": 0}),
        "loop": (loop, {**full, "test_square": 0}),
        "raises": (raises, {**full, "test_square": 0}),
        "tampered": (tampered, {**full, "test_square": 0}),
        "zz_not_json": ("{this is not a notebook", None),
    }  # fmt: skip


@pytest.fixture(scope="module")
def toy_batch(toy, tmp_path_factory):
    release, solution = toy
    subs = tmp_path_factory.mktemp("subs")
    cases = toy_submissions(release, solution)
    for student, (nb, _) in cases.items():
        if isinstance(nb, str):
            (subs / f"{student}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, subs / f"{student}.ipynb")
    out = tmp_path_factory.mktemp("out")
    results = grade("toy", subs, out, course=TOY, cell_timeout=10, wall_timeout=300, jobs=2)
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return cases, results, rows, out


def test_csv_has_one_row_per_student_and_the_specified_columns(toy_batch):
    cases, results, rows, out = toy_batch
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", "score", "max_score", *CELLS, *TRAILING]
    assert sorted(rows) == sorted(cases) == [r.student for r in results]
    assert {row["max_score"] for row in rows.values()} == {"6"}


@pytest.mark.parametrize(
    "student",
    ["solution", "release", "colab", "duplicated", "moved_deleted", "reference", "loop",
     "raises", "tampered"],
)  # fmt: skip
def test_each_submission_gets_the_grade_it_deserves(toy_batch, student):
    cases, _, rows, _ = toy_batch
    expected = cases[student][1]
    row = rows[student]
    assert row["error"] == ""
    assert {c: row[c] for c in CELLS} == {
        c: "" if v is None else f"{v:g}" for c, v in expected.items()
    }
    assert float(row["score"]) == sum(v for v in expected.values() if v is not None)
    assert float(row["pending_manual"]) == (1.0 if expected["explain"] is None else 0.0)


def test_repairs_are_reported_in_the_notes_column(toy_batch):
    _, _, rows, _ = toy_batch
    assert rows["solution"]["notes"] == "" and rows["release"]["notes"] == ""
    assert "'test_square' had lost its metadata" in rows["colab"]["notes"]
    assert "'explain' had lost its metadata" in rows["colab"]["notes"]
    assert "'square' appears 2 times" in rows["duplicated"]["notes"]
    assert "'test_square' was deleted" in rows["moved_deleted"]["notes"]


def test_a_broken_submission_is_recorded_and_does_not_stop_the_batch(toy_batch):
    _, results, rows, out = toy_batch
    row = rows["zz_not_json"]
    assert row["score"] == "0" and row["error"].startswith("unreadable notebook")
    assert [r.student for r in results if r.error] == ["zz_not_json"]
    assert (
        "not graded" in (out / "feedback" / "zz_not_json" / "not_graded.html").read_text().lower()
    )


def test_feedback_html_per_student_mentions_the_score(toy_batch):
    _, results, _, out = toy_batch
    for r in results:
        if not r.error:
            page = (out / "feedback" / r.student / "toy.html").read_text()
            assert f"Score: {r.score:.1f} / {r.max_score:.1f}" in page


def test_repair_restores_colab_metadata_exactly(toy):
    release, solution = toy
    fixed = repair(strip_metadata(solution), release)
    meta = [c.metadata.get("nbgrader") for c in fixed.notebook.cells]
    assert meta == [c.metadata.get("nbgrader") for c in release.cells]
    assert [c.source for c in fixed.notebook.cells] == [c.source for c in solution.cells]
    assert repair(solution, release).notes == []


def test_repair_keeps_the_last_edited_copy_of_a_duplicated_answer(toy):
    release, solution = toy
    nb = copy.deepcopy(solution)
    at = _index(nb, "square")
    stub = copy.deepcopy(release.cells[at])
    nb.cells.insert(at + 1, stub)  # a fresh copy of the stub after the real answer
    fixed = repair(nb, release).notebook
    graded = [c for c in fixed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square"]
    assert len(graded) == 1 and "return x * x" in graded[0].source
    assert len(fixed.cells) == len(nb.cells)  # the stub copy stays, as an ordinary cell


def test_submissions_folder_errors(tmp_path):
    with pytest.raises(GradingError, match="does not exist"):
        collect_submissions(tmp_path / "missing", ["toy"])
    with pytest.raises(GradingError, match="no submissions"):
        collect_submissions(tmp_path, ["toy"])
    (tmp_path / "bob").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "bob" / "toy.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "carol.ipynb")
    assert collect_submissions(tmp_path, ["toy"]) == {
        "bob": {"toy": tmp_path / "bob" / "toy.ipynb"},
        "carol": {"toy": tmp_path / "carol.ipynb"},
    }


# --- the real practicals --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
PRACTICALS = {
    "01_saliency": ("saliency", "ex1_saliency", "ex1_test",
                    "from netviz_tp.saliency import compute_saliency_maps as _reference\n\n\n"
                    "def compute_saliency_maps(X, y, model):\n"
                    "    return _reference(X, y, model)\n"),
    "02_adversarial": ("adversarial", "ex2_fgsm", "ex2_test",
                       "import torch.nn.functional as F\n\nfrom netviz_tp import attacks\n\n\n"
                       "def fgsm(model, x, target, eps=8 / 255):\n"
                       "    return attacks.fgsm(model, x, target, eps=eps).x_adv\n"),
    "03_class_visualization": ("class_visualization", "ex2_loop", "ex2_test",
                               "from netviz_tp import featviz\n\n\n"
                               "def create_class_visualization(target_y, model, **kwargs):\n"
                               "    steps = kwargs.get('num_iterations', 200)\n"
                               "    return featviz.create_class_visualization(\n"
                               "        target_y, model, num_iterations=steps)\n"),
}  # fmt: skip


def _expected(release, *, zero=(), all_zero=False) -> dict[str, float | None]:
    """Per-cell scores: autograded cells full (or 0), written answers pending (or 0)."""
    scores: dict[str, float | None] = {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            manual = meta.get("solution")
            full = None if manual else float(meta["points"])
            scores[meta["grade_id"]] = 0.0 if all_zero or meta["grade_id"] in zero else full
    return scores


@pytest.mark.parametrize("assignment", sorted(PRACTICALS))
def test_real_practical_round_trip(assignment, tmp_path, assets, monkeypatch):
    """Solution: full marks; release: 0; calling the reference: 0 for that exercise only."""
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(assets))
    name, answer_id, test_id, cheat_code = PRACTICALS[assignment]
    release = release_notebooks(assignment, course=ROOT)[name]
    solution = fill_answers(release, _read(ROOT / "solutions" / assignment / f"{name}.ipynb"))
    cheat = set_answer(solution, answer_id, cheat_code)
    cases = {
        "solution": (solution, _expected(release)),
        "release": (release, _expected(release, all_zero=True)),
        "cheat": (cheat, _expected(release, zero=[test_id])),
    }
    if assignment == "01_saliency":
        cases["colab"] = (strip_metadata(solution), _expected(release))
    for student, (nb, _) in cases.items():
        nbformat.write(nb, tmp_path / f"{student}.ipynb")
    out = tmp_path / "out"
    results = {r.student: r for r in grade(assignment, tmp_path, out, course=ROOT, jobs=2)}
    assert sorted(results) == sorted(cases)
    for student, (_, expected) in cases.items():
        result = results[student]
        assert result.error == ""
        assert result.cells == expected, student
    page = (out / "feedback" / "cheat" / f"{name}.html").read_text()
    assert "ReferenceUsedError" in page


def test_wall_clock_stops_a_kernel_deaf_to_interrupts(toy, tmp_path):
    """A cell that ignores the per-cell interrupt is stopped by the per-submission wall clock."""
    import psutil

    release, solution = toy
    deaf = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    nbformat.write(set_answer(solution, "square", deaf), tmp_path / "deaf.ipynb")
    nbformat.write(solution, tmp_path / "honest.ipynb")
    results = grade("toy", tmp_path, tmp_path / "out", course=TOY, cell_timeout=60,
                    wall_timeout=45, jobs=2)  # fmt: skip
    assert [(r.student, r.error) for r in results] == [
        ("deaf", "timed out after 45 s (whole submission)"),
        ("honest", ""),
    ]
    assert results[0].score == 0 and results[1].score == 5
    leftovers = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if "netviz-grade-" in proc.cwd():
                leftovers.append(proc)
    assert leftovers == []


def test_repair_restores_a_deleted_test_after_its_answer(toy):
    release, solution = toy
    nb = copy.deepcopy(solution)
    del nb.cells[_index(nb, "test_square")]
    fixed = repair(nb, release)
    at = _index(fixed.notebook, "square")
    assert (
        fixed.notebook.cells[at + 1].metadata.nbgrader
        == release.cells[_index(release, "test_square")].metadata.nbgrader
    )
    assert fixed.notes == ["cell 'test_square' was deleted: restored from the release"]
    ids = [cell.id for cell in fixed.notebook.cells]
    assert len(set(ids)) == len(ids)
