"""Grading time per submission, with and without the sandbox, measured side by side.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_grading.py [N] [--jobs J]
       [--assignment NAME ...]

Grades N copies of each practical's solution three times in one run: under bubblewrap, with
no sandbox (``--sandbox none``), and under bubblewrap without the demo run
(``--no-demo-run``). Prints per submission: the batch's wall time divided by N (release,
referee and canary included), the mean time of the notebook runs of one submission, the
sandbox's cost (bubblewrap / none), and the projection for a class of 100 under bubblewrap,
with and without the demo run: the batch's fixed part (its wall time less N submissions'
runs spread over the jobs) spread over 100 submissions, plus one submission's runs divided
by the jobs. Last, 100 students x 3 practicals (the mean of those measured) in minutes.
Target: at most 30 minutes on a 2-core CPU. Checks that every copy got full autograded marks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from common import class_seconds

from netviz_tp.course.config import Course
from netviz_tp.course.grading import grade, release_notebooks
from netviz_tp.course.submissions import fill_answers

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"bubblewrap": ("bubblewrap", True), "none": ("none", True),
           "no demo run": ("bubblewrap", False)}  # fmt: skip
CLASS, PRACTICALS, TARGET_MINUTES = 100, 3, 30


def bench(assignment: str, copies: int, jobs: int, config: tuple) -> tuple[float, float, bool]:
    """(batch seconds per submission, seconds of its runs, all copies got full marks?)"""
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
        kind, demo_run = config
        results = grade(assignment, subs, out, course=ROOT, jobs=jobs, sandbox_kind=kind,
                        demo_run=demo_run)  # fmt: skip
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
    print(f"{'assignment':<20}{'copies':>7}{'jobs':>5}  {'s/submission (bwrap|none|no demo)':>34}"
          f"  {'runs s (bwrap|none|no demo)':>28}  {'sandbox cost':>12}"
          f"  {'class of 100 (demo|no demo)':>28}  full marks")  # fmt: skip
    ok, projections = True, {True: [], False: []}
    for name in names:
        measured = {label: bench(name, args.copies, args.jobs, c) for label, c in CONFIGS.items()}
        per, runs, full = zip(*measured.values(), strict=True)
        ok &= all(full)
        for demo_run, label in ((True, "bubblewrap"), (False, "no demo run")):
            p, r, _ = measured[label]
            total = class_seconds(p * args.copies, args.copies, r, args.jobs, CLASS)
            projections[demo_run].append(total / CLASS)
        print(f"{name:<20}{args.copies:>7}{args.jobs:>5}  {' | '.join(f'{p:.1f}' for p in per):>34}"
              f"  {' | '.join(f'{r:.1f}' for r in runs):>28}  {per[0] / per[1]:>11.2f}x"
              f"  {projections[True][-1]:>14.1f} | {projections[False][-1]:.1f} s"
              f"  {'yes' if all(full) else 'NO'}")  # fmt: skip
    for demo_run, values in projections.items():
        minutes = CLASS * PRACTICALS * sum(values) / len(values) / 60
        print(f"{CLASS} students x {PRACTICALS} practicals on {args.jobs} jobs, "
              f"{'with' if demo_run else 'without'} the demo run: {minutes:.0f} min "
              f"(target {TARGET_MINUTES})")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
