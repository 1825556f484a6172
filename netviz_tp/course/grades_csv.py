"""Grade rows: nbgrader's gradebook -> :class:`StudentResult` -> grades.csv (+ not-graded page).

grades.csv has one row per student: ``student, score, max_score``, then one column per graded
cell (its grade id, ``notebook:grade_id`` when the assignment has several notebooks), then
``pending_manual, error, notes``. A manually graded answer is left blank (and its points
counted in ``pending_manual``) until graded by hand in the gradebook; an answer left as the
stub scores 0 at once, as nbgrader does. ``score`` sums the points known so far;
``max_score`` includes the manual points. ``notes`` lists the repairs made to the submission.
A student whose submission could not be graded gets score 0, the reason in ``error`` and a
``not_graded.html`` page instead of nbgrader's feedback. Each row is also kept, with every
graded cell's verdict, as ``results/STUDENT.json`` (:meth:`StudentResult.save`).
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

TRAILING = ("pending_manual", "error", "notes")  # grades.csv columns after the cell columns


@dataclass
class StudentResult:
    """One row of grades.csv: scores by column name (None = awaiting manual grading)."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float | None] = field(default_factory=dict)
    pending_manual: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    feedback: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each nbgrader step
    verdicts: list[dict] = field(default_factory=list)  # per graded cell: course.results
    sandbox: str = ""

    def save(self, folder: Path) -> Path:
        """Write ``folder/STUDENT.json`` atomically (read by :mod:`netviz_tp.course.results`)."""
        folder.mkdir(parents=True, exist_ok=True)
        data = {**dataclasses.asdict(self), "feedback": [str(p) for p in self.feedback]}
        dest = folder / f"{self.student}.json"
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
        os.replace(tmp, dest)
        return dest


def cell_columns(releases: dict) -> list[tuple[str, str, str]]:
    """(column, notebook, grade id) for every graded cell of the release notebooks, in order."""
    several = len(releases) > 1
    return [
        (f"{nb}:{meta['grade_id']}" if several else meta["grade_id"], nb, meta["grade_id"])
        for nb, release in releases.items()
        for cell in release.cells
        if (meta := cell.metadata.get("nbgrader", {})).get("grade")
    ]


def total_points(releases: dict) -> float:
    """The points of every graded cell of the release notebooks, manual ones included."""
    return sum(
        float(cell.metadata["nbgrader"].get("points", 0))
        for release in releases.values()
        for cell in release.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    )


def read_grades(root: Path, assignment: str, result: StudentResult, columns: list) -> None:
    """Add the student's grade of each ``columns`` cell from ``root/gradebook.db`` to ``result``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for column, nb, gid in columns:
            grade = gb.find_grade(gid, nb, assignment, result.student)
            result.max_score += grade.max_score
            pending = grade.manual_score is None and grade.auto_score is None
            result.cells[column] = None if pending else grade.score
            result.pending_manual += grade.max_score if pending else 0.0
            result.score += 0.0 if pending else grade.score


def mark_failed(result: StudentResult, columns: list, reason: str) -> StudentResult:
    """A submission that could not be graded: score 0 in every column, ``reason`` as error."""
    result.error = reason
    result.score = 0.0
    result.cells = {column: 0.0 for column, _, _ in columns}
    return result


def failure_page(result: StudentResult, out: Path) -> None:
    """Write OUT/feedback/STUDENT/not_graded.html with the score and the reason."""
    dest = out / "feedback" / result.student / "not_graded.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        "<!DOCTYPE html><html><body><h1>Not graded</h1>"
        f"<p>Score: {result.score:.1f} / {result.max_score:.1f}</p>"
        f"<p>{html.escape(result.error)}</p></body></html>\n"
    )
    result.feedback.append(dest)


def write_csv(results: list[StudentResult], columns: list[str], path: Path) -> None:
    """Write grades.csv (see the module docstring for its columns)."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", *columns, *TRAILING])
        for r in results:
            writer.writerow(
                [r.student, number(r.score), number(r.max_score)]
                + [number(r.cells.get(c)) for c in columns]
                + [number(r.pending_manual), r.error, "; ".join(r.notes)]
            )
