"""Final grades: nbgrader gradebook -> ``final_grades.csv`` (per student, assignment) + long table.

Read with nbgrader's own API (:class:`nbgrader.api.Gradebook`), after autograding and after the
written answers were graded by hand in formgrader. Per cell, nbgrader keeps the autograded
points (``auto_score``), the hand-given ones (``manual_score``, which take precedence, plus
``extra_credit``) and whether a human still has to look at it (``needs_manual_grade``).

- ``grades_long.csv``: one row per student, assignment and graded cell (a tidy table:
  ``pandas.read_csv(...).pivot_table(index="student", columns="cell", values="points")``).
- ``final_grades.csv``: one row per student and assignment: ``score`` (nbgrader's: cell points
  summed), ``late_penalty`` (nbgrader's LateSubmissionPlugin), ``final = max(0, score -
  late_penalty)``, the autograded and manual parts, what is still ungraded, and the submission
  ``timestamp`` against the ``duedate`` (extensions included). A student known to the gradebook
  who did not hand an assignment in gets ``status = missing`` and 0.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .gradebook import open_gradebook

LONG_CSV = "grades_long.csv"
FINAL_CSV = "final_grades.csv"


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one student's submission (a row of grades_long.csv)."""

    student: str
    assignment: str
    notebook: str
    cell: str  # the nbgrader grade id
    cell_type: str  # "code" or "markdown" (a written answer)
    max_points: float
    auto_points: float | None  # None: not autograded
    manual_points: float | None  # None: not graded by hand (yet)
    extra_credit: float | None
    points: float  # nbgrader's score: manual if given, else autograded, + extra credit
    ungraded: bool  # nbgrader's needs_manual_grade


@dataclass(frozen=True)
class FinalGrade:
    """One student's result on one assignment (a row of final_grades.csv)."""

    student: str
    assignment: str
    status: str  # "graded", "ungraded" (some cells await a human) or "missing"
    final: float
    score: float
    max_score: float
    auto_points: float  # points of the cells scored by the autograder only
    manual_points: float  # points of the cells scored by hand (extra credit included)
    ungraded_points: float
    ungraded_cells: str  # "notebook:cell; ..." still awaiting a human
    timestamp: str  # ISO 8601, UTC, as nbgrader recorded it ("" unknown)
    duedate: str
    seconds_late: float
    late_penalty: float


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


def cell_grades(gradebook, assignment: str) -> list[CellGrade]:
    """Every graded cell of every submission of ``assignment``, by student then notebook order."""
    rows = []
    for sub in sorted(gradebook.assignment_submissions(assignment), key=lambda s: s.student.id):
        for nb in sorted(sub.notebooks, key=lambda n: n.name):
            for g in sorted(nb.grades, key=lambda g: (g.cell.notebook.name, g.cell.name)):
                rows.append(
                    CellGrade(
                        sub.student.id, assignment, nb.name, g.name, g.cell_type,
                        float(g.max_score), g.auto_score, g.manual_score, g.extra_credit,
                        float(g.score), bool(g.needs_manual_grade),
                    )
                )  # fmt: skip
    return rows


def final_grades(gradebook, assignment: str, cells: list[CellGrade]) -> list[FinalGrade]:
    """One :class:`FinalGrade` per student of the gradebook (``cells`` from :func:`cell_grades`)."""
    max_score = float(gradebook.find_assignment(assignment).max_score or 0.0)
    handed_in = {s.student.id: s for s in gradebook.assignment_submissions(assignment)}
    rows = []
    for student in sorted(s.id for s in gradebook.students):
        sub = handed_in.get(student)
        if sub is None:
            rows.append(FinalGrade(student, assignment, "missing", 0.0, 0.0, max_score,
                                   0.0, 0.0, 0.0, "", "", "", 0.0, 0.0))  # fmt: skip
            continue
        mine = [c for c in cells if (c.student, c.assignment) == (student, assignment)]
        waiting = [c for c in mine if c.ungraded]
        score = float(sub.score)
        penalty = float(sub.late_submission_penalty or 0.0)
        rows.append(
            FinalGrade(
                student, assignment, "ungraded" if waiting else "graded",
                max(0.0, score - penalty), score, max_score,
                sum((c.points for c in mine if c.manual_points is None), 0.0),
                sum((c.points for c in mine if c.manual_points is not None), 0.0),
                sum((c.max_points for c in waiting), 0.0),
                "; ".join(f"{c.notebook}:{c.cell}" for c in waiting),
                _iso(sub.timestamp), _iso(sub.duedate), float(sub.total_seconds_late), penalty,
            )
        )  # fmt: skip
    return rows


def _write(path: Path, rows: list, kind) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(kind)])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    os.replace(tmp, path)


def export(db_url: str, out: str | os.PathLike, assignments: list[str] | None = None) -> dict:
    """Write OUT/final_grades.csv and OUT/grades_long.csv from the gradebook at ``db_url``.

    Args:
        db_url: the gradebook, e.g. ``sqlite:///course/gradebook.db``.
        out: output folder (created).
        assignments: names to export (default: every assignment of the gradebook).

    Returns:
        {"final": [FinalGrade], "cells": [CellGrade], "paths": (final csv, long csv)}.
    """
    from nbgrader.api import MissingEntry

    out = Path(out)
    with open_gradebook(db_url) as gb:
        known = sorted(a.name for a in gb.assignments)
        chosen = assignments or known
        for name in chosen:
            try:
                gb.find_assignment(name)
            except MissingEntry:
                raise ValueError(
                    f"assignment {name!r} is not in the gradebook {db_url} "
                    f"(it has: {', '.join(known) or 'none'}); grade it first"
                ) from None
        cells = [c for name in chosen for c in cell_grades(gb, name)]
        final = [f for name in chosen for f in final_grades(gb, name, cells)]
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / FINAL_CSV, out / LONG_CSV)
    _write(paths[0], final, FinalGrade)
    _write(paths[1], cells, CellGrade)
    return {"final": final, "cells": cells, "paths": paths}
