"""Grading on a Dask cluster (two local worker processes) gives exactly the local grades."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from course_helpers import TOY, toy_solution, with_answer

from netviz_tp.course.fanout import CourseBundle, grade_on_cluster
from netviz_tp.course.grading import grade

pytestmark = pytest.mark.notebooks


def _class(folder: Path) -> None:
    """The toy course's solution, a wrong norm2, a broken file."""
    _, solution = toy_solution()
    wrong = with_answer(solution, "norm2", "def norm2(x, y):\n    return abs(x) + abs(y)")
    folder.mkdir()
    for student, nb in {"solution": solution, "wrong": wrong}.items():
        nbformat.write(nb, folder / f"{student}.ipynb")
    (folder / "broken.ipynb").write_text("{not a notebook")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_worker_processes_give_the_local_grades(tmp_path):
    _class(tmp_path / "subs")
    options = dict(course=TOY, cell_timeout=10, wall_timeout=300, demo_run=False)
    local = grade("toy", tmp_path / "subs", tmp_path / "local", jobs=2, **options)
    remote = grade_on_cluster("toy", tmp_path / "subs", tmp_path / "dask", scheduler="local:2",
                              **options)  # fmt: skip
    assert [(r.student, r.score, r.cells, r.error) for r in remote] == [
        (r.student, r.score, r.cells, r.error) for r in local
    ]
    assert {r.student: r.score for r in remote} == {"broken": 0, "solution": 5, "wrong": 2}
    assert _csv(tmp_path / "dask" / "grades.csv") == _csv(tmp_path / "local" / "grades.csv")
    for r in remote:
        name = "not_graded.html" if r.error else "toy.html"
        page = tmp_path / "dask" / "feedback" / r.student / name
        assert r.feedback == [page] and page.read_text() != ""
    assert sorted(p.name for p in (tmp_path / "dask" / "results").iterdir()) == [
        "broken.json", "solution.json", "wrong.json",
    ]  # fmt: skip
    assert all(p.is_file() for p in (tmp_path / "dask" / "autograded" / "solution").iterdir())

    # resumed on the cluster as on one machine: the graded are kept, a late one is added
    results = tmp_path / "dask" / "results"
    kept = {p.name: p.stat().st_mtime_ns for p in results.iterdir() if p.stem != "broken"}
    _, solution = toy_solution()
    nbformat.write(solution, tmp_path / "subs" / "late.ipynb")
    again = grade_on_cluster("toy", tmp_path / "subs", tmp_path / "dask", scheduler="local:2",
                             **options)  # fmt: skip
    assert {r.student: r.score for r in again} == {
        "broken": 0, "late": 5, "solution": 5, "wrong": 2,
    }  # fmt: skip
    assert {name: (results / name).stat().st_mtime_ns for name in kept} == kept
    assert [r["student"] for r in _csv(tmp_path / "dask" / "grades.csv")] == [
        "broken", "late", "solution", "wrong",
    ]  # fmt: skip


def test_the_bundle_carries_the_source_and_config_only(tmp_path):
    bundle = CourseBundle.pack(TOY, "source", "toy")
    root = bundle.unpack()
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["nbgrader_config.py", "source/toy/toy.ipynb"]
    assert bundle.unpack() == root  # unpacked once per machine
    assert CourseBundle.pack(TOY, "source", "toy").digest == bundle.digest
