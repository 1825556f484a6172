"""Grading: (assignment, folder of handed-in notebooks) -> OUT/grades.csv + OUT/feedback/<student>/.

One command grades a class with nbgrader's own autograde and its real gradebook:

1. a private copy of the course (the assignment's source folder and nbgrader_config.py) in a
   temporary directory; ``nbgrader generate_assignment`` registers the assignment and its
   cells in a fresh gradebook and produces the release, the reference for repairs;
2. per student, in a copy of that course: the submission is repaired
   (:mod:`netviz_tp.submissions`: lost metadata, duplicated, moved, deleted cells), then
   ``nbgrader autograde`` and ``nbgrader generate_feedback`` run in a subprocess with
   ``NETVIZ_TP_FAST=1``, a per-cell timeout (nbgrader's ``Execute.timeout``; errors and
   timed-out cells do not stop the notebook) and a per-submission wall clock. A submission
   that cannot be graded gets score 0 and the reason in the ``error`` column; the batch goes
   on. Students run in parallel with ``jobs``.

grades.csv, its columns and the page of an ungraded submission: :mod:`netviz_tp.grades_csv`.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from netviz_tp.grades_csv import (
    StudentResult,
    cell_columns,
    failure_page,
    mark_failed,
    read_grades,
    total_points,
    write_csv,
)
from netviz_tp.submissions import GradingError, collect_submissions, repair

CONFIG = "nbgrader_config.py"
_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


@dataclass
class Course:
    """A course directory and where its assignments' sources live."""

    root: Path
    source_directory: str
    release_directory: str = "release"

    @classmethod
    def load(cls, root: str | os.PathLike) -> Course:
        """Read ``root/nbgrader_config.py`` (traitlets) for the source directory name."""
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        if not (root / CONFIG).is_file():
            raise GradingError(f"{root} is not an nbgrader course: no {CONFIG} (use --course DIR)")
        config = PyFileConfigLoader(CONFIG, path=str(root)).load_config()
        settings = config.CourseDirectory
        source = settings.get("source_directory", "source")
        return cls(root, str(source), str(settings.get("release_directory", "release")))

    def assignments(self) -> list[str]:
        """Names of the assignment folders under the source directory."""
        source = self.root / self.source_directory
        return sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []

    def source(self, assignment: str) -> Path:
        """The source folder of an assignment; unknown names get a suggestion."""
        folder = self.root / self.source_directory / assignment
        if not folder.is_dir() or Path(assignment).name != assignment or assignment[:1] == ".":
            known = self.assignments()
            close = difflib.get_close_matches(assignment, known, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GradingError(
                f"unknown assignment {assignment!r} in {self.root}{hint} "
                f"(known: {', '.join(known) or 'none'})"
            )
        return folder


def _write_config(course: Course, root: Path, cell_timeout: int) -> None:
    text = (course.root / CONFIG).read_text()
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG).write_text(
        f"{text}\n\n# netviz-tp grade: private working copy\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}\n"
        f"c.CourseDirectory.source_directory = {course.source_directory!r}\n"
        f'c.CourseDirectory.release_directory = "release"\n'
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.OverwriteCells.add_missing_cells = False\n"
    )


def _env(jobs: int) -> dict[str, str]:
    """The subprocess environment: fast notebooks, nbgrader's `alembic` on PATH, and one
    share of the CPU cores per parallel job (torch threads would otherwise oversubscribe)."""
    env = dict(os.environ, NETVIZ_TP_FAST="1", PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def _nbgrader(root: Path, args: list[str], timeout: float, env: dict, seconds: dict) -> tuple:
    """Run ``nbgrader ARGS`` in ``root``; returns (exit code, log), code -1 when over
    ``timeout`` (the whole process tree is killed); records the wall time in ``seconds``."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        log, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        log, _ = proc.communicate()
        code = -1
    seconds[args[0]] = time.perf_counter() - start
    return code, log


def _last_error(log: str) -> str:
    errors = [line.split("]", 1)[-1].strip() for line in log.splitlines() if "| ERROR]" in line]
    return errors[-1] if errors else (log.strip().splitlines() or ["no output"])[-1]


def _prepare(course: Course, assignment: str, work: Path, cell_timeout: int, env: dict) -> dict:
    """Register the assignment in a fresh gradebook; returns {notebook: release notebook}."""
    base = work / "_course"
    _write_config(course, base, cell_timeout)
    dest = base / course.source_directory / assignment
    shutil.copytree(course.source(assignment), dest, ignore=_IGNORE)
    code, log = _nbgrader(base, ["generate_assignment", assignment, "--force"], 600, env, {})
    release = base / "release" / assignment
    if code != 0:
        raise GradingError(f"nbgrader generate_assignment {assignment} failed: {_last_error(log)}")
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sorted(release.glob("*.ipynb"))}
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
    _write_config(job["course"], root, job["cell_timeout"])
    target = root / "submitted" / student / assignment
    target.mkdir(parents=True)
    try:
        for nb, path in files.items():
            fixed = repair(nbformat.read(path, as_version=4), releases[nb])
            result.notes += [f"{nb}: {note}" if len(releases) > 1 else note for note in fixed.notes]
            nbformat.write(fixed.notebook, target / f"{nb}.ipynb")
    except Exception as exc:  # any unreadable notebook: that student only, recorded in the CSV
        return mark_failed(result, columns, f"unreadable notebook: {type(exc).__name__}: {exc}")
    args = [assignment, "--student", student, "--force"]
    code, log = _nbgrader(
        root, ["autograde", *args], job["wall_timeout"], job["env"], result.seconds
    )
    logs = out / "logs"
    (logs / f"{student}.log").write_text(log)
    if code != 0:
        reason = (
            f"timed out after {job['wall_timeout']:g} s (whole submission)"
            if code == -1
            else f"autograde failed: {_last_error(log)}"
        )
        return mark_failed(result, columns, reason)
    result.max_score = 0.0
    read_grades(root, assignment, result, columns)
    code, log = _nbgrader(root, ["generate_feedback", *args], 600, job["env"], result.seconds)
    (logs / f"{student}.log").write_text((logs / f"{student}.log").read_text() + log)
    if code != 0:
        result.error = f"generate_feedback failed: {_last_error(log)}"
    for page in sorted((root / "feedback" / student / assignment).glob("*.html")):
        dest = out / "feedback" / student / page.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, dest)
        result.feedback.append(dest)
    shutil.rmtree(root, ignore_errors=True)
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
        out: output folder: ``grades.csv``, ``feedback/STUDENT/*.html``, ``logs/STUDENT.log``.
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
            results = list(pool.map(_grade_student, jobs_list))
    for result in results:
        if not result.feedback:
            failure_page(result, out)
    write_csv(results, [c for c, _, _ in columns], out / "grades.csv")
    return results
