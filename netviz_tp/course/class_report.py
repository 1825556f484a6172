"""Class report: gradings' results -> ``REPORT/index.html`` + one HTML page per assignment.

What an instructor reads before the next lecture, from the results files of
:mod:`netviz_tp.course.results`: the class's score distribution per graded cell and overall,
the mistakes the checks diagnosed counted over the class ("you took the mean over the colour
channels": 12 students), the repairs made to handed-in notebooks, the submissions that could
not be graded and why, and the grading time per submission. Pages are self-contained (figures
embedded as PNG), so they can be mailed or put on a course site.
"""

from __future__ import annotations

import base64
import html
import io
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from . import results as results_io
from .results import SubmissionResult

_STYLE = (
    "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:left}td.n{text-align:right}</style>"
)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return f"<img src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def _table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        numeric = isinstance(v, (int, float))
        return f"<td{' class=n' if numeric else ''}>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _students(names) -> str:
    names = sorted(set(names))
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def cell_distributions(graded: list[SubmissionResult]) -> dict[str, Counter]:
    """``{notebook:grade_id: Counter(points)}`` over graded submissions (pending cells left out)."""
    several = len({c.notebook for r in graded for c in r.cells}) > 1
    found: dict[str, Counter] = {}
    for r in graded:
        for c in r.cells:
            key = f"{c.notebook}:{c.grade_id}" if several else c.grade_id
            found.setdefault(key, Counter())
            if c.points is not None:
                found[key][c.points] += 1
    return found


def mistakes(results: list[SubmissionResult]) -> list[tuple[str, str, list[str]]]:
    """(cell, diagnosis, students) for every diagnosis, most frequent first."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in results:
        for c in r.cells:
            if c.diagnosis and c.verdict != "pass":
                found[(c.grade_id, c.diagnosis)].add(r.student)
    ranked = sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [(cell, diagnosis, sorted(who)) for (cell, diagnosis), who in ranked]


def repairs(results: list[SubmissionResult]) -> list[tuple[str, list[str]]]:
    """(repair, students) for every kind of repair made, most frequent first."""
    found: dict[str, set[str]] = defaultdict(set)
    for r in results:
        for line in r.repairs:
            found[line].add(r.student)
    return sorted(((k, sorted(v)) for k, v in found.items()), key=lambda kv: (-len(kv[1]), kv[0]))


def _distribution_figure(dists: dict[str, Counter], totals: list[float]) -> Figure:
    """Bar charts: students per score, for the total and for each graded cell."""
    panels = [("total score", Counter(totals)), *dists.items()]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flat
    for (name, counts), ax in zip(panels, axes, strict=False):  # panels first: no axis lost
        ax.set_title(name, fontsize=9)
        if not counts:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "awaiting hand grading", ha="center", transform=ax.transAxes)
            continue
        values = sorted(counts)
        ax.bar([f"{v:g}" for v in values], [counts[v] for v in values], color="#4c72b0")
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes:  # the grid's unused places
        ax.set_axis_off()
    return fig


def _time_figure(seconds: list[float]) -> Figure:
    fig = Figure(figsize=(5, 2.4), layout="constrained")
    ax = fig.subplots()
    ax.hist(seconds, bins=min(20, max(1, len(seconds))), color="#dd8452")
    ax.set_xlabel("seconds per submission")
    ax.set_ylabel("submissions")
    return fig


def assignment_page(assignment: str, results: list[SubmissionResult]) -> str:
    """The HTML page of one assignment's class report."""
    graded = [r for r in results if r.graded]
    not_graded = [r for r in results if not r.graded]
    top = max((r.max_score for r in results), default=0.0)
    totals = [r.score for r in graded]
    seconds = [r.seconds for r in results if r.seconds is not None]
    pending = sum(1 for r in graded if r.pending_manual)
    sandboxes = Counter(r.sandbox for r in results)
    facts = [
        f"{len(results)} submission(s): {len(graded)} graded, {len(not_graded)} not graded",
        f"autograded score (of {top:g}, written answers included): mean "
        f"{statistics.fmean(totals):.2f}, median {statistics.median(totals):g}"
        if totals
        else "no graded submission",
        f"{pending} submission(s) with written answers still to grade by hand",
        "isolation: " + ", ".join(f"{k} ({v})" for k, v in sorted(sandboxes.items())),
    ]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: "
        f"class report</title>{_STYLE}</head><body>",
        f"<p><a href='index.html'>all assignments</a></p><h1>{html.escape(assignment)}</h1><ul>",
        *(f"<li>{html.escape(f)}</li>" for f in facts),
        "</ul><h2>Score distribution per cell</h2>",
    ]
    if graded:
        parts.append(_png(_distribution_figure(cell_distributions(graded), totals)))
    found = mistakes(results)
    parts.append(f"<h2>Diagnosed mistakes ({len(found)})</h2>")
    parts.append(
        _table(
            ["cell", "diagnosis", "students", "who"],
            [[cell, text, len(who), _students(who)] for cell, text, who in found],
        )
        if found
        else "<p>No mistake diagnosed.</p>"
    )
    fixed = repairs(results)
    parts.append(f"<h2>Repairs made to submissions ({len(fixed)})</h2>")
    parts.append(
        _table(["repair", "students", "who"], [[t, len(w), _students(w)] for t, w in fixed])
        if fixed
        else "<p>No submission needed repairs.</p>"
    )
    parts.append(f"<h2>Not graded ({len(not_graded)})</h2>")
    parts.append(
        _table(["student", "why"], [[r.student, r.error] for r in not_graded])
        if not_graded
        else "<p>Every submission was graded.</p>"
    )
    parts.append("<h2>Grading time per submission</h2>")
    if seconds:
        slow = sorted(results, key=lambda r: -(r.seconds or 0.0))[:5]
        parts.append(
            f"<p>mean {statistics.fmean(seconds):.1f} s, median {statistics.median(seconds):.1f}"
            f" s, max {max(seconds):.1f} s, total {sum(seconds) / 60:.1f} min</p>"
        )
        parts.append(_png(_time_figure(seconds)))
        parts.append(
            _table(["slowest", "seconds"], [[r.student, round(r.seconds or 0.0, 1)] for r in slow])
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(gradings: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Write OUT/index.html and OUT/<assignment>.html, one per grading output folder.

    Args:
        gradings: output folders of ``netviz-tp grade`` (each holds ``results/``), one per
            assignment, named after it.
        out: the report folder (created).

    Raises:
        FileNotFoundError: a folder without results (grade first).
    """
    out = Path(out)
    found = [results_io.read_grading(folder) for folder in gradings]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for results in found:
        name = results[0].assignment
        (out / f"{name}.html").write_text(assignment_page(name, results), "utf-8")
        graded = [r.score for r in results if r.graded]
        mean = f"{statistics.fmean(graded):.2f}" if graded else "-"
        rows.append(f"<li><a href='{html.escape(name)}.html'>{html.escape(name)}</a>: "
                    f"{len(results)} submission(s), mean autograded score {mean}</li>")  # fmt: skip
    index = out / "index.html"
    index.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Class report</title>{_STYLE}"
        f"</head><body><h1>Class report</h1><ul>{''.join(rows)}</ul></body></html>",
        "utf-8",
    )
    return index
