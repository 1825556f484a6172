"""Grading past one machine: (assignment, submissions) -> the same OUT/ as local grading, on Dask.

One Dask task per submission (``distributed``: a scheduler of the instructor's own cluster,
e.g. on JupyterHub/Kubernetes or an HPC queue through dask-jobqueue, or a local cluster).
**The course files travel with the task**: the client packs the assignment's source folder
and ``nbgrader_config.py`` into a :class:`CourseBundle` (bytes, sent once to every worker),
and each task carries the student's notebooks as bytes and returns the grade, the feedback
pages and the log as bytes. Workers need only the kit installed (``pip install
"netviz-tp[course]"``), no shared storage, and never see the instructor's disk. On a worker
the submission is graded by the same per-submission grading as on one machine (sandbox and
time limits included), in the worker's own scratch folder; the client writes each result as
soon as it arrives, so an interrupted run loses nothing already graded.

Between client and workers Dask moves Python objects (pickle): both are the instructor's; the
student's code only ever runs inside the worker's grading, never in a Dask process's scope.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

LOCAL = "local:"  # scheduler "local:N": a local cluster of N worker processes (tests, one box)
_SKIP = {".ipynb_checkpoints", "__pycache__"}


@dataclass(frozen=True)
class CourseBundle:
    """An assignment's source folder and the course's nbgrader_config.py, as one tar archive."""

    assignment: str
    source_directory: str
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:16]

    @classmethod
    def pack(cls, course_root: Path, source_directory: str, assignment: str) -> CourseBundle:
        """Pack ``course_root/nbgrader_config.py`` and ``source_directory/assignment/``."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(course_root / "nbgrader_config.py", "nbgrader_config.py")
            folder = course_root / source_directory / assignment
            for path in sorted(folder.rglob("*")):
                inside = path.relative_to(folder)
                if path.is_file() and not _SKIP & set(inside.parts):
                    tar.add(path, (Path(source_directory) / assignment / inside).as_posix())
        return cls(assignment, source_directory, buffer.getvalue())

    def unpack(self) -> Path:
        """The course root on this machine, unpacked once per bundle (safe against races)."""
        root = Path(tempfile.gettempdir()) / f"netviz-bundle-{self.digest}"
        if root.is_dir():
            return root
        staging = Path(tempfile.mkdtemp(prefix="netviz-bundle-tmp-"))
        with tarfile.open(fileobj=io.BytesIO(self.data)) as tar:
            tar.extractall(staging, filter="data")  # no absolute paths, links or devices
        try:
            staging.rename(root)
        except OSError:  # another task of this worker unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
        return root


@dataclass
class Graded:
    """What a task sends back: the student's row and the files of OUT/ it wrote, as bytes."""

    result: object  # the grading's per-student result (course.grades_csv.StudentResult)
    files: dict[str, bytes]  # path relative to OUT (feedback/STUDENT/..., logs/STUDENT.log)


_PREPARED: dict[str, tuple] = {}  # per worker process: bundle digest -> (work dir, releases)
_PREPARING = threading.Lock()


def _prepared(bundle: CourseBundle, cell_timeout: int) -> tuple:
    """The bundle's course with its assignment generated, once per worker process."""
    from .config import Course
    from .grading import _env, _prepare

    key = f"{bundle.digest}-{cell_timeout}"
    with _PREPARING:
        if key not in _PREPARED:
            course = Course.load(bundle.unpack())
            work = Path(tempfile.mkdtemp(prefix="netviz-grade-"))
            releases = _prepare(course, bundle.assignment, work, cell_timeout, _env(1))
            _PREPARED[key] = (course, work, releases)
        return _PREPARED[key]


