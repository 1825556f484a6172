"""Grading: (assignment, folder of handed-in notebooks) -> OUT/grades.csv + OUT/feedback/<student>/.

One command grades a class with nbgrader's own autograde and its real gradebook:

1. a private copy of the course (the assignment's source folder and nbgrader_config.py) in a
   temporary directory; ``nbgrader generate_assignment`` registers the assignment and its
   cells in a fresh gradebook and produces the release, the reference for repairs;
2. per student, in a copy of that course: the submission is repaired
   (:mod:`netviz_tp.course.submissions`: lost metadata, duplicated, moved, deleted cells), then
   ``nbgrader autograde`` and ``nbgrader generate_feedback`` run in a subprocess with
   ``NETVIZ_TP_FAST=1``, a per-cell timeout (nbgrader's ``Execute.timeout``; errors and
   timed-out cells do not stop the notebook) and a per-submission wall clock. A submission
   that cannot be graded gets score 0 and the reason in the ``error`` column; the batch goes
   on. Students run in parallel with ``jobs``.

grades.csv, its columns and the page of an ungraded submission: :mod:`netviz_tp.course.grades_csv`;
the course layout: :class:`~netviz_tp.course.config.Course`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from .config import CONFIG, Course, GradingError
from .grades_csv import (
    StudentResult,
    cell_columns,
    failure_page,
    mark_failed,
    read_grades,
    total_points,
    write_csv,
)
from .runner import nbgrader, nbgrader_env
from .submissions import collect_submissions, repair

_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


def _private_copy(course: Course, root: Path, cell_timeout: int) -> Course:
    """Write the nbgrader_config.py of a private working copy of ``course`` at ``root``."""
    private = course.moved(root)
    text = (course.root / CONFIG).read_text()
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG).write_text(
        f"{text}\n\n# netviz-tp grade: private working copy\n{private.folder_settings()}"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}\n"
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.OverwriteCells.add_missing_cells = False\n"
    )
    return private


def _env(jobs: int) -> dict[str, str]:
    """The subprocess environment: fast notebooks, and one share of the CPU cores per
    parallel job (torch threads would otherwise oversubscribe)."""
    env = nbgrader_env(NETVIZ_TP_FAST="1", PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    return env


def _prepare(course: Course, assignment: str, work: Path, cell_timeout: int, env: dict) -> dict:
    """Register the assignment in a fresh gradebook; returns {notebook: release notebook}."""
    base = _private_copy(course, work / "_course", cell_timeout)
    dest = base.root / base.source_directory / assignment
    shutil.copytree(course.source(assignment), dest, ignore=_IGNORE)
    run = nbgrader(base.root, ["generate_assignment", assignment, "--force"], timeout=600, env=env)
    if run.code != 0:
        raise GradingError(f"nbgrader generate_assignment {assignment} failed: {run.last_error()}")
    release = sorted(base.release(assignment).glob("*.ipynb"))
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in release}
    if not notebooks:
        raise GradingError(f"assignment {assignment!r} has no notebook in {dest}")
    return notebooks


def release_notebooks(assignment: str, course: str | os.PathLike = ".") -> dict:
    """The student version of each notebook of an assignment, as nbgrader generates it.

    Returns {notebook name: NotebookNode}; nothing is written to the course directory.
    """
    loaded = Course.load(course)
    with tempfile.TemporaryDirectory(prefix="netviz-release-") as tmp:
        return _prepare(loaded, assignment, Path(tmp), 60, _env(jobs=1))


def _grade_student(job: dict) -> StudentResult:
    """Repair, autograde and give feedback to one student in a private copy of the course."""
    student, files, releases = job["student"], job["files"], job["releases"]
    assignment, columns, out = job["assignment"], job["columns"], job["out"]
    result = StudentResult(student, max_score=job["max_score"])
    root = job["work"] / "students" / student
    shutil.copytree(job["work"] / "_course", root)
    private = _private_copy(job["course"], root, job["cell_timeout"])
    target = root / private.submitted_directory / student / assignment
    target.mkdir(parents=True)
    try:
        for nb, path in files.items():
            fixed = repair(nbformat.read(path, as_version=4), releases[nb])
            result.notes += [f"{nb}: {note}" if len(releases) > 1 else note for note in fixed.notes]
            nbformat.write(fixed.notebook, target / f"{nb}.ipynb")
    except Exception as exc:  # any unreadable notebook: that student only, recorded in the CSV
        return mark_failed(result, columns, f"unreadable notebook: {type(exc).__name__}: {exc}")
    args = [assignment, "--student", student, "--force"]
    run = nbgrader(root, ["autograde", *args], timeout=job["wall_timeout"], env=job["env"])
    result.seconds["autograde"] = run.seconds
    logs = out / "logs"
    (logs / f"{student}.log").write_text(run.log)
    if run.code != 0:
        reason = (
            f"timed out after {job['wall_timeout']:g} s (whole submission)"
            if run.code == -1
            else f"autograde failed: {run.last_error()}"
        )
        return mark_failed(result, columns, reason)
    result.max_score = 0.0
    read_grades(root, assignment, result, columns)
    graded = root / private.autograded_directory / student / assignment
    for notebook in sorted(graded.glob("*.ipynb")):  # for the course's formgrader
        dest = out / "autograded" / student / notebook.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, dest)
    result.verdicts = _verdicts(releases, graded, result)
    run = nbgrader(root, ["generate_feedback", *args], timeout=600, env=job["env"])
    result.seconds["generate_feedback"] = run.seconds
    (logs / f"{student}.log").write_text((logs / f"{student}.log").read_text() + run.log)
    if run.code != 0:
        result.error = f"generate_feedback failed: {run.last_error()}"
    for page in sorted((root / private.feedback_directory / student / assignment).glob("*.html")):
        dest = out / "feedback" / student / page.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, dest)
        result.feedback.append(dest)
    shutil.rmtree(root, ignore_errors=True)
    return result


def _diagnosis(outputs: list) -> str:
    """The checks' verdict in a test cell's error output ("name: what looks wrong"), if any."""
    for output in outputs:
        if output.get("output_type") == "error":
            text = str(output.get("evalue", "")).removeprefix("✘ ")
            return text if output.get("ename") == "AssertionError" else f"{output['ename']}: {text}"
    return ""


def _verdicts(releases: dict, graded: Path, result: StudentResult) -> list[dict]:
    """Each graded cell's verdict (the format of :mod:`netviz_tp.course.results`)."""
    found = []
    for nb, release in releases.items():
        path = graded / f"{nb}.ipynb"
        ran = nbformat.read(path, as_version=4).cells if path.is_file() else []
        outputs = {
            c.metadata.get("nbgrader", {}).get("grade_id"): c.get("outputs", []) for c in ran
        }
        for cell in release.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade"):
                continue
            gid, most = meta["grade_id"], float(meta.get("points", 0))
            points = result.cells.get(f"{nb}:{gid}" if len(releases) > 1 else gid)
            if meta.get("solution"):  # a written answer: the hand grader's, or the stub's 0
                verdict, diagnosis = ("pending", "") if points is None else ("unanswered", "")
            else:
                verdict = "pass" if points == most else "fail"
                diagnosis = "" if verdict == "pass" else _diagnosis(outputs.get(gid) or [])
            found.append(dict(grade_id=gid, notebook=nb, max_points=most, points=points,
                              verdict=verdict, diagnosis=diagnosis, lines=[]))  # fmt: skip
    return found


