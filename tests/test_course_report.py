"""Per-submission results files, read back checked, and the class report built on them.

The synthetic class is written as grading writes it (OUT/results/STUDENT.json, one object per
student, the fields listed in netviz_tp.course.results).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from netviz_tp.course import class_report, results
from netviz_tp.course.results import ResultsError

MEAN = "did you take the mean over the colour channels? take the max of |gradient|"
SIGN = "you returned the gradient's sign, not its absolute value"


def _record(student: str, test_points: float, diagnosis: str = "", **changes) -> dict:
    verdicts = [
        {"grade_id": "ex1_test", "notebook": "saliency", "max_points": 3.0,
         "points": test_points, "verdict": "pass" if test_points == 3 else "fail",
         "diagnosis": diagnosis, "lines": []},
        {"grade_id": "q1", "notebook": "saliency", "max_points": 2.0, "points": None,
         "verdict": "pending", "diagnosis": "", "lines": []},
    ]  # fmt: skip
    record = {"student": student, "score": test_points, "max_score": 5.0,
              "cells": {"ex1_test": test_points, "q1": None}, "pending_manual": 2.0,
              "error": "", "notes": [], "feedback": [], "verdicts": verdicts,
              "seconds": {"demo": 6.0, "evaluation": 4.0 + len(student)},
              "sandbox": "bubblewrap"}  # fmt: skip
    return {**record, **changes}


def synthetic_class() -> list[dict]:
    """12 students took the mean, 3 returned the sign, 5 are right, one handed in a PDF."""
    cls = [_record(f"mean{i:02d}", 0.0, MEAN) for i in range(12)]
    cls += [_record(f"sign{i}", 0.0, SIGN, notes=["cell 'q1' had lost its metadata: restored"])
            for i in range(3)]  # fmt: skip
    cls += [_record(f"right{i}", 3.0) for i in range(5)]
    cls.append(_record("zz_pdf", 0.0, error="zz_pdf.pdf is not a notebook (.ipynb)",
                       verdicts=[], seconds={}))  # fmt: skip
    return cls


def write_class(out: Path, records: list[dict]) -> Path:
    (out / "results").mkdir(parents=True)
    for record in records:
        name = record.get("student", "nameless")
        (out / "results" / f"{name}.json").write_text(json.dumps(record))
    return out


def test_results_are_read_back_with_verdicts_repairs_and_time(tmp_path):
    found = results.read_grading(write_class(tmp_path / "01_saliency", synthetic_class()))
    assert [r.student for r in found][:2] == ["mean00", "mean01"] and len(found) == 21
    sign = next(r for r in found if r.student == "sign0")
    assert (sign.assignment, sign.score, sign.pending_manual, sign.graded) == (
        "01_saliency", 0.0, 2.0, True,
    )  # fmt: skip
    assert [(c.grade_id, c.points, c.verdict, c.diagnosis) for c in sign.cells] == [
        ("ex1_test", 0.0, "fail", SIGN), ("q1", None, "pending", ""),
    ]  # fmt: skip
    assert sign.repairs == ["cell 'q1' had lost its metadata: restored"]
    assert sign.seconds == 15.0 and sign.sandbox == "bubblewrap"  # demo 6 + evaluation 9
    pdf = found[-1]
    assert not pdf.graded and pdf.seconds is None and pdf.cells == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["verdicts"][0].update(verdict="ok"), r"verdicts\[0\]: verdict 'ok'"),
        (lambda d: d["verdicts"][0].update(max_points="3"), r"verdicts\[0\]: field 'max_points'"),
        (lambda d: d.pop("student"), "field 'student' should be str"),
        (lambda d: d.update(score=True), "field 'score' should be int or float"),
    ],
)
def test_a_malformed_results_file_is_refused_by_name(tmp_path, change, message):
    record = _record("alice", 3.0)
    change(record)
    out = write_class(tmp_path / "a1", [record])
    path = next((out / "results").iterdir())
    with pytest.raises(ResultsError, match=message) as info:
        results.read_grading(out)
    assert str(path) in str(info.value)


def test_report_counts_diagnosed_mistakes_repairs_failures_and_time(tmp_path):
    graded = write_class(tmp_path / "01_saliency", synthetic_class())
    index = class_report.write_report([graded], tmp_path / "report")
    assert "01_saliency.html" in index.read_text()
    page = (tmp_path / "report" / "01_saliency.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "|", page))
    assert f"|ex1_test||{MEAN}||12||mean00, mean01, mean02, mean03, mean04, mean05, " in text
    assert f"|ex1_test||{SIGN}||3||sign0, sign1, sign2|" in text
    assert "|cell 'q1' had lost its metadata: restored||3|" in text
    assert "|zz_pdf||zz_pdf.pdf is not a notebook (.ipynb)|" in text
    assert "21 submission(s): 20 graded, 1 not graded" in text
    assert page.count("data:image/png;base64,") == 2  # score distributions, grading time
    assert "max 16.0 s" in text  # 10 s + the length of the name: "mean00", "right0"


def test_cell_distributions_count_students_per_score_and_skip_pending(tmp_path):
    found = results.read_grading(write_class(tmp_path / "a", synthetic_class()))
    graded = [r for r in found if r.graded]
    assert class_report.cell_distributions(graded) == {
        "ex1_test": Counter({0.0: 15, 3.0: 5}), "q1": Counter(),
    }  # fmt: skip
    assert [(cell, len(who)) for cell, _, who in class_report.mistakes(graded)] == [
        ("ex1_test", 12), ("ex1_test", 3),
    ]  # fmt: skip


def test_report_without_results_names_the_fix(tmp_path):
    (tmp_path / "graded").mkdir()
    with pytest.raises(FileNotFoundError, match="grade the assignment first"):
        class_report.write_report([tmp_path / "graded"], tmp_path / "report")
    assert not (tmp_path / "report").exists()
