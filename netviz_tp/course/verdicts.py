"""Verdicts: a graded cell's result, and the feedback notebook / page built from them.

A :class:`CellVerdict` is one graded cell of one student: ``grade_id``, ``points`` (None
while a written answer awaits the hand grader), ``verdict`` ("pass", "fail", "pending",
"unanswered"), the ``diagnosis`` the check gave (the class report counts these) and the
verdict ``lines`` printed in the feedback. The feedback shows the student's own cells and
outputs, with every autograded test cell shown as released (no hidden test) and followed by
its trusted verdict; nothing of the instructor's source (solutions, hidden tests, rubrics)
is ever put into it.
"""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field

import nbformat


@dataclass
class CellVerdict:
    """The result of one graded cell (see the module docstring)."""

    grade_id: str
    notebook: str
    max_points: float
    points: float | None
    verdict: str
    diagnosis: str = ""
    lines: list[str] = field(default_factory=list)


def from_referee(gid: str, nb: str, max_points: float, answer: dict) -> CellVerdict:
    """The verdict of an autograded cell from the referee's answer."""
    lines = [ln for ln in answer["stdout"].splitlines() if ln.strip()]
    if answer["passed"]:
        return CellVerdict(gid, nb, max_points, max_points, "pass", "", lines)
    diagnosis = answer["error"].removeprefix("✘ ")
    return CellVerdict(gid, nb, max_points, 0.0, "fail", diagnosis, [*lines, f"✘ {diagnosis}"])


def written(gid: str, nb: str, max_points: float, answered: bool) -> CellVerdict:
    """A written answer: pending for the hand grader, or 0 when left as the stub."""
    if answered:
        return CellVerdict(gid, nb, max_points, None, "pending")
    return CellVerdict(gid, nb, max_points, 0.0, "unanswered", "no answer written")


def _verdict_output(v: CellVerdict):
    text = "\n".join(v.lines) + f"\n→ {v.points:g} / {v.max_points:g} points\n"
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def feedback_notebook(executed, release, verdicts: list[CellVerdict], header: str):
    """The student's executed notebook with released test cells and trusted verdicts."""
    nb = copy.deepcopy(executed)
    released = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in release.cells
        if c.metadata.get("nbgrader", {}).get("grade_id")
    }
    by_id = {v.grade_id: v for v in verdicts}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in released and cell.metadata["nbgrader"].get("locked"):
            cell.source = released[gid].source  # locked cells as released: never the source's
        if gid in by_id and cell.cell_type == "code" and by_id[gid].verdict in ("pass", "fail"):
            cell.outputs = [_verdict_output(by_id[gid])]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header))
    nb.metadata.pop("netviz_run", None)
    return nb


def header(student: str, score: float, max_score: float, verdicts, notes, error="") -> str:
    """The markdown summary at the top of a feedback page."""
    rows = "\n".join(
        f"| {v.grade_id} | {'to be graded by hand' if v.points is None else f'{v.points:g}'} "
        f"/ {v.max_points:g} | {html.escape(v.diagnosis) or v.verdict} |"
        for v in verdicts
    )
    text = (
        f"# Feedback: {student}\n\nScore: {score:g} / {max_score:g}\n\n"
        f"| cell | points | verdict |\n|---|---|---|\n{rows}\n"
    )
    if notes:
        text += "\n**Notes:** " + "; ".join(html.escape(n) for n in notes) + "\n"
    if error:
        text += f"\n**Not fully graded:** {html.escape(error)}\n"
    return text


def to_html(nb) -> str:
    """The feedback page (nbconvert's lab template, images embedded)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body
