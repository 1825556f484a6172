"""Grading time per submission: grade N copies of each practical's solution with `netviz-tp grade`.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_grading.py [N] [--jobs J]
       [--assignment NAME ...]

Prints, per practical, the wall time of the whole batch and the seconds per submission
(target: at most 30 s per submission on a 2-core CPU), and checks every copy got full
autograded marks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from netviz_tp.course.config import Course
from netviz_tp.course.grading import grade, release_notebooks
from netviz_tp.course.submissions import fill_answers

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("autograde", "generate_feedback")


def bench(assignment: str, copies: int, jobs: int) -> tuple[float, dict, bool]:
    """Seconds per submission, mean seconds per nbgrader step, all copies got full marks?"""
    course = Course.load(ROOT)
    source_dir = course.source(assignment)
    releases = release_notebooks(assignment, course=ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        for nb_name, release in releases.items():
            source = nbformat.read(source_dir / f"{nb_name}.ipynb", as_version=4)
            for k in range(copies):
                folder = subs / f"student{k:02d}"
                folder.mkdir(exist_ok=True)
                nbformat.write(fill_answers(release, source), folder / f"{nb_name}.ipynb")
        start = time.perf_counter()
        results = grade(assignment, subs, out, course=ROOT, jobs=jobs)
        elapsed = time.perf_counter() - start
    full = all(not r.error and r.score + r.pending_manual == r.max_score for r in results)
    steps = {s: sum(r.seconds.get(s, 0) for r in results) / len(results) for s in STEPS}
    return elapsed / copies, steps, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("copies", nargs="?", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args()
    names = args.assignment or Course.load(ROOT).assignments()
    print(f"{'assignment':<24}{'copies':>7}{'jobs':>5}{'s/submission':>14}"
          f"{'autograde s':>13}{'feedback s':>12}  full marks")  # fmt: skip
    ok = True
    for name in names:
        per, steps, full = bench(name, args.copies, args.jobs)
        ok &= full
        print(f"{name:<24}{args.copies:>7}{args.jobs:>5}{per:>14.1f}{steps['autograde']:>13.1f}"
              f"{steps['generate_feedback']:>12.1f}  {'yes' if full else 'NO'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
