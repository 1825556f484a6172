"""Submissions: folder -> {student: notebooks}; (handed-in, release) -> notebook graded fairly.

Stock nbgrader 0.9.6 finds graded cells only by their ``metadata.nbgrader.grade_id``. Editors
drop that metadata (Colab, nbgrader #424, #1398), copy-paste duplicates it (#1083: the whole
autograde batch then fails with a misleading "old version of the metadata format" error) and
students delete or move cells (#1546). :func:`repair` identifies every graded cell of the
release in the submission, then rewrites the submission so that autograde sees exactly one
cell per grade id, carrying the release's metadata:

- by metadata: a cell whose ``grade_id`` exists in the release is that cell, wherever it sits
  (a moved cell is graded where the student put it; the notebook runs top to bottom as they
  left it);
- by text: a cell without metadata whose text equals a release cell, matched in order
  (``difflib``), is that cell (locked test and statement cells, untouched stubs);
- by position: a solution cell still unidentified is the cell of the same type between the
  identified neighbours of its release position, the one most similar to the stub;
- duplicates: one copy keeps the grade id. For an answer (solution) cell it is the last copy
  that differs from the stub, the one whose definitions the kernel keeps when the notebook
  runs top to bottom; the other copies stay as ordinary cells. For a locked cell it is the
  last unmodified copy; unmodified extra copies are dropped, modified ones become ordinary;
- deleted: a locked or graded cell missing from the submission is restored from the release
  after its identified predecessor (autograde then restores hidden tests from the source),
  so a deleted test is run rather than scored 0. A deleted code answer is not restored (its
  stub would only shadow what the student wrote elsewhere); a deleted written answer comes
  back as the unanswered stub (0 points);
- tampered locked cells keep their grade id and autograde overwrites them with the source.
"""

from __future__ import annotations

import copy
import difflib
import uuid
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode


@dataclass
class Repair:
    """The repaired notebook and one readable line per change made to the submission."""

    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)


def _text(cell: NotebookNode) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _key(cell: NotebookNode) -> tuple[str, str]:
    return cell.cell_type, _text(cell)


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _is_locked(meta: dict) -> bool:
    return bool(meta.get("locked")) and not meta.get("solution")


def _graded_cells(release: NotebookNode) -> dict[str, int]:
    """Release index of every cell carrying a grade id (grade, solution, locked or task)."""
    return {gid: i for i, cell in enumerate(release.cells) if (gid := _grade_id(cell))}


