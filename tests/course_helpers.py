"""Shared by the instructor-side tests: the toy course's submissions and the CLI runner."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

TOY = Path(__file__).parent / "fixtures" / "grading"


def toy_solution(course: Path = TOY):
    """(release, solution handed in as a student would) of the toy course at ``course``."""
    from netviz_tp.course.grading import release_notebooks
    from netviz_tp.course.submissions import fill_answers

    release = release_notebooks("toy", course=course)["toy"]
    source = nbformat.read(course / "source" / "toy" / "toy.ipynb", as_version=4)
    return release, fill_answers(release, source)


def with_answer(nb, grade_id: str, source: str):
    """A copy of ``nb`` whose cell ``grade_id`` reads ``source``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return nb


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``netviz-tp ARGV`` in this process: (exit status, stdout, stderr)."""
    from netviz_tp.course import cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
