"""Pipeline: ``grade_one(student, files, ctx, out) -> StudentResult``, one submission, end to end.

For each notebook of the submission: read it (a UTF-8 BOM is fine), refuse another
assignment's notebook, repair it (:func:`netviz_tp.course.submissions.repair`), move written answers
typed next to their cell into it, restore locked cells as released; then two sandboxed runs,
each with its own fresh scratch folder:

1. the *demo run*, with the whole package: every cell runs (plots, explorers) except the
   autograded test cells, for the feedback and the hand grader. It costs most of the time of
   a submission (the whole notebook, not just up to its last test); without it
   (``Context.demo_run`` false) the feedback shows the code without outputs;
2. the *evaluation run*, with the reference-free package (:mod:`.stubs`): the notebook up to
   its last test, each test replaced by the :mod:`.probe` of the calls the trusted test makes.

The referee (:mod:`.referee`) judges each test on the outputs; the feedback page and the
autograded notebook are written to ``out``. :class:`Context` holds what the submissions of a
batch share; ``grade_one`` touches nothing else, so a Dask worker can run it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import intake, verdicts
from .grades_csv import StudentResult, mark_failed
from .referee import Referee, autograded
from .sandbox import MAX_MEMORY, Sandbox
from .submissions import _grade_id, _text, repair


@dataclass
class Context:
    """What every submission of one assignment's grading shares."""

    assignment: str
    releases: dict  # notebook name -> release NotebookNode
    referees: dict[str, Referee]
    sandbox: Sandbox
    full_package: Path
    eval_packages: dict[str, Path]
    columns: list
    max_score: float
    work: Path
    cell_timeout: int = 60
    wall_timeout: float = 600.0
    threads: int = 1
    max_disk: int = 2**30
    max_memory: int = MAX_MEMORY
    demo_run: bool = True


NOT_RERUN = "the code's outputs were not re-run for this page (graded without the demo run)"


def _prepared(sub, release) -> tuple[nbformat.NotebookNode, list[str]]:
    fixed = repair(sub, release)
    nb, notes = fixed.notebook, list(fixed.notes)
    notes += intake.answers_outside(nb, release)
    released = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") and not meta.get("solution") and _grade_id(cell) in released:
            cell.source = released[_grade_id(cell)].source
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb, notes


def _demo_notebook(nb):
    demo = copy.deepcopy(nb)
    for cell in demo.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if autograded(cell):
                cell.source = ""
    return demo


def _eval_notebook(nb, paths: dict, calls: dict, cell_timeout: int) -> nbformat.NotebookNode:
    """The code cells up to the last test, each test replaced by its probe (``calls``: the
    number of calls recorded per test; each call may take ``cell_timeout`` seconds)."""
    last = max((i for i, c in enumerate(nb.cells) if autograded(c)), default=-1)
    cells = []
    for cell in nb.cells[: last + 1]:
        if cell.cell_type != "code":
            continue
        cell = copy.deepcopy(cell)
        cell.outputs, cell.execution_count = [], None
        if autograded(cell):
            cell.source = (
                "from netviz_tp.course.probe import answer as _netviz_answer\n"
                f"_netviz_answer({_grade_id(cell)!r}, globals(), "
                f"{paths['inputs'] + '/calls'!r}, {paths['scratch'] + '/out'!r}, {cell_timeout})"
            )
            n = calls.get(_grade_id(cell), {}).get("calls", 1)
            cell.metadata["netviz_timeout"] = cell_timeout * (n + 1) + 120  # + the import
        cells.append(cell)
    out = copy.deepcopy(nb)
    out.cells = cells
    return out


def _run(ctx: Context, nb, package: Path, folder: Path, referee: Referee | None):
    """Run ``nb`` in the sandbox with ``package``; returns (Run, scratch folder)."""
    inputs, scratch = folder / "inputs", folder / "scratch"
    inputs.mkdir(parents=True)
    paths = ctx.sandbox.paths(package, scratch, inputs)
    if referee is not None:
        shutil.copytree(referee.calls_dir, inputs / "calls")
        nb = _eval_notebook(nb, paths, referee.cells, ctx.cell_timeout)
    nbformat.write(nb, inputs / "notebook.ipynb")
    job = {
        "notebook": paths["inputs"] + "/notebook.ipynb",
        "cwd": paths["scratch"] + "/work",
        "output": paths["scratch"] + "/out/executed.ipynb",
        "cell_timeout": ctx.cell_timeout,
    }
    (inputs / "job.json").write_text(json.dumps(job))
    script = paths["package"] + "/netviz_tp/course/execute.py"  # a script: no torch import
    argv = ["python", script, paths["inputs"] + "/job.json"]
    run = ctx.sandbox.run(
        argv,
        package=package,
        scratch=scratch,
        inputs=inputs,
        timeout=ctx.wall_timeout,
        threads=ctx.threads,
        max_disk=ctx.max_disk,
        max_memory=ctx.max_memory,
    )
    return run, scratch


