"""Grading time per submission, with and without the sandbox, measured side by side.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_grading.py [N] [--jobs J]
       [--assignment NAME ...]

Grades N copies of each practical's solution twice in one run, under bubblewrap and with no
sandbox (``--sandbox none``), and prints per submission: the batch's wall time divided by N
(release, referee and canary included), the mean time of the two notebook runs (demo and
evaluation) of one submission, the sandbox's cost (bubblewrap / none), and the projection
for a class of 100 under bubblewrap: the batch's fixed part (its wall time less N
submissions' runs spread over the jobs) spread over 100 submissions, plus one submission's
runs divided by the jobs. Target: at most 30 s per submission on a 2-core CPU. Checks that
every copy got full autograded marks.
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
KINDS = ("bubblewrap", "none")


CLASS = 100


def bench(assignment: str, copies: int, jobs: int, kind: str) -> tuple[float, float, bool]:
    """(batch seconds per submission, seconds of its two runs, all copies got full marks?)"""
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
        results = grade(assignment, subs, out, course=ROOT, jobs=jobs, sandbox_kind=kind)
        elapsed = time.perf_counter() - start
    full = all(not r.error and r.score + r.pending_manual == r.max_score for r in results)
    runs = sum(sum(r.seconds.values()) for r in results) / len(results)
    return elapsed / copies, runs, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("copies", nargs="?", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args()
    names = args.assignment or Course.load(ROOT).assignments()
    print(f"{'assignment':<24}{'copies':>7}{'jobs':>5}  {'s/submission (bwrap | none)':>28}"
          f"  {'runs s (bwrap | none)':>22}  {'sandbox cost':>12}  {'class of 100':>12}"
          "  full marks")  # fmt: skip
    ok = True
    for name in names:
        measured = {kind: bench(name, args.copies, args.jobs, kind) for kind in KINDS}
        (per_b, runs_b, full_b), (per_n, runs_n, full_n) = measured["bubblewrap"], measured["none"]
        ok &= full_b and full_n
        fixed = per_b * args.copies - args.copies * runs_b / args.jobs
        projected = fixed / CLASS + runs_b / args.jobs
        print(f"{name:<24}{args.copies:>7}{args.jobs:>5}  {per_b:>13.1f} | {per_n:<12.1f}"
              f"  {runs_b:>10.1f} | {runs_n:<9.1f}  {per_b / per_n:>11.2f}x  {projected:>10.1f} s"
              f"  {'yes' if full_b and full_n else 'NO'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
