"""Final grades exported from a real nbgrader gradebook, filled through nbgrader's own API."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

from netviz_tp.course.export import FINAL_CSV, LONG_CSV, export


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    """Assignment a1 (due 30 Sep 23:59): test t1 (2 points, autograded), written w1 (1 point).

    alice: on time, t1 passed, w1 graded by hand (0.5 + 0.25 extra credit);
    bob: 10 h 1 min late, t1 failed then re-scored by hand to 1, w1 not graded yet;
    carol: known to the gradebook, handed nothing in.
    """
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path_factory.mktemp('course') / 'gradebook.db'}"
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` for a new gradebook
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", os.pathsep.join([bin_dir, os.environ["PATH"]]))
        Gradebook(url).close()
    with Gradebook(url) as gb:
        gb.add_assignment("a1", duedate="2026-09-30 23:59:00")
        gb.add_notebook("nb", "a1")
        gb.add_grade_cell("t1", "nb", "a1", max_score=2, cell_type="code")
        gb.add_grade_cell("w1", "nb", "a1", max_score=1, cell_type="markdown")
        gb.add_solution_cell("w1", "nb", "a1")
        for student in ("alice", "bob", "carol"):
            gb.add_student(student)
        gb.add_submission("a1", "alice", timestamp="2026-09-30 12:00:00")
        gb.add_submission("a1", "bob", timestamp="2026-10-01 10:00:00")
        for student, auto in (("alice", 2.0), ("bob", 0.0)):
            grade = gb.find_grade("t1", "nb", "a1", student)
            grade.auto_score, grade.needs_manual_grade = auto, False
        # what formgrader's API does when the instructor types a score (apihandlers.py)
        for student, cell, manual, extra in (("alice", "w1", 0.5, 0.25), ("bob", "t1", 1.0, None)):
            grade = gb.find_grade(cell, "nb", "a1", student)
            grade.manual_score, grade.extra_credit, grade.needs_manual_grade = manual, extra, False
        gb.find_submission_notebook("nb", "a1", "bob").late_submission_penalty = 0.5
        gb.db.commit()
    return url


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_final_grades_show_auto_manual_ungraded_and_late(db_url, tmp_path):
    export(db_url, tmp_path / "out")
    rows = {r["student"]: r for r in _rows(tmp_path / "out" / FINAL_CSV)}
    alice, bob, carol = rows["alice"], rows["bob"], rows["carol"]
    assert (alice["status"], alice["score"], alice["final"]) == ("graded", "2.75", "2.75")
    assert (alice["auto_points"], alice["manual_points"], alice["ungraded_cells"]) == (
        "2.0", "0.75", "",
    )  # fmt: skip
    assert alice["seconds_late"] == "0.0" and alice["max_score"] == "3.0"
    assert (bob["status"], bob["score"], bob["late_penalty"], bob["final"]) == (
        "ungraded", "1.0", "0.5", "0.5",
    )  # fmt: skip
    assert bob["ungraded_cells"] == "nb:w1" and bob["ungraded_points"] == "1.0"
    assert bob["manual_points"] == "1.0" and bob["auto_points"] == "0.0"  # manual overrides auto
    assert bob["seconds_late"] == str(10 * 3600 + 60.0)
    assert bob["timestamp"] == "2026-10-01T10:00:00" and bob["duedate"] == "2026-09-30T23:59:00"
    assert (carol["status"], carol["final"], carol["timestamp"]) == ("missing", "0.0", "")


def test_long_table_has_one_row_per_student_and_cell(db_url, tmp_path):
    result = export(db_url, tmp_path / "out", ["a1"])
    rows = _rows(tmp_path / "out" / LONG_CSV)
    assert [(r["student"], r["cell"]) for r in rows] == [
        ("alice", "t1"), ("alice", "w1"), ("bob", "t1"), ("bob", "w1"),
    ]  # fmt: skip
    bob_t1 = rows[2]
    assert (bob_t1["auto_points"], bob_t1["manual_points"], bob_t1["points"]) == (
        "0.0", "1.0", "1.0",
    )  # fmt: skip
    assert rows[3]["ungraded"] == "True" and rows[3]["manual_points"] == ""
    assert sum(c.points for c in result["cells"]) == sum(f.score for f in result["final"])


def test_export_errors_name_the_fix(db_url, tmp_path):
    with pytest.raises(ValueError, match=r"'a2' is not in the gradebook .* \(it has: a1\)"):
        export(db_url, tmp_path / "out", ["a2"])
    missing = tmp_path / "nowhere" / "gradebook.db"
    with pytest.raises(FileNotFoundError, match="run `netviz-tp grade` first"):
        export(f"sqlite:///{missing}", tmp_path / "out")
    assert not missing.exists() and not (tmp_path / "out").exists()
