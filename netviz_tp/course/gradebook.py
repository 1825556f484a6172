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


def handed_in(submissions: Path, student: str, notebooks: list[str]) -> dict[str, Path]:
    """The files a student handed in: ``STUDENT.ipynb`` or ``STUDENT/NOTEBOOK.ipynb``."""
    flat = submissions / f"{student}.ipynb"
    if len(notebooks) == 1 and flat.is_file():
        return {notebooks[0]: flat}
    return {nb: p for nb in notebooks if (p := submissions / student / f"{nb}.ipynb").is_file()}


def publish(
    course,
    assignment: str,
    out: Path,
    submissions: Path,
    *,
    timestamps: dict[str, str] | None = None,
    reset_manual: bool = False,
) -> list:
    """Put a grading's results into the course, in nbgrader's layout, for formgrader.

    For each student graded in ``out`` (``out/results/STUDENT.json``): the notebooks as handed
    in go to ``<submitted>/STUDENT/<assignment>/`` (with nbgrader's ``timestamp.txt`` when the
    hand-in time is known: ``timestamps``, or ``submissions/STUDENT/timestamp.txt`` as
    ``nbgrader collect`` leaves it), the graded notebooks (repaired, run, with the trusted
    verdicts) to ``<autograded>/STUDENT/<assignment>/``, and the points to the gradebook
    (:func:`record`). Idempotent: publishing again replaces autograded points only.

    Args:
        course: the :class:`~netviz_tp.course.config.Course`.
        out: the grading's output folder (``results/``, ``autograded/STUDENT/*.ipynb``).
        submissions: the folder that was graded.

    Returns:
        The :class:`~netviz_tp.course.results.SubmissionResult` of every student published.
    """
    import shutil

    from .results import read_grading

    out, submissions = Path(out), Path(submissions)
    register_assignment(course.root, assignment, course.db_url)
    found = read_grading(out, assignment)
    notebooks = sorted(p.stem for p in course.source(assignment).glob("*.ipynb"))
    with open_gradebook(course.db_url) as gb:
        for result in found:
            folders = {
                kind: course.root / name / result.student / assignment
                for kind, name in (("submitted", course.submitted_directory),
                                   ("autograded", course.autograded_directory))
            }  # fmt: skip
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            for nb, path in handed_in(submissions, result.student, notebooks).items():
                shutil.copyfile(path, folders["submitted"] / f"{nb}.ipynb")
            stamp_file = submissions / result.student / "timestamp.txt"
            when = (timestamps or {}).get(result.student)
            if when is None and stamp_file.is_file():
                when = stamp_file.read_text().strip()
            if when:
                (folders["submitted"] / "timestamp.txt").write_text(when)
            for graded in sorted((out / "autograded" / result.student).glob("*.ipynb")):
                shutil.copyfile(graded, folders["autograded"] / graded.name)
            record(gb, result, timestamp=when, reset_manual=reset_manual)
    return found
