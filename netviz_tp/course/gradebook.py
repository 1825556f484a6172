"""The course's nbgrader gradebook: ``open_gradebook(db_url)`` -> :class:`nbgrader.api.Gradebook`.

Opening never creates a gradebook by mistake (a missing SQLite file is an error naming the fix)
and never registers a course: the gradebook is nbgrader's, filled by ``netviz-tp grade``
(autograded points) and formgrader (manual points).
"""

from __future__ import annotations

from pathlib import Path


def sqlite_path(db_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other databases)."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


def open_gradebook(db_url: str):
    """An existing nbgrader gradebook (use as a context manager).

    Raises:
        FileNotFoundError: a SQLite gradebook that does not exist yet (grade first).
    """
    from nbgrader.api import Gradebook

    path = sqlite_path(db_url)
    if path is not None and not path.is_file():
        raise FileNotFoundError(
            f"no gradebook at {path}: run `netviz-tp grade` first (or pass the course with "
            "--course DIR, whose nbgrader_config.py says where gradebook.db is)"
        )
    return Gradebook(db_url, course_id="")  # "": read only, no course row is added


def register_assignment(course_root: Path, assignment: str, db_url: str) -> None:
    """Register ``assignment``, its notebooks and graded cells in the gradebook (created if
    needed) with nbgrader's own ``generate_assignment``; the release it writes is discarded,
    the course's release folder is not touched. Idempotent."""
    import tempfile

    from .runner import nbgrader

    with tempfile.TemporaryDirectory(prefix="netviz-register-") as tmp:
        run = nbgrader(
            course_root,
            ["generate_assignment", assignment, "--force", f"--CourseDirectory.root={course_root}",
             f"--CourseDirectory.db_url={db_url}", f"--CourseDirectory.release_directory={tmp}",
             "--log-level=WARN"],
            timeout=600,
        )  # fmt: skip
    if run.code != 0:
        raise RuntimeError(f"nbgrader could not register {assignment!r}: {run.last_error()}")


def record(gb, result, *, timestamp: str | None = None, reset_manual: bool = False) -> None:
    """Put one student's autograded result into the gradebook, as formgrader expects it.

    ``result`` is a :class:`netviz_tp.course.results.SubmissionResult`. Autograded points
    replace the previous ones; points and comments a human gave are kept unless
    ``reset_manual`` (then the written answers await the hand grader again). A written answer
    still to read needs a manual grade; one left as the stub scores 0. A submission that could
    not be graded scores 0 and is flagged for the instructor. ``timestamp``: when it was
    handed in (ISO 8601, UTC), for nbgrader's lateness.
    """
    gb.update_or_create_student(result.student)
    extra = {"timestamp": timestamp} if timestamp else {}
    sub = gb.update_or_create_submission(result.assignment, result.student, **extra)
    verdicts = {(c.notebook, c.grade_id): c for c in result.cells}
    for nb in sub.notebooks:
        nb.flagged = not result.graded
        for grade in nb.grades:
            cell = verdicts.get((nb.name, grade.name))
            if reset_manual:
                grade.manual_score = grade.extra_credit = None
            pending = cell is not None and cell.verdict == "pending"
            grade.auto_score = None if pending else (cell.points if cell else 0.0)
            grade.needs_manual_grade = pending and grade.manual_score is None
        if reset_manual:
            for comment in nb.comments:
                comment.manual_comment = None
    gb.db.commit()
