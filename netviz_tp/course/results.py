"""Per-submission results: ``RESULTS/<assignment>/<student>.json``, one file per graded submission.

Written by grading as soon as a submission's result is known (atomically), read by the class
report and by resumption. Schema ``netviz-tp.submission/1`` (JSON object):

- ``schema``, ``assignment``, ``student``;
- ``status``: ``graded``; ``failed`` (could not be graded: ``error`` says why, every cell 0) or
  ``flagged`` (a file that is not a submission of this assignment: ``error`` says why);
- ``score`` (points known so far), ``max_score`` (manual points included), ``pending_manual``;
- ``cells``: one per graded cell, in notebook order: ``notebook``, ``grade_id``, ``kind``
  (``auto`` or ``manual``), ``points`` (null: awaiting a human), ``max_points``, ``verdict``
  (``pass``, ``fail``, ``error``, ``timeout``, ``pending``) and ``diagnosis`` (the checks' name
  for the mistake, e.g. "you took the mean over the colour channels", or null);
- ``repairs``: one line per change made to the handed-in notebook before grading;
- ``seconds``: ``total`` wall time of the submission, and optional steps (``autograde``...);
- ``sandbox``: what isolated the student's code ("bubblewrap", "none", ...); ``graded_at``: ISO
  8601 UTC time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = "netviz-tp.submission/1"
STATUSES = ("graded", "failed", "flagged")
VERDICTS = ("pass", "fail", "error", "timeout", "pending")


class ResultsError(ValueError):
    """A results file that does not follow the schema (the message names the file and field)."""


@dataclass
class CellResult:
    """The outcome of one graded cell."""

    notebook: str
    grade_id: str
    kind: str  # "auto" or "manual"
    points: float | None
    max_points: float
    verdict: str
    diagnosis: str | None = None


@dataclass
class SubmissionResult:
    """Everything grading learnt about one student's submission of one assignment."""

    assignment: str
    student: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    pending_manual: float = 0.0
    error: str = ""
    cells: list[CellResult] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    sandbox: str = "none"
    graded_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )

    def as_json(self) -> dict:
        return {"schema": SCHEMA, **asdict(self)}


def path_of(results_dir: str | os.PathLike, assignment: str, student: str) -> Path:
    """Where the result of ``student`` on ``assignment`` lives."""
    return Path(results_dir) / assignment / f"{student}.json"


def write(result: SubmissionResult, results_dir: str | os.PathLike) -> Path:
    """Write one result atomically (temp file + os.replace); returns its path."""
    path = path_of(results_dir, result.assignment, result.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result.as_json(), indent=1, ensure_ascii=False))
    os.replace(tmp, path)
    return path


def _need(data: dict, key: str, kinds: tuple, where: str):
    value = data.get(key)
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        names = "/".join(k.__name__ for k in kinds)
        raise ResultsError(f"{where}: field {key!r} should be {names}, got {value!r}")
    return value


def parse(data: dict, where: str = "result") -> SubmissionResult:
    """A :class:`SubmissionResult` from its JSON object, checked against the schema."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{where}: not a {SCHEMA} result (schema: {found!r})")
    number = (int, float)
    status = _need(data, "status", (str,), where)
    if status not in STATUSES:
        raise ResultsError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    cells = []
    for i, cell in enumerate(_need(data, "cells", (list,), where)):
        at = f"{where}: cells[{i}]"
        if not isinstance(cell, dict):
            raise ResultsError(f"{at} should be an object")
        verdict = _need(cell, "verdict", (str,), at)
        if verdict not in VERDICTS:
            raise ResultsError(f"{at}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        points = cell.get("points")
        cells.append(
            CellResult(
                _need(cell, "notebook", (str,), at), _need(cell, "grade_id", (str,), at),
                _need(cell, "kind", (str,), at),
                None if points is None else float(_need(cell, "points", number, at)),
                float(_need(cell, "max_points", number, at)), verdict,
                cell.get("diagnosis") if isinstance(cell.get("diagnosis"), str) else None,
            )
        )  # fmt: skip
    seconds = _need(data, "seconds", (dict,), where)
    return SubmissionResult(
        _need(data, "assignment", (str,), where), _need(data, "student", (str,), where), status,
        float(_need(data, "score", number, where)), float(_need(data, "max_score", number, where)),
        float(_need(data, "pending_manual", number, where)), str(data.get("error", "")), cells,
        [str(r) for r in _need(data, "repairs", (list,), where)],
        {str(k): float(v) for k, v in seconds.items() if isinstance(v, number)},
        str(data.get("sandbox", "none")), str(data.get("graded_at", "")),
    )  # fmt: skip


def read(path: str | os.PathLike) -> SubmissionResult:
    """One results file (:class:`ResultsError` naming the file when it is malformed)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable results file ({exc})") from None
    return parse(data, str(path))


def read_assignment(results_dir: str | os.PathLike, assignment: str) -> list[SubmissionResult]:
    """Every result of ``assignment``, sorted by student id."""
    folder = Path(results_dir) / assignment
    return sorted(
        (read(p) for p in folder.glob("*.json") if not p.name.startswith(".")),
        key=lambda r: r.student,
    )


def assignments(results_dir: str | os.PathLike) -> list[str]:
    """The assignments that have results under ``results_dir``."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder {root}: grade the class first")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.json")))
