"""Intake: every file of a submissions folder -> a notebook to grade or a reason it is not one.

:func:`scan` gives each entry of the folder a row: ``STUDENT.ipynb`` (one-notebook
assignments) and ``STUDENT/NOTEBOOK.ipynb`` are graded; a misnamed notebook alone in a
student's folder is graded with a note; anything else (a ``.py`` export, a PDF, a folder
without the notebook) is flagged with the reason. :func:`read_notebook` accepts a UTF-8
byte-order mark; :func:`foreign` spots another assignment's notebook; :func:`answers_outside`
moves written answers typed next to their answer cell into it, with a note.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .config import GradingError
from .submissions import _grade_id, _text

STUB = "YOUR ANSWER HERE"


@dataclass
class Entry:
    """One row of grades.csv: the notebooks to grade, or ``flag`` (why it cannot be graded)."""

    student: str
    files: dict[str, Path] = field(default_factory=dict)
    flag: str = ""
    notes: list[str] = field(default_factory=list)


def _reason(path: Path) -> str:
    if path.suffix == ".py":
        return f"{path.name} is a Python script: hand in the .ipynb notebook (File > Download)"
    return f"{path.name} is not a notebook (.ipynb)"


def scan(folder: str | os.PathLike, notebooks: list[str]) -> dict[str, Entry]:
    """Student id -> :class:`Entry` for every file and folder in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist")
    entries: dict[str, Entry] = {}
    single = len(notebooks) == 1
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            entry = entries[path.name] = Entry(path.name)
            found = {
                nb: path / f"{nb}.ipynb" for nb in notebooks if (path / f"{nb}.ipynb").is_file()
            }
            others = sorted(
                p for p in path.iterdir() if p.suffix == ".ipynb" and p.stem not in found
            )
            if single and not found and len(others) == 1:
                found = {notebooks[0]: others[0]}
                entry.notes.append(
                    f"misnamed notebook {others[0].name}: graded as {notebooks[0]}.ipynb"
                )
            elif others:
                entry.notes.append(
                    f"ignored: {', '.join(p.name for p in others)} (not this assignment's notebook)"
                )
            entry.files = found
            if not found:
                names = ", ".join(p.name for p in sorted(path.iterdir())[:5]) or "empty"
                wanted = ", ".join(f"{nb}.ipynb" for nb in notebooks)
                entry.flag = f"no {wanted} in the folder ({names})"
        elif path.suffix == ".ipynb" and single:
            entries[path.stem] = Entry(path.stem, {notebooks[0]: path})
        elif path.suffix == ".ipynb":
            entries[path.stem] = Entry(
                path.stem,
                flag=f"{path.name}: this assignment has "
                f"several notebooks: hand in a folder {path.stem}/",
            )
        else:
            entries[path.name] = Entry(path.name, flag=_reason(path))
    if not any(entry.files for entry in entries.values()):
        layout = "STUDENT.ipynb" if single else "STUDENT/NOTEBOOK.ipynb"
        seen = ", ".join(sorted(entries)[:5]) or "nothing"
        raise GradingError(f"no submissions in {folder}: expected {layout} files (found {seen})")
    return entries


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A handed-in notebook (UTF-8, with or without a byte-order mark), as nbformat 4."""
    text = path.read_bytes().decode("utf-8-sig")
    return nbformat.reads(text, as_version=4)


def foreign(sub, release) -> bool:
    """True when ``sub`` shares no graded cell and almost no text with ``release``."""
    ids = {_grade_id(c) for c in release.cells} - {None}
    if any(_grade_id(c) in ids for c in sub.cells):
        return False
    ref = [_text(c) for c in release.cells if c.cell_type == "markdown"]
    mine = {_text(c) for c in sub.cells}
    same = sum(1 for t in ref if t in mine)
    return same < max(1, len(ref) // 5)


def answers_outside(nb, release) -> list[str]:
    """Move a written answer found next to its still-empty answer cell into it; the notes.

    Looked for: new markdown cells after the answer cell (up to the next release cell) and
    text added to the question cell just before it.
    """
    release_text = {_text(c) for c in release.cells}
    notes = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("solution") and meta.get("grade") and cell.cell_type == "markdown"):
            continue
        if _text(cell) not in ("", STUB):
            continue
        found, where = [], ""
        for later in nb.cells[i + 1 :]:
            if later.metadata.get("nbgrader") or _text(later) in release_text:
                break
            if later.cell_type == "markdown" and _text(later):
                found.append(_text(later))
                later.source = ""
                where = "in a new cell after the answer cell"
        ri = next(k for k, c in enumerate(release.cells) if _grade_id(c) == meta["grade_id"])
        if not found and i > 0 and ri > 0 and nb.cells[i - 1].cell_type == "markdown":
            ref, mine = _text(release.cells[ri - 1]), _text(nb.cells[i - 1])
            if mine != ref and difflib.SequenceMatcher(None, ref, mine).ratio() > 0.5:
                added = [ln for ln in difflib.ndiff(ref.splitlines(), mine.splitlines())
                         if ln.startswith("+ ")]  # fmt: skip
                found = ["\n".join(ln[2:] for ln in added)] if added else []
                where = "typed into the question cell"
        if found:
            cell.source = "\n\n".join(found)
            notes.append(f"{meta['grade_id']}: answer found {where}: moved into the answer cell")
    return notes