def _graded_and_saved(job: dict) -> StudentResult:
    """One student: graded, then kept at once as ``OUT/results/STUDENT.json``."""
    result = _grade_student(job)
    if not result.feedback:
        failure_page(result, job["out"])
    result.save(job["out"] / "results")
    return result


def grade(
    assignment: str,
    submissions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    course: str | os.PathLike = ".",
    cell_timeout: int = 60,
    wall_timeout: float = 600.0,
    jobs: int = 1,
) -> list[StudentResult]:
    """Autograde a folder of submissions with nbgrader; write grades.csv and feedback HTML.

    Args:
        assignment: assignment folder name under the course's source directory.
        submissions: folder of ``STUDENT.ipynb`` (or ``STUDENT/NOTEBOOK.ipynb``) files.
        out: output folder: ``grades.csv``, ``results/STUDENT.json``, ``feedback/STUDENT/*.html``,
            ``autograded/STUDENT/*.ipynb``, ``logs/STUDENT.log``.
        course: the nbgrader course directory (holds nbgrader_config.py). Default ".".
        cell_timeout: seconds per cell before it is interrupted and scored as failed (60).
        wall_timeout: seconds per submission before its grading is abandoned (600).
        jobs: students graded in parallel (1).

    Returns:
        One :class:`StudentResult` per student, sorted by student id; a student whose
        submission could not be graded has score 0 and ``error`` set.
    """
    if jobs < 1 or cell_timeout < 1 or wall_timeout <= 0:
        raise ValueError("jobs, cell_timeout and wall_timeout must be positive")
    course = Course.load(course)
    notebooks = sorted(p.stem for p in course.source(assignment).glob("*.ipynb"))
    students = collect_submissions(submissions, notebooks)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="netviz-grade-") as tmp:
        work = Path(tmp)
        env = _env(jobs)
        releases = _prepare(course, assignment, work, cell_timeout, env)
        columns = cell_columns(releases)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        shared = dict(
            assignment=assignment, columns=columns, out=out, work=work, course=course,
            releases=releases, cell_timeout=cell_timeout, wall_timeout=wall_timeout, env=env,
            max_score=total_points(releases),
        )  # fmt: skip
        jobs_list = [dict(shared, student=s, files=f) for s, f in students.items()]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_graded_and_saved, jobs_list))
    write_csv(results, [c for c, _, _ in columns], out / "grades.csv")
    return results
