"""Per-submission results files (schema, round trip, errors) and the class report built on them."""

from __future__ import annotations

import html
import json
import re
from collections import Counter

import pytest

from netviz_tp.course import class_report, results
from netviz_tp.course.results import CellResult, ResultsError, SubmissionResult

MEAN = "did you take the mean over the colour channels? take the max of |gradient|"
SIGN = "you returned the gradient's sign, not its absolute value"


def _result(student: str, test_points: float, diagnosis: str | None = None, **kw):
    cells = [
        CellResult("saliency", "ex1_test", "auto", test_points, 3.0,
                   "pass" if test_points == 3 else "fail", diagnosis),
        CellResult("saliency", "q1", "manual", None, 2.0, "pending"),
    ]  # fmt: skip
    options = dict(score=test_points, max_score=5.0, pending_manual=2.0, cells=cells,
                   seconds={"total": 10.0 + len(student), "autograde": 8.0})  # fmt: skip
    return SubmissionResult("01_saliency", student, "graded", **{**options, **kw})


def synthetic_class() -> list[SubmissionResult]:
    """12 students took the mean, 3 returned the sign, 5 are right, one crashed the grader."""
    cls = [_result(f"mean{i:02d}", 0.0, MEAN) for i in range(12)]
    cls += [_result(f"sign{i}", 0.0, SIGN, repairs=["cell 'q1' had lost its metadata: restored"])
            for i in range(3)]  # fmt: skip
    cls += [_result(f"right{i}", 3.0) for i in range(5)]
    cls.append(SubmissionResult("01_saliency", "zz_broken", "failed", max_score=5.0,
                                error="unreadable notebook: NotJSONError",
                                seconds={"total": 0.5}))  # fmt: skip
    return cls


def test_results_round_trip_and_one_file_per_submission(tmp_path):
    cls = synthetic_class()
    written = [results.write(r, tmp_path) for r in cls]
    assert len({p.name for p in written}) == 21
    assert written[0] == tmp_path / "01_saliency" / "mean00.json"
    back = results.read_assignment(tmp_path, "01_saliency")
    assert back == sorted(cls, key=lambda r: r.student)
    assert json.loads(written[0].read_text())["schema"] == results.SCHEMA
    assert results.assignments(tmp_path) == ["01_saliency"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="other/9"), "not a netviz-tp.submission/1 result"),
        (lambda d: d.update(status="done"), "status 'done' is not one of"),
        (lambda d: d["cells"][0].update(verdict="ok"), r"cells\[0\]: verdict 'ok'"),
        (lambda d: d["cells"][0].update(max_points="3"), r"cells\[0\]: field 'max_points'"),
        (lambda d: d.pop("student"), "field 'student' should be str"),
    ],
)
def test_a_malformed_results_file_is_refused_by_name(tmp_path, change, message):
    path = results.write(_result("alice", 3.0), tmp_path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=message) as info:
        results.read(path)
    assert str(path) in str(info.value)


def test_report_counts_diagnosed_mistakes_repairs_failures_and_time(tmp_path):
    for r in synthetic_class():
        results.write(r, tmp_path / "results")
    index = class_report.write_report(tmp_path / "results", tmp_path / "report")
    assert "01_saliency.html" in index.read_text()
    page = (tmp_path / "report" / "01_saliency.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "|", page))
    assert f"|ex1_test||{MEAN}||12||mean00, mean01, mean02, mean03, mean04, mean05, " in text
    assert f"|ex1_test||{SIGN}||3||sign0, sign1, sign2|" in text
    assert "|cell 'q1' had lost its metadata: restored||3|" in text
    assert "|zz_broken||failed||unreadable notebook: NotJSONError|" in text
    assert "21 submission(s): 20 graded, 1 not graded" in text
    assert page.count("data:image/png;base64,") == 2  # score distributions, grading time
    assert "max 16.0 s" in text  # 10 s + the length of the name: "mean00", "right0"


def test_cell_distributions_count_students_per_score_and_skip_pending():
    graded = [r for r in synthetic_class() if r.status == "graded"]
    dists = class_report.cell_distributions(graded)
    assert dists == {"ex1_test": Counter({0.0: 15, 3.0: 5}), "q1": Counter()}
    assert [(cell, len(who)) for cell, _, who in class_report.mistakes(graded)] == [
        ("ex1_test", 12), ("ex1_test", 3),
    ]  # fmt: skip


def test_report_without_results_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="grade the class first"):
        class_report.write_report(tmp_path / "nothing", tmp_path / "report")
