"""Class-scale grading: a synthetic class per practical, graded on one machine and on Dask.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_class.py [--students N]
       [--jobs J] [--workers W] [--assignment NAME ...] [--no-dask] [--no-demo-run]

The class of each practical: copies of the instructor's solution and of typical mistakes (the
answer cells edited as students get them wrong) and the untouched release. Prints, side by
side, the seconds per submission of the local path (``--jobs``) and of the Dask executor on a
local cluster (``--workers`` processes), where the time goes (assignment preparation, the sandboxed
demo run and evaluation run per submission, nbgrader's start-up, the kit's imports; the canary
and the referees are part of each path's time), checks both
paths gave the same grades, and projects 100 students x 3 practicals on this machine: each
practical's fixed part (preparation, referee, canary) once, plus 100 submissions' runs spread
over the jobs (target: at most 30 minutes). ``--no-demo-run`` grades as ``netviz-tp grade
--no-demo-run``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from common import class_seconds

from netviz_tp.course.config import Course
from netviz_tp.course.fanout import grade_on_cluster
from netviz_tp.course.grading import grade, release_notebooks
from netviz_tp.course.submissions import fill_answers

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = {  # (text in the solution, what a student writes instead)
    "01_saliency": [
        (".abs().amax(dim=1)", ".abs().mean(dim=1)"),
        (".abs().amax(dim=1)", ".amax(dim=1)"),
    ],
    "02_adversarial": [("(x - eps * x.grad.sign())", "(x + eps * x.grad.sign())")],
    "03_class_visualization": [
        ("- l2_reg * (img * img).sum()", "+ l2_reg * (img * img).sum()"),
        ("img + learning_rate * img.grad", "img - learning_rate * img.grad"),
    ],
}


def _mistake(solution, old: str, new: str):
    wrong = copy.deepcopy(solution)
    edited = [cell for cell in wrong.cells if old in cell.source]
    if not edited:
        raise SystemExit(f"bench_class: {old!r} is no longer in the solution: update MISTAKES")
    for cell in edited:
        cell.source = cell.source.replace(old, new)
    return wrong


def synthetic_class(assignment: str, students: int, folder: Path) -> None:
    """``students`` submissions: the solution, each typical mistake, the release, in turn."""
    source = Course.load(ROOT).source(assignment)
    for name, release in release_notebooks(assignment, course=ROOT).items():
        solution = fill_answers(release, nbformat.read(source / f"{name}.ipynb", 4))
        mistakes = [_mistake(solution, old, new) for old, new in MISTAKES.get(assignment, [])]
        kinds = [solution, *mistakes, release]
        for k in range(students):
            target = folder / f"student{k:03d}"
            target.mkdir(parents=True, exist_ok=True)
            nbformat.write(kinds[k % len(kinds)], target / f"{name}.ipynb")


def _seconds(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--assignment", action="append")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--no-demo-run", action="store_true")
    args = parser.parse_args()
    demo_run = not args.no_demo_run
    names = args.assignment or Course.load(ROOT).assignments()
    startup = _seconds([sys.executable, "-m", "nbgrader", "--version"])
    imports = _seconds([sys.executable, "-c", "import netviz_tp, netviz_tp.checks"])
    print(f"start-up: nbgrader {startup:.1f} s, `import netviz_tp` {imports:.1f} s (per process)")
    print(f"{'assignment':<24}{'n':>4}{'prep s':>8}{'local s/sub':>13}{'dask s/sub':>12}"
          f"{'demo run':>10}{'evaluation':>12}  same grades")  # fmt: skip
    projected, ok = 0.0, True
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            subs = Path(tmp) / "subs"
            synthetic_class(name, args.students, subs)
            start = time.perf_counter()
            release_notebooks(name, course=ROOT)
            prep = time.perf_counter() - start
            start = time.perf_counter()
            local = grade(name, subs, Path(tmp) / "local", course=ROOT, jobs=args.jobs,
                          demo_run=demo_run)  # fmt: skip
            local_s = (time.perf_counter() - start - prep) / args.students
            dask_s, same = float("nan"), "-"
            if not args.no_dask:
                start = time.perf_counter()
                remote = grade_on_cluster(name, subs, Path(tmp) / "dask", course=ROOT,
                                          scheduler=f"local:{args.workers}",
                                          demo_run=demo_run)  # fmt: skip
                dask_s = (time.perf_counter() - start - prep) / args.students
                same_grades = [(r.student, r.cells) for r in remote] == [
                    (r.student, r.cells) for r in local
                ]
                same, ok = ("yes" if same_grades else "NO"), ok and same_grades
        steps = {s: statistics.fmean(r.seconds.get(s, 0.0) for r in local)
                 for s in ("demo", "evaluation")}  # fmt: skip
        runs = statistics.fmean(sum(r.seconds.values()) for r in local)  # one submission's
        batch = prep + args.students * local_s
        projected += class_seconds(batch, args.students, runs, args.jobs, 100)
        print(
            f"{name:<24}{args.students:>4}{prep:>8.1f}{local_s:>13.1f}{dask_s:>12.1f}"
            f"{steps['demo']:>10.1f}{steps['evaluation']:>12.1f}  {same}"
        )
    scale = 3 / len(names)  # the projection is for the three practicals
    print(
        f"projected: 100 students x 3 practicals = {projected * scale / 60:.0f} min on this "
        f"machine with --jobs {args.jobs} (target <= 30 min)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
