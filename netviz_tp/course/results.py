"""Per-submission results: ``OUT/results/<student>.json`` of a grading -> :class:`SubmissionResult`.

Grading writes one JSON object per submission as soon as it is graded (the grades.csv row,
:class:`netviz_tp.course.grades_csv.StudentResult`, with every graded cell's verdict); the class
report and the gradebook read them back through :func:`read`, which checks the fields it uses:

- ``student``; ``score`` (points known so far), ``max_score`` (manual points included),
  ``pending_manual``; ``error`` (why it could not be fully graded; "" when graded);
- ``verdicts``: one object per graded cell, in notebook order: ``notebook``, ``grade_id``,
  ``points`` (null: awaiting the hand grader), ``max_points``, ``verdict`` (``pass``,
  ``fail``, ``pending``, ``unanswered``) and ``diagnosis`` (the checks' name for the mistake,
  e.g. "you took the mean over the colour channels", or "");
- ``notes``: the repairs made to the handed-in notebook, one line each;
- ``seconds``: wall time of the grading steps (``total``, or the steps to sum);
- ``sandbox``: what isolated the student's code ("bubblewrap", or a loud "NO SANDBOX ...").

Unknown fields are ignored, so grading may record more than the report needs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("pass", "fail", "pending", "unanswered")
RESULTS = "results"  # the folder of per-student files inside a grading's output folder


class ResultsError(ValueError):
    """A results file that the report cannot read (the message names the file and field)."""


@dataclass(frozen=True)
class CellResult:
    """The outcome of one graded cell."""

    notebook: str
    grade_id: str
    points: float | None
    max_points: float
    verdict: str
    diagnosis: str = ""


@dataclass
class SubmissionResult:
    """What grading learnt about one student's submission of one assignment."""

    assignment: str
    student: str
    score: float = 0.0
    max_score: float = 0.0
    pending_manual: float = 0.0
    error: str = ""
    cells: list[CellResult] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time of the whole submission
    sandbox: str = ""

    @property
    def graded(self) -> bool:
        return not self.error


def _need(data: dict, key: str, kinds: tuple, where: str):
    value = data.get(key)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ResultsError(f"{where}: field {key!r} should be {names}, got {value!r}")
    return value


def _cell(data, where: str) -> CellResult:
    if not isinstance(data, dict):
        raise ResultsError(f"{where} should be an object")
    verdict = _need(data, "verdict", (str,), where)
    if verdict not in VERDICTS:
        raise ResultsError(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    points = data.get("points")
    return CellResult(
        _need(data, "notebook", (str,), where), _need(data, "grade_id", (str,), where),
        None if points is None else float(_need(data, "points", (int, float), where)),
        float(_need(data, "max_points", (int, float), where)), verdict,
        str(data.get("diagnosis") or ""),
    )  # fmt: skip


def parse(data, assignment: str, where: str = "result") -> SubmissionResult:
    """A :class:`SubmissionResult` of ``assignment`` from one results object."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: a results file holds one JSON object")
    number = (int, float)
    steps = _need(data, "seconds", (dict,), where)
    seconds = steps.get("total", sum(v for v in steps.values() if isinstance(v, number)))
    return SubmissionResult(
        assignment, _need(data, "student", (str,), where),
        float(_need(data, "score", number, where)), float(_need(data, "max_score", number, where)),
        float(_need(data, "pending_manual", number, where)), _need(data, "error", (str,), where),
        [_cell(c, f"{where}: verdicts[{i}]")
         for i, c in enumerate(_need(data, "verdicts", (list,), where))],
        [str(n) for n in _need(data, "notes", (list,), where)],
        float(seconds) if steps else None, str(data.get("sandbox", "")),
    )  # fmt: skip


def read(path: str | os.PathLike, assignment: str) -> SubmissionResult:
    """One results file (:class:`ResultsError` naming the file when it cannot be read)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable results file ({exc})") from None
    return parse(data, assignment, str(path))


def read_grading(out: str | os.PathLike, assignment: str | None = None) -> list[SubmissionResult]:
    """Every result of one grading's output folder ``out`` (``out/results/*.json``), sorted by
    student; ``assignment`` defaults to the folder's name."""
    folder = Path(out) / RESULTS
    files = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no results in {folder}: grade the assignment first")
    name = assignment or Path(out).resolve().name
    return sorted((read(p, name) for p in files), key=lambda r: r.student)