def _executed(scratch: Path, fallback):
    from .transport import TransportError, read_bounded

    try:
        nb = nbformat.reads(read_bounded(scratch / "out" / "executed.ipynb", scratch), as_version=4)
        return nb, nb.metadata.get("netviz_run", {}).get("status", "")
    except (TransportError, ValueError, KeyError) as exc:
        return fallback, f"no executed notebook came back ({exc})"


def _grade_notebook(ctx: Context, nb_name: str, sub, folder: Path, result: StudentResult):
    release = ctx.releases[nb_name]
    nb, notes = _prepared(sub, release)
    result.notes += [f"{nb_name}: {n}" if len(ctx.releases) > 1 else n for n in notes]
    demo, demo_run = _demo_notebook(nb), None  # also the page's fallback, without outputs
    if ctx.demo_run:
        demo_run, demo_scratch = _run(ctx, demo, ctx.full_package, folder / "demo", None)
        result.seconds["demo"] = demo_run.seconds
    referee = ctx.referees[nb_name]
    eval_run, eval_scratch = _run(ctx, nb, ctx.eval_packages[nb_name], folder / "eval", referee)
    result.seconds["evaluation"] = eval_run.seconds
    killed = eval_run.killed or (demo_run.killed if demo_run else "")
    if killed:
        result.error = killed
    cells = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        gid, points = meta["grade_id"], float(meta.get("points", 0))
        if autograded(cell):
            missing = f"grading stopped: {eval_run.killed}" if eval_run.killed else ""
            answer = referee.judge(gid, eval_scratch / "out", eval_scratch, missing)
            cells.append(verdicts.from_referee(gid, nb_name, points, answer))
        else:
            mine = next((c for c in nb.cells if _grade_id(c) == gid), None)
            answered = mine is not None and _text(mine) not in ("", _text(cell))
            cells.append(verdicts.written(gid, nb_name, points, answered))
    if demo_run is None:
        return cells, demo
    executed, status = _executed(demo_scratch, demo)
    if status != "complete":
        result.notes.append(f"{nb_name}: the notebook run stopped early: {status[:300]}")
    return cells, executed


def grade_one(student: str, files: dict[str, Path], ctx: Context, out: Path) -> StudentResult:
    """Grade one student's notebooks; write their feedback; returns their grades.csv row."""
    result = StudentResult(student, max_score=ctx.max_score, sandbox=ctx.sandbox.label)
    folder = ctx.work / "students" / student
    shutil.rmtree(folder, ignore_errors=True)
    executed = {}
    try:
        for nb_name, path in files.items():
            try:
                sub = intake.read_notebook(path)
            except Exception as exc:  # any unreadable file: this student only, in the CSV
                return mark_failed(
                    result, ctx.columns, f"unreadable notebook: {type(exc).__name__}: {exc}"
                )
            if intake.foreign(sub, ctx.releases[nb_name]):
                return mark_failed(
                    result,
                    ctx.columns,
                    f"{path.name} is not the notebook of "
                    f"{ctx.assignment}/{nb_name} (another assignment's?)",
                )
            cells, executed[nb_name] = _grade_notebook(ctx, nb_name, sub, folder / nb_name, result)
            result.verdicts += cells
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    several = len(ctx.releases) > 1
    for v in result.verdicts:
        column = f"{v.notebook}:{v.grade_id}" if several else v.grade_id
        result.cells[column] = v.points
        result.score += v.points or 0.0
        result.pending_manual += v.max_points if v.points is None else 0.0
    for nb_name, nb in executed.items():
        mine = [v for v in result.verdicts if v.notebook == nb_name]
        notes = result.notes + ([] if ctx.demo_run else [NOT_RERUN])
        head = verdicts.header(student, result.score, result.max_score, mine, notes, result.error)
        page = verdicts.feedback_notebook(nb, ctx.releases[nb_name], mine, head)
        for kind, text in (("feedback", verdicts.to_html(page)), ("autograded", None)):
            dest = out / kind / student / f"{nb_name}.{'html' if text else 'ipynb'}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".tmp")
            tmp.write_text(text) if text else nbformat.write(page, tmp)
            os.replace(tmp, dest)
            if text:
                result.feedback.append(dest)
    return result