def grade_remote(bundle: CourseBundle, student: str, notebooks: dict[str, bytes], options: dict):
    """The task: grade one student's notebooks ``{name: bytes}`` here -> :class:`Graded`.

    Runs the per-student step of :func:`netviz_tp.course.grading.grade` (repair, autograde in
    its own process tree, feedback) on this worker's prepared copy of the course.
    """
    from .grades_csv import cell_columns, total_points
    from .grading import _env, _graded_and_saved

    course, work, releases = _prepared(bundle, options["cell_timeout"])
    with tempfile.TemporaryDirectory(prefix="netviz-task-") as tmp:
        subs, out = Path(tmp) / "submission", Path(tmp) / "out"
        subs.mkdir()
        (out / "logs").mkdir(parents=True)
        files = {}
        for name, data in notebooks.items():
            files[name] = subs / f"{name}.ipynb"
            files[name].write_bytes(data)
        job = dict(
            assignment=bundle.assignment, columns=cell_columns(releases), out=out, work=work,
            course=course, releases=releases, env=_env(1), max_score=total_points(releases),
            student=student, files=files, **options,
        )  # fmt: skip
        result = _graded_and_saved(job)
        written = {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
    result.feedback = []
    return Graded(result, written)


def client_for(scheduler: str):
    """A ``distributed.Client`` for a scheduler address, or for ``local:N`` a new local cluster
    of N single-threaded worker processes (closed with the client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise RuntimeError(
            'grading on a Dask cluster needs `pip install "dask[distributed]"` '
            "(part of netviz-tp[course])"
        ) from exc
    if scheduler.startswith(LOCAL):
        workers = int(scheduler[len(LOCAL) :] or os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)  # fmt: skip
        client = Client(cluster)
        client.close = _closing(client.close, cluster)
        return client
    return Client(scheduler, timeout="30s")


def _closing(close, cluster):
    def both(*args, **kwargs):
        close(*args, **kwargs)
        cluster.close()

    return both


def fan_out(client, bundle: CourseBundle, students: dict, options: dict, on_result) -> list:
    """Submit one :func:`grade_remote` task per student ``{student: {notebook: path}}``; call
    ``on_result(Graded)`` on the client as each completes; returns the results by student."""
    from distributed import as_completed

    (shared,) = client.scatter([bundle], broadcast=True)
    futures = [
        client.submit(
            grade_remote, shared, student,
            {name: Path(path).read_bytes() for name, path in files.items()}, options,
            key=f"grade-{bundle.assignment}-{student}-{bundle.digest}", pure=False,
        )
        for student, files in students.items()
    ]  # fmt: skip
    done = []
    for future in as_completed(futures):
        graded = future.result()
        on_result(graded)
        done.append(graded.result)
    return sorted(done, key=lambda r: r.student)


def grade_on_cluster(
    assignment: str,
    submissions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scheduler: str,
    course: str | os.PathLike = ".",
    cell_timeout: int = 60,
    wall_timeout: float = 600.0,
) -> list:
    """:func:`netviz_tp.course.grading.grade` with one Dask task per submission: the same OUT/
    (grades.csv, feedback/STUDENT/, logs/) and the same per-student results.

    Args:
        scheduler: a Dask scheduler address (``tcp://host:8786``) or ``local:N`` (N local
            worker processes).
        the others: as :func:`netviz_tp.course.grading.grade`.
    """
    from .config import Course
    from .grades_csv import write_csv
    from .submissions import collect_submissions

    if cell_timeout < 1 or wall_timeout <= 0:
        raise ValueError("cell_timeout and wall_timeout must be positive")
    loaded = Course.load(course)
    notebooks = sorted(p.stem for p in loaded.source(assignment).glob("*.ipynb"))
    students = collect_submissions(submissions, notebooks)
    bundle = CourseBundle.pack(loaded.root, loaded.source_directory, assignment)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def keep(graded: Graded) -> None:
        for rel, data in graded.files.items():
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
            if rel.startswith("feedback/"):
                graded.result.feedback.append(dest)

    options = {"cell_timeout": cell_timeout, "wall_timeout": wall_timeout}
    client = client_for(scheduler)
    try:
        results = fan_out(client, bundle, students, options, keep)
    finally:
        client.close()
    columns = list(results[0].cells) if results else []
    write_csv(results, columns, out / "grades.csv")
    return results
