"""Feedback to hand back: autograded notebooks + gradebook -> ``OUT/<student>/<assignment>/*.html``.

Run after the written answers were graded by hand: nbgrader's ``generate_feedback`` renders each
student's notebook with every cell's points and the grader's comments. Stock nbgrader renders
the *autograded* notebook, in which autograde restored the hidden tests from the gradebook, so
every student would read the hidden test code (and a traceback quoting the failing hidden
line). Here the pages are rendered from a copy passed through :func:`strip_secrets` (hidden
test regions and mark schemes removed, tracebacks of graded cells cut to their verdict), and
each page is checked before it is handed back: a page still quoting a secret line is refused.
"""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .runner import nbgrader

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MARK_SCHEME = ("### BEGIN MARK SCHEME", "### END MARK SCHEME")
PLACEHOLDER = "# (hidden tests: run at grading, not shown)"


def _regions(begin: str, end: str) -> re.Pattern:
    """From a line holding ``begin`` to the line holding ``end`` (or the end of the text)."""
    return re.compile(rf"^[ \t]*{re.escape(begin)}.*?(?:^[ \t]*{re.escape(end)}[^\n]*|\Z)",
                      re.MULTILINE | re.DOTALL)  # fmt: skip


def secret_lines(nb) -> set[str]:
    """The lines of ``nb``'s hidden-test and mark-scheme regions (stripped, 12+ characters)."""
    found = set()
    for cell in nb.cells:
        for begin, end in (HIDDEN, MARK_SCHEME):
            for match in _regions(begin, end).finditer(cell.source):
                found |= {s for line in match.group().splitlines() if len(s := line.strip()) >= 12}
    return found - {HIDDEN[0], HIDDEN[1], MARK_SCHEME[0], MARK_SCHEME[1]}


def strip_secrets(nb):
    """A copy of an autograded notebook fit for the student's eyes.

    Hidden-test regions become one placeholder line, mark-scheme regions go, and the error
    output of a graded or locked cell keeps only its verdict (``AssertionError: ✘ ...``): its
    traceback would quote the hidden line that failed. Metadata is kept, so nbgrader still
    shows each cell's points.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.source = _regions(*HIDDEN).sub(PLACEHOLDER, cell.source)
        cell.source = _regions(*MARK_SCHEME).sub("", cell.source)
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("grade") or meta.get("locked")):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    ]
    return nb


def visible_text(page: str) -> str:
    """What a reader sees of an HTML page: tags (highlighting spans) out, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _leaks(page: str, secrets: set[str]) -> list[str]:
    text = visible_text(page)
    return sorted(s for s in secrets if s in text) + [m for m in HIDDEN if m in text]


def generate_feedback(
    course_root: str | os.PathLike,
    assignment: str,
    out: str | os.PathLike,
    *,
    db_url: str,
    autograded: str | os.PathLike,
    students: list[str] | None = None,
) -> dict[str, list[Path]]:
    """Render the feedback of ``assignment`` and collect it per student in OUT.

    Args:
        course_root: the nbgrader course directory (its nbgrader_config.py is used).
        assignment: the assignment name.
        out: where to collect: ``OUT/<student>/<assignment>/<notebook>.html``.
        db_url: the course's gradebook (read only).
        autograded: the course's autograded folder (``<student>/<assignment>/*.ipynb``).
        students: whom to render (default: everyone with an autograded submission).

    Returns:
        {student: [pages]}.

    Raises:
        FileNotFoundError: nothing autograded for ``assignment`` (grade first).
        RuntimeError: nbgrader failed, or a page would still show a secret line.
    """
    autograded, out = Path(autograded), Path(out)
    found = sorted(p.parent.name for p in autograded.glob(f"*/{assignment}") if p.is_dir())
    chosen = students or found
    missing = sorted(set(chosen) - set(found))
    if not found or missing:
        raise FileNotFoundError(
            f"no autograded submission of {assignment!r} in {autograded} for "
            f"{', '.join(missing) or 'anyone'}: run `netviz-tp grade` first"
        )
    pages: dict[str, list[Path]] = {}
    with tempfile.TemporaryDirectory(prefix="netviz-feedback-") as tmp:
        stage = Path(tmp)
        secrets: dict[str, set[str]] = {}
        for student in chosen:
            folder = stage / "autograded" / student / assignment
            folder.mkdir(parents=True)
            for path in sorted((autograded / student / assignment).iterdir()):
                if path.suffix == ".ipynb":
                    nb = nbformat.read(path, as_version=4)
                    secrets[f"{student}/{path.stem}"] = secret_lines(nb)
                    nbformat.write(strip_secrets(nb), folder / path.name)
                elif path.is_file():
                    shutil.copyfile(path, folder / path.name)
        _run_nbgrader(Path(course_root), stage, db_url, assignment)
        for student in chosen:
            for page in sorted((stage / "feedback" / student / assignment).glob("*.html")):
                leaked = _leaks(
                    page.read_text("utf-8"), secrets.get(f"{student}/{page.stem}", set())
                )
                if leaked:
                    raise RuntimeError(
                        f"feedback of {student}/{page.name} would show hidden text "
                        f"({leaked[0]!r}): not handed back"
                    )
                dest = out / student / assignment / page.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(page, dest)
                pages.setdefault(student, []).append(dest)
    return pages


def _run_nbgrader(course_root: Path, stage: Path, db_url: str, assignment: str) -> None:
    """nbgrader generate_feedback in ``stage`` (the stripped copies), reading the real gradebook."""
    (stage / "nbgrader_config.py").write_text(
        (course_root / "nbgrader_config.py").read_text()
        + "\n# netviz-tp feedback: stripped copies, the course's gradebook\n"
        f"c.CourseDirectory.root = {str(stage)!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
        'c.CourseDirectory.autograded_directory = "autograded"\n'
        'c.CourseDirectory.feedback_directory = "feedback"\n'
    )
    run = nbgrader(stage, ["generate_feedback", assignment, "--force"], timeout=600)
    if run.code != 0:  # every staged student at once: one nbgrader start
        raise RuntimeError(f"nbgrader generate_feedback {assignment} failed: {run.last_error()}")
