"""Feedback after manual grading, on a real nbgrader course: points and comments, no secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from course_helpers import TOY, toy_solution, with_answer

from netviz_tp.course.handback import (
    PLACEHOLDER,
    generate_feedback,
    secret_lines,
    strip_secrets,
    visible_text,
)
from netviz_tp.course.runner import nbgrader, nbgrader_env

pytestmark = pytest.mark.notebooks
HIDDEN_LINE = "assert square(-4) == 16"  # from the toy's hidden test of square()


def _nbgrader(course: Path, *args: str) -> None:
    run = nbgrader(course, list(args), timeout=600, env=nbgrader_env(NETVIZ_TP_FAST="1"))
    assert run.code == 0, run.log


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The toy course autograded by stock nbgrader: alice hands in the solution, bob a square()
    that passes the public test and fails the hidden one; alice's written answer is then graded
    by hand through nbgrader's API, as formgrader does."""
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("course")
    shutil.copy(TOY / "nbgrader_config.py", root)
    shutil.copytree(TOY / "source", root / "source")
    _nbgrader(root, "generate_assignment", "toy", "--force")
    _, solution = toy_solution()
    wrong = with_answer(solution, "square", "def square(x):\n    return abs(x) * x")
    for student, nb in (("alice", solution), ("bob", wrong)):
        folder = root / "submitted" / student / "toy"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "toy.ipynb")
    _nbgrader(root, "autograde", "toy", "--force")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade("explain", "toy", "toy", "alice")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        comment = gb.find_comment("explain", "toy", "toy", "alice")
        comment.manual_comment = "Right: a square is a product of two equal signs."
        gb.db.commit()
    return root


def test_stock_feedback_shows_the_hidden_test_and_ours_does_not(course, tmp_path):
    autograded = nbformat.read(course / "autograded" / "bob" / "toy" / "toy.ipynb", 4)
    assert HIDDEN_LINE in secret_lines(autograded)
    _nbgrader(course, "generate_feedback", "toy", "--force")
    stock = visible_text((course / "feedback" / "bob" / "toy" / "toy.html").read_text())
    assert HIDDEN_LINE in stock

    pages = generate_feedback(course, "toy", tmp_path / "handback",
                              db_url=f"sqlite:///{course / 'gradebook.db'}",
                              autograded=course / "autograded")  # fmt: skip
    assert pages == {s: [tmp_path / "handback" / s / "toy" / "toy.html"] for s in ("alice", "bob")}
    alice, bob = (visible_text(p[0].read_text()) for p in pages.values())
    for page in (alice, bob):
        assert HIDDEN_LINE not in page and "BEGIN HIDDEN TESTS" not in page
        assert "math.hypot = None" not in page  # the other hidden test
        assert PLACEHOLDER in page
    assert "Score: 6.0 / 6.0" in alice and "a product of two equal signs" in alice
    assert "Score: 3.0 / 6.0" in bob and "AssertionError" in bob  # the verdict stays


def test_strip_secrets_cuts_regions_and_tracebacks_only():
    cell = nbformat.v4.new_code_cell(
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS\nok()",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "locked": True, "points": 1}},
        outputs=[nbformat.v4.new_output("error", ename="AssertionError", evalue="✘ f: off by one",
                                        traceback=["----", "assert f(2) == 4", "AssertionError"])],
    )  # fmt: skip
    answer = nbformat.v4.new_markdown_cell("### BEGIN MARK SCHEME\nfull marks if...\n"
                                           "### END MARK SCHEME\nMy answer")  # fmt: skip
    nb = nbformat.v4.new_notebook(cells=[cell, answer])
    clean = strip_secrets(nb)
    assert clean.cells[0].source == f"assert f(1) == 1\n{PLACEHOLDER}\nok()"
    assert clean.cells[0].outputs[0].traceback == ["AssertionError: ✘ f: off by one"]
    assert clean.cells[1].source == "\nMy answer"
    assert clean.cells[0].metadata == cell.metadata and nb.cells[0].source == cell.source
    assert secret_lines(nb) == {"assert f(2) == 4", "full marks if..."}


def test_feedback_for_an_ungraded_student_names_the_fix(course, tmp_path):
    with pytest.raises(FileNotFoundError, match="for carol: run `netviz-tp grade` first"):
        generate_feedback(course, "toy", tmp_path, db_url=f"sqlite:///{course / 'gradebook.db'}",
                          autograded=course / "autograded", students=["carol"])  # fmt: skip