def _by_metadata(sub: NotebookNode, known: dict[str, int]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for j, cell in enumerate(sub.cells):
        gid = _grade_id(cell)
        if gid in known:
            found.setdefault(gid, []).append(j)
    return found


def _choose_copy(copies: list[int], sub: NotebookNode, ref: NotebookNode) -> int:
    """Which of several cells carrying the same grade id keeps it (see the module docstring)."""
    stub = _key(ref)
    meta = ref.metadata["nbgrader"]
    if _is_locked(meta):
        intact = [j for j in copies if _key(sub.cells[j]) == stub]
        return (intact or copies)[-1]
    edited = [j for j in copies if _key(sub.cells[j]) != stub]
    return (edited or copies[:1])[-1]


def _text_matches(release: NotebookNode, sub: NotebookNode, free: set[int]) -> dict[int, int]:
    """Release index -> submission index for cells of identical type and text, in order."""
    ref_keys = [_key(c) for c in release.cells]
    sub_keys = [_key(c) if j in free else ("claimed", str(j)) for j, c in enumerate(sub.cells)]
    matcher = difflib.SequenceMatcher(None, ref_keys, sub_keys, autojunk=False)
    pairs: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            pairs[block.a + k] = block.b + k
    return pairs


def _gap(i: int, anchors: dict[int, int], n_sub: int) -> range:
    """Submission indices strictly between the anchors of release cells before and after i."""
    before = [anchors[r] for r in anchors if r < i]
    after = [anchors[r] for r in anchors if r > i]
    lo = max(before) + 1 if before else 0
    hi = min((j for j in after if j >= lo), default=n_sub)
    return range(lo, hi)


def _by_position(
    missing: list[int], release: NotebookNode, sub: NotebookNode, anchors: dict[int, int]
) -> dict[int, int]:
    """Match unidentified answer cells to free same-type cells between identified neighbours."""
    claimed = set(anchors.values())
    found: dict[int, int] = {}
    for i in missing:
        ref = release.cells[i]
        if not ref.metadata["nbgrader"].get("solution"):
            continue
        candidates = [
            j
            for j in _gap(i, {**anchors, **found}, len(sub.cells))
            if j not in claimed and sub.cells[j].cell_type == ref.cell_type
        ]
        if candidates:
            stub = _text(ref)
            best = max(
                candidates,
                key=lambda j: difflib.SequenceMatcher(None, stub, _text(sub.cells[j])).ratio(),
            )
            found[i] = best
            claimed.add(best)
    return found


def _plain(cell: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    return cell


def _with_metadata(cell: NotebookNode, ref: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(cell)
    cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
    return cell


def _restored(ref: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(ref)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _unique_ids(nb: NotebookNode) -> None:
    """nbformat 4.5: every cell has an id, unique in the notebook (copies and restores)."""
    nb.nbformat_minor = max(nb.get("nbformat_minor", 0), 5)
    seen: set[str] = set()
    for cell in nb.cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])


def _identify(sub: NotebookNode, release: NotebookNode) -> tuple[dict[int, int], list[str]]:
    """Release index of each graded cell -> the submission index that is that cell."""
    graded = _graded_cells(release)
    notes: list[str] = []
    found: dict[int, int] = {}
    by_metadata = _by_metadata(sub, graded)
    for gid, copies in by_metadata.items():
        ref_index = graded[gid]
        found[ref_index] = _choose_copy(copies, sub, release.cells[ref_index])
        if len(copies) > 1:
            notes.append(f"cell {gid!r} appears {len(copies)} times: kept one, graded once")
    claimed = {j for copies in by_metadata.values() for j in copies}
    free = set(range(len(sub.cells))) - claimed
    by_text = _text_matches(release, sub, free)
    anchors = {**by_text, **found}
    missing = [i for i in graded.values() if i not in found]
    for i in missing:
        if i in by_text:
            found[i] = by_text[i]
            notes.append(f"cell {_grade_id(release.cells[i])!r} had lost its metadata: restored")
    rest = [i for i in missing if i not in found]
    for i, j in _by_position(rest, release, sub, anchors).items():
        found[i] = j
        notes.append(f"cell {_grade_id(release.cells[i])!r} had lost its metadata: restored")
    return found, notes


def _needs_restoring(ref: NotebookNode) -> bool:
    meta = ref.metadata["nbgrader"]
    answer_code = meta.get("solution") and ref.cell_type == "code" and not meta.get("grade")
    return not answer_code and (meta.get("grade") or meta.get("locked") or meta.get("task"))


def repair(submission: NotebookNode, release: NotebookNode) -> Repair:
    """Rewrite a handed-in notebook so that each graded cell of the release appears once.

    Args:
        submission: the notebook as handed in (any nbformat 4 notebook; not modified).
        release: the student version generated by nbgrader, the reference for cell identity,
            order and metadata.

    Returns:
        A :class:`Repair` whose notebook holds every submission cell in the student's order
        (extra copies of graded cells without their grade id), each identified graded cell
        with the release's nbgrader metadata, and deleted locked or graded cells restored;
        ``notes`` says what was changed (empty for an intact submission).
    """
    sub = nbformat.from_dict(copy.deepcopy(submission))
    found, notes = _identify(sub, release)
    keep = {j: i for i, j in found.items()}
    cells: list[NotebookNode] = []
    placed: dict[int, int] = {}  # release index -> output index
    for j, cell in enumerate(sub.cells):
        if j in keep:
            placed[keep[j]] = len(cells)
            cells.append(_with_metadata(cell, release.cells[keep[j]]))
        elif _grade_id(cell) is None and "nbgrader" not in cell.get("metadata", {}):
            cells.append(cell)
        elif not _is_duplicate_locked(cell, release):
            cells.append(_plain(cell))
    for i, ref in enumerate(release.cells):
        if _grade_id(ref) and i not in placed and _needs_restoring(ref):
            before = [placed[r] for r in placed if r < i]
            at = max(before) + 1 if before else 0
            placed = {r: (k + 1 if k >= at else k) for r, k in placed.items()}
            placed[i] = at
            cells.insert(at, _restored(ref))
            notes.append(f"cell {_grade_id(ref)!r} was deleted: restored from the release")
    sub.cells = cells
    _unique_ids(sub)
    return Repair(sub, notes)


def _is_duplicate_locked(cell: NotebookNode, release: NotebookNode) -> bool:
    """An unmodified extra copy of a locked cell: dropped rather than kept as ordinary code."""
    gid = _grade_id(cell)
    graded = _graded_cells(release)
    if gid not in graded:
        return False
    ref = release.cells[graded[gid]]
    return _is_locked(ref.metadata["nbgrader"]) and _key(cell) == _key(ref)


def fill_answers(release: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The release with every answer cell written as in the source: a model submission.

    Used to check the grading round trip (the solution handed in gets full marks) and to
    benchmark it. Cells are matched by grade id; the release is not modified.
    """
    answers = {
        _grade_id(cell): cell.source
        for cell in source.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return nb
