"""The instructor's whole flow on a real nbgrader course directory, through the command line:

grade (fills the course's gradebook) -> a written answer graded by hand through nbgrader's API,
as formgrader does -> export shows both -> feedback without secrets -> the class report lists
the diagnosed mistakes of a synthetic class (copies of the solution and of typical mistakes).
"""

from __future__ import annotations

import copy
import csv
import shutil

import nbformat
import pytest
from course_helpers import TOY, run_cli, toy_solution, with_answer

from netviz_tp.course.handback import visible_text
from netviz_tp.course.runner import nbgrader

pytestmark = pytest.mark.notebooks
NEGATIVE = "square: wrong for negative numbers: did you return abs(x) * x?"


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """The toy course, its hidden test of square() naming a typical mistake as the checks do;
    a class of 6: two solutions (one saved by Colab without metadata and handed in late), two
    `abs(x) * x`, one calling the forbidden reference, one file that is no notebook."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(TOY / "nbgrader_config.py", root)
    shutil.copytree(TOY / "source", root / "source")
    source_nb = root / "source" / "toy" / "toy.ipynb"
    nb = nbformat.read(source_nb, 4)
    test = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square"
    )
    test.source = test.source.replace(
        "assert square(-4) == 16", f"assert square(-4) == 16, '✘ {NEGATIVE}'"
    )
    nbformat.write(nb, source_nb)
    _, solution = toy_solution(root)
    colab = copy.deepcopy(solution)
    for cell in colab.cells:
        cell.metadata = {}
    abs_square = with_answer(solution, "square", "def square(x):\n    return abs(x) * x")
    crash = with_answer(solution, "norm2", "def norm2(x, y):\n    return str(x * x + y * y) + 0")
    subs = root / "handed_in"
    subs.mkdir()
    cls = {"alice": solution, "bob": abs_square, "carol": abs_square, "dave": colab,
           "erin": crash}  # fmt: skip
    for student, notebook in cls.items():
        nbformat.write(notebook, subs / f"{student}.ipynb")
    (subs / "zoe.ipynb").write_text("{not a notebook")
    (root / "times.csv").write_text("student,timestamp\nalice,2026-09-30 20:00:00\n"
                                    "dave,2026-10-02 09:00:00\n")  # fmt: skip
    due = nbgrader(root, ["db", "assignment", "add", "toy", "--duedate=2026-10-01 00:00:00"])
    assert due.code == 0, due.log  # the deadline, set as nbgrader's documentation says
    return root, subs


def test_grade_hand_grade_export_feedback_report(flow, capsys, tmp_path):
    from nbgrader.api import Gradebook

    root, subs = flow
    graded = root / "graded" / "toy"
    times = root / "times.csv"
    code, out, _ = run_cli(capsys, "grade", "toy", subs, "--out", graded, "--course", root,
                     "--jobs", "2", "--timeout", "20", "--timestamps", times)  # fmt: skip
    assert code == 3 and "zoe: 0 / 6" in out  # the file that is no notebook: graded 0, said so
    assert "gradebook: 6 submission(s)" in out
    assert (root / "autograded" / "alice" / "toy" / "toy.ipynb").is_file()
    assert (root / "submitted" / "dave" / "toy" / "toy.ipynb").is_file()

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # formgrader's way
        grade = gb.find_grade("explain", "toy", "toy", "alice")
        assert grade.needs_manual_grade and grade.auto_score is None
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.find_comment("explain", "toy", "toy", "alice").manual_comment = "Well argued."
        gb.db.commit()

    assert run_cli(capsys, "export", "--course", root, "--out", tmp_path / "export")[0] == 0
    with open(tmp_path / "export" / "final_grades.csv", newline="") as handle:
        final = {row["student"]: row for row in csv.DictReader(handle)}
    alice, bob, dave = final["alice"], final["bob"], final["dave"]
    assert (alice["score"], alice["auto_points"], alice["manual_points"]) == ("6.0", "5.0", "1.0")
    assert alice["status"] == "graded" and alice["seconds_late"] == "0.0"
    assert (bob["score"], bob["status"], bob["ungraded_cells"]) == (
        "3.0",
        "ungraded",
        "toy:explain",
    )
    assert float(dave["seconds_late"]) == 33 * 3600  # 9 h on 2 October, due at midnight on 1st
    assert final["zoe"]["score"] == "0.0"

    code, _, _ = run_cli(
        capsys, "feedback", "toy", "--course", root, "--out", tmp_path / "handback"
    )
    assert code == 0
    alice_page = visible_text((tmp_path / "handback" / "alice" / "toy" / "toy.html").read_text())
    bob_page = visible_text((tmp_path / "handback" / "bob" / "toy" / "toy.html").read_text())
    assert "Well argued." in alice_page and "Score: 6.0 / 6.0" in alice_page
    assert NEGATIVE in bob_page  # the check's verdict reaches the student
    for page in (alice_page, bob_page):
        assert "assert square(-4) == 16" not in page and "math.hypot = None" not in page

    code, out, _ = run_cli(capsys, "report", graded, "--out", tmp_path / "report")
    assert code == 0
    page = visible_text((tmp_path / "report" / "toy.html").read_text())
    assert f"test_square{NEGATIVE}2bob, carol" in page.replace("\n", "")
    assert "TypeError" in page and "erin" in page  # the crashing answer, diagnosed
    assert "had lost its metadata: restored" in page and "dave" in page  # the repair
    assert "zoe" in page and "unreadable notebook" in page  # the failure and why
