"""Grading: the assignment's release in a private copy of the course, and ``grade``.

:func:`release_notebooks` generates the student version of an assignment with ``nbgrader
generate_assignment`` in a private copy of the course (the reference for repairs and for
the sandboxed runs); :func:`grade` grades a folder of submissions with trusted verdicts in
a sandbox (:mod:`netviz_tp.course.batch`). The course layout:
:class:`~netviz_tp.course.config.Course`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from .config import CONFIG, Course, GradingError
from .runner import nbgrader, nbgrader_env

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


def grade(assignment: str, submissions, out, **options):
    """Grade a folder of submissions: see :func:`netviz_tp.course.batch.grade`."""
    from .batch import grade as grade_batch

    return grade_batch(assignment, submissions, out, **options)
