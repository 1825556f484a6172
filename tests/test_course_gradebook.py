"""The course's persistent gradebook: autograded results in, manual grades kept on re-grading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netviz_tp.course.export import export
from netviz_tp.course.gradebook import open_gradebook, record, register_assignment
from netviz_tp.course.results import CellResult, SubmissionResult

pytestmark = pytest.mark.notebooks

TOY = Path(__file__).parent / "fixtures" / "grading"


def _result(student: str, square: float, norm2: float, explain: str, error: str = ""):
    cells = [
        CellResult("toy", "test_square", square, 2.0, "pass" if square else "fail"),
        CellResult("toy", "test_norm2", norm2, 3.0, "pass" if norm2 else "fail", "off by one"),
        CellResult("toy", "explain", None if explain == "pending" else 0.0, 1.0, explain),
    ]
    return SubmissionResult("toy", student, square + norm2, 6.0, 0.0, error,
                            [] if error else cells)  # fmt: skip


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(TOY / "nbgrader_config.py", root)
    shutil.copytree(TOY / "source", root / "source")
    url = f"sqlite:///{root / 'gradebook.db'}"
    register_assignment(root, "toy", url)
    return root, url


def _cells(url: str, tmp_path: Path) -> dict:
    rows = export(url, tmp_path / "export")["cells"]
    return {(r.student, r.cell): (r.auto_points, r.manual_points, r.ungraded) for r in rows}


def test_regrading_replaces_autograded_points_and_keeps_manual_ones(course, tmp_path):
    root, url = course
    with open_gradebook(url) as gb:
        record(gb, _result("alice", 2.0, 0.0, "pending"), timestamp="2026-09-30 10:00:00")
        record(gb, _result("bob", 0.0, 3.0, "unanswered"))
    assert _cells(url, tmp_path)[("alice", "explain")] == (None, None, True)
    assert _cells(url, tmp_path)[("bob", "explain")] == (0.0, None, False)  # stub: 0 at once
    with open_gradebook(url) as gb:  # the instructor grades alice's answer in formgrader
        grade = gb.find_grade("explain", "toy", "toy", "alice")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.find_comment("explain", "toy", "toy", "alice").manual_comment = "Good."
        gb.db.commit()
    register_assignment(root, "toy", url)  # registering again keeps the submissions
    with open_gradebook(url) as gb:  # alice's test now passes too
        record(gb, _result("alice", 2.0, 3.0, "pending"))
    cells = _cells(url, tmp_path)
    assert cells[("alice", "test_norm2")] == (3.0, None, False)
    assert cells[("alice", "explain")] == (None, 1.0, False)  # the hand grade survived
    final = {f.student: f for f in export(url, tmp_path / "export")["final"]}
    assert (final["alice"].score, final["alice"].status) == (6.0, "graded")
    assert final["alice"].timestamp == "2026-09-30T10:00:00"  # kept from the first hand-in
    with open_gradebook(url) as gb:
        record(gb, _result("alice", 2.0, 3.0, "pending"), reset_manual=True)
        assert gb.find_comment("explain", "toy", "toy", "alice").manual_comment is None
    assert _cells(url, tmp_path)[("alice", "explain")] == (None, None, True)


def test_a_submission_that_could_not_be_graded_scores_0_and_is_flagged(course, tmp_path):
    _, url = course
    with open_gradebook(url) as gb:
        record(gb, _result("carol", 0.0, 0.0, "pending", error="timed out after 600 s"))
        assert gb.find_submission_notebook("toy", "toy", "carol").flagged
    cells = _cells(url, tmp_path)
    assert [cells[("carol", c)] for c in ("test_square", "test_norm2", "explain")] == [
        (0.0, None, False)] * 3  # fmt: skip
