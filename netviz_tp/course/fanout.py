"""Grading past one machine: (assignment, submissions) -> the same OUT/ as local grading, on Dask.

One Dask task per submission (``distributed``: a scheduler of the instructor's own cluster,
e.g. on JupyterHub/Kubernetes or an HPC queue through dask-jobqueue, or a local cluster).
**The course files travel with the task**: the client packs the assignment's source folder
and ``nbgrader_config.py`` into a :class:`CourseBundle` (bytes, sent once to every worker),
and each task carries the student's notebooks as bytes and returns the grade, the feedback
pages and the graded notebooks as bytes. Workers need only the kit installed (``pip install
"netviz-tp[course]"``), no shared storage, and never see the instructor's disk. On a worker
the submission is graded by the same per-submission grading as on one machine (sandbox, trusted
verdicts with a secret drawn by each worker, time limits; the canary graded first on each
worker), in the worker's own scratch folder; the client writes each result as soon as it
arrives and resumes as local grading does, so an interrupted run loses nothing already graded.

Between client and workers Dask moves Python objects (pickle): both are the instructor's; the
student's code only ever runs inside the worker's grading, never in a Dask process's scope.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import secrets
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .sandbox import MAX_MEMORY

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
    files: dict[str, bytes]  # path relative to OUT (feedback/STUDENT/..., autograded/STUDENT/...)


_PREPARED: dict[str, tuple] = {}  # per worker process: batch key -> (context, scratch folder)
_PREPARING = threading.Lock()


def _close(ctx, work: Path) -> None:
    for referee in ctx.referees.values():
        referee.close()
    shutil.rmtree(work, ignore_errors=True)


def _prepared(bundle: CourseBundle, options: dict):
    """This worker's grading context for one batch (``options["batch"]``), made once: its own
    referees with a secret drawn here, the sandbox detected here, and the canary graded here
    first (:func:`netviz_tp.course.batch.canary`: an :class:`EnvironmentProblem` fails the
    task, and with it the batch). A new batch closes the contexts of earlier ones."""
    from .batch import _context, canary
    from .config import Course
    from .sandbox import detect

    key = f"{bundle.digest}-{options['batch']}"
    with _PREPARING:
        if key not in _PREPARED:
            for old in list(_PREPARED):
                _close(*_PREPARED.pop(old))
            course = Course.load(bundle.unpack())
            work = Path(tempfile.mkdtemp(prefix="netviz-grade-"))
            box = detect(options["sandbox_kind"])
            ctx = _context(course, bundle.assignment, work, box, options["cell_timeout"],
                           options["wall_timeout"], 1)  # fmt: skip
            ctx.max_disk, ctx.max_memory = options["max_disk"], options["max_memory"]
            ctx.demo_run = options["demo_run"]
            try:
                canary(ctx, course, work)
            except BaseException:
                _close(ctx, work)
                raise
            _PREPARED[key] = (ctx, work)
            atexit.register(_close, ctx, work)
        return _PREPARED[key][0]


def grade_remote(bundle: CourseBundle, student: str, notebooks: dict[str, bytes], options: dict):
    """The task: grade one student's notebooks ``{name: bytes}`` here -> :class:`Graded`.

    Runs :func:`netviz_tp.course.pipeline.grade_one` (sandbox, trusted verdicts, feedback),
    the per-submission step of :func:`netviz_tp.course.batch.grade`, on this worker's context.
    """
    from .pipeline import grade_one

    ctx = _prepared(bundle, options)
    with tempfile.TemporaryDirectory(prefix="netviz-task-") as tmp:
        subs, out = Path(tmp) / "submission", Path(tmp) / "out"
        subs.mkdir()
        files = {}
        for name, data in notebooks.items():
            files[name] = subs / f"{name}.ipynb"
            files[name].write_bytes(data)
        result = grade_one(student, files, ctx, out)
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


def grade_on_cluster(
    assignment: str,
    submissions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scheduler: str,
    course: str | os.PathLike = ".",
    cell_timeout: int = 60,
    wall_timeout: float = 600.0,
    sandbox_kind: str = "auto",
    regrade: bool = False,
    max_disk: int = 2**30,
    max_memory: int = MAX_MEMORY,
    demo_run: bool = True,
) -> list:
    """:func:`netviz_tp.course.batch.grade` with one Dask task per submission: the same OUT/
    (grades.csv, results/, feedback/, autograded/), resuming and flagged rows
    (:func:`~netviz_tp.course.batch.run_batch`), the canary on every worker before its first
    student.

    Args:
        scheduler: a Dask scheduler address (``tcp://host:8786``) or ``local:N`` (N local
            worker processes).
        the others: as :func:`netviz_tp.course.batch.grade`.
    """
    from distributed import wait

    from . import intake
    from .batch import run_batch
    from .config import Course
    from .grades_csv import cell_columns, total_points
    from .grading import release_notebooks

    if cell_timeout < 1 or wall_timeout <= 0:
        raise ValueError("cell_timeout and wall_timeout must be positive")
    loaded = Course.load(course)
    notebooks = sorted(p.stem for p in loaded.source(assignment).glob("*.ipynb"))
    entries = intake.scan(submissions, notebooks)
    releases = release_notebooks(assignment, course=loaded.root)
    bundle = CourseBundle.pack(loaded.root, loaded.source_directory, assignment)
    out = Path(out)
    options = dict(cell_timeout=cell_timeout, wall_timeout=wall_timeout, max_disk=max_disk,
                   max_memory=max_memory, sandbox_kind=sandbox_kind, demo_run=demo_run,
                   batch=secrets.token_hex(8))  # fmt: skip
    client = client_for(scheduler)
    try:
        (shared,) = client.scatter([bundle], broadcast=True)

        def graded(entry):
            future = client.submit(
                grade_remote, shared, entry.student,
                {name: Path(path).read_bytes() for name, path in entry.files.items()}, options,
                key=f"grade-{assignment}-{entry.student}-{options['batch']}", pure=False,
            )  # fmt: skip
            wait(future)
            return _kept(future.result(), out)

        workers = max(1, len(client.scheduler_info().get("workers", {})))
        return run_batch(entries, out, graded, columns=cell_columns(releases),
                         max_score=total_points(releases), label=f"{sandbox_kind} (Dask workers)",
                         regrade=regrade, jobs=2 * workers)  # fmt: skip
    finally:
        client.close()


def _kept(graded: Graded, out: Path):
    """Write a task's files into ``out`` atomically; returns its result (feedback paths in out)."""
    for rel, data in graded.files.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        if rel.startswith("feedback/"):
            graded.result.feedback.append(dest)
    return graded.result
