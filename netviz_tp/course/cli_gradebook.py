"""Command line after grading: ``netviz-tp export | feedback | report`` (added to :mod:`.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _export(args: argparse.Namespace) -> int:
    from .config import Course
    from .export import export

    course = Course.load(args.course)
    done = export(course.db_url, args.out, args.assignment or None)
    waiting = [f for f in done["final"] if f.status == "ungraded"]
    late = [f for f in done["final"] if f.seconds_late > 0]
    print(f"{len(done['final'])} row(s): {len(waiting)} still to grade by hand, {len(late)} late")
    for path in done["paths"]:
        print(path)
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from .config import Course
    from .handback import generate_feedback

    course = Course.load(args.course)
    pages = generate_feedback(
        course.root,
        args.assignment,
        args.out,
        db_url=course.db_url,
        autograded=course.root / course.autograded_directory,
        students=args.student or None,
    )
    print(f"feedback for {len(pages)} student(s), ready to hand back: {Path(args.out)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .class_report import write_report

    print(f"class report: {write_report(args.graded, args.out)}")
    return 0


def add_commands(sub, course_option) -> None:
    """Add the after-grading commands to the ``netviz-tp`` subparsers ``sub``;
    ``course_option(parser)`` adds the shared ``--course DIR``."""
    export = sub.add_parser("export", help="final grades from the course's gradebook, as CSV")
    course_option(export)
    export.add_argument(
        "--assignment",
        action="append",
        metavar="NAME",
        help="only this assignment (repeat for several; default: all)",
    )
    export.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for final_grades.csv and grades_long.csv",
    )
    export.set_defaults(func=_export)

    feedback = sub.add_parser(
        "feedback", help="feedback pages after manual grading, per student, without hidden tests"
    )
    feedback.add_argument("assignment", help="assignment name, e.g. 01_saliency")
    course_option(feedback)
    feedback.add_argument(
        "--out", required=True, metavar="DIR", help="folder of STUDENT/ASSIGNMENT/NOTEBOOK.html"
    )
    feedback.add_argument(
        "--student",
        action="append",
        metavar="ID",
        help="only this student (repeat for several; default: all)",
    )
    feedback.set_defaults(func=_feedback)

    report = sub.add_parser("report", help="the class report: what the class got wrong")
    report.add_argument(
        "graded",
        nargs="+",
        metavar="GRADED_DIR",
        help="output folder(s) of `netviz-tp grade`, one per assignment",
    )
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the HTML pages")
    report.set_defaults(func=_report)
