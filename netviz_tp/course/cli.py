"""Command line: ``netviz-tp run | build | grade | export | feedback | report`` (argparse; errors
exit non-zero in one line)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_gradebook import add_commands


def _run(args: argparse.Namespace) -> int:
    from . import report

    page = report.main(args.out, args.model)
    print(f"report written to {page}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from . import release
    from .config import Course

    course = Course.load(args.course)
    if args.check:
        problems = release.check_in_sync(course)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(
                f"release out of sync: {len(problems)} problem(s); run `netviz-tp build`",
                file=sys.stderr,
            )
            return 1
        print("release in sync with the sources")
        return 0
    release.build(course)
    folder = course.root / course.release_directory
    written = sorted(
        p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
    )
    for path in written:
        print(path.relative_to(course.root))
    print(f"release built: {len(written)} file(s) in {folder}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .grading import grade

    options = dict(course=args.course, cell_timeout=args.timeout, wall_timeout=args.wall_timeout,
                   sandbox_kind=args.sandbox, regrade=args.regrade,
                   demo_run=not args.no_demo_run)  # fmt: skip
    if args.scheduler:
        from .fanout import grade_on_cluster

        results = grade_on_cluster(
            args.assignment, args.submissions, args.out, scheduler=args.scheduler, **options
        )
    else:
        results = grade(args.assignment, args.submissions, args.out, jobs=args.jobs, **options)
    if not args.no_gradebook:
        _publish(args)
    failed = [r for r in results if r.error]
    for r in results:
        state = f"  ERROR: {r.error}" if r.error else ""
        pending = f" (+{r.pending_manual:g} to grade by hand)" if r.pending_manual else ""
        print(f"{r.student}: {r.score:g} / {r.max_score:g}{pending}{state}")
    print(f"grades: {Path(args.out) / 'grades.csv'}; feedback: {Path(args.out) / 'feedback'}")
    if failed:
        print(
            f"{len(failed)} of {len(results)} submission(s) not fully graded; see the error "
            f"column and {Path(args.out) / 'logs'}",
            file=sys.stderr,
        )
        return 3
    return 0


def _publish(args: argparse.Namespace) -> None:
    """Put the grading into the course's gradebook (see :func:`.gradebook.publish`)."""
    import csv

    from .config import Course
    from .gradebook import publish

    stamps = None
    if args.timestamps:
        with open(args.timestamps, newline="") as handle:
            rows = list(csv.reader(handle))
        stamps = {row[0]: row[1] for row in rows[1:] if len(row) >= 2}
    course = Course.load(args.course)
    found = publish(course, args.assignment, Path(args.out), Path(args.submissions),
                    timestamps=stamps, reset_manual=args.reset_manual)  # fmt: skip
    print(f"gradebook: {len(found)} submission(s) in {course.db_url}; grade the written answers "
          "in formgrader, then `netviz-tp export` and `netviz-tp feedback`")  # fmt: skip


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    """The ``netviz-tp`` argument parser."""
    top = argparse.ArgumentParser(prog="netviz-tp", description=__doc__.split(":")[0])
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run every method on the course images; write an HTML report")
    run.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    run.add_argument("--model", default="auto", help="model name (default: auto)")
    run.set_defaults(func=_run)

    build = sub.add_parser("build", help="generate the student release from solutions/")
    build.add_argument(
        "--course", default=".", metavar="DIR", help="nbgrader course directory (default: .)"
    )
    build.add_argument(
        "--check",
        action="store_true",
        help="only check the release is in sync; exit 1 listing problems",
    )
    build.set_defaults(func=_build)

    grade = sub.add_parser("grade", help="autograde a folder of submissions with nbgrader")
    grade.add_argument("assignment", help="assignment name, e.g. 01_saliency")
    grade.add_argument("submissions", help="folder of STUDENT.ipynb (or STUDENT/NOTEBOOK.ipynb)")
    grade.add_argument(
        "--out", required=True, metavar="OUT_DIR", help="output folder for grades.csv and feedback/"
    )
    grade.add_argument(
        "--course", default=".", metavar="DIR", help="nbgrader course directory (default: .)"
    )
    grade.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive(int),
        default=60,
        help="seconds per cell before it is interrupted (default: 60)",
    )
    grade.add_argument(
        "--wall-timeout",
        metavar="SECONDS",
        type=_positive(float),
        default=600.0,
        help="seconds per submission before it is abandoned (default: 600)",
    )
    grade.add_argument(
        "--jobs",
        metavar="N",
        type=_positive(int),
        default=1,
        help="students graded in parallel (default: 1)",
    )
    grade.add_argument(
        "--sandbox",
        choices=("auto", "bubblewrap", "none"),
        default="auto",
        help="where student code runs: bubblewrap (required), none, or auto (bubblewrap when "
        "it works here, else none, said on stderr and in grades.csv; default)",
    )
    grade.add_argument(
        "--regrade",
        action="store_true",
        help="grade again the students already graded in OUT_DIR (default: resume)",
    )
    grade.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a Dask cluster: its scheduler (tcp://host:8786), or local:N for N local "
        "worker processes (--jobs is then unused)",
    )
    grade.add_argument(
        "--reset-manual",
        action="store_true",
        help="forget the points and comments given by hand to the re-graded students",
    )
    grade.add_argument(
        "--timestamps",
        metavar="CSV",
        help="hand-in times: a CSV of student,timestamp (ISO 8601, UTC) with a header row "
        "(default: STUDENT/timestamp.txt beside the notebook, as nbgrader collect leaves it)",
    )
    grade.add_argument(
        "--no-demo-run",
        action="store_true",
        help="skip the run of the whole notebook that gives the feedback pages their plots and "
        "explorers: about 2.5x faster for a large class; the pages then show code without "
        "outputs",
    )
    grade.add_argument(
        "--no-gradebook",
        action="store_true",
        help="only write OUT; leave the course's gradebook, submitted/ and autograded/ alone",
    )
    grade.set_defaults(func=_grade)
    add_commands(sub, _course_option)
    return top


def _course_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--course", default=".", metavar="DIR", help="nbgrader course directory (default: .)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``netviz-tp``. Exit status: 0 done, 1 error (one line on stderr; for
    ``grade`` also a failed canary or an environment problem), 2 bad arguments (argparse),
    3 grades written but some submissions could not be graded."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, OSError, ValueError, KeyError) as exc:  # GradingError included
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"netviz-tp {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
