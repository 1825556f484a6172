"""Student release: ``build(course_dir)`` regenerates ``notebooks/`` from ``solutions/``;
``check_in_sync(course_dir) -> problems`` says what is stale or leaking (empty when all is well).

The sources are py:percent scripts ``solutions/<assignment>/<name>.py`` (nbgrader metadata in
their cell headers), paired by jupytext with ``<name>.ipynb``. The build writes each paired
``.ipynb`` from its script, runs nbgrader's ``generate_assignment`` (no gradebook: ``--no-db``)
into ``notebooks/<assignment>/``, gives every cell a stable id (its nbgrader ``grade_id``, else
its position) and pairs each released notebook with a py:percent script. ``nbgrader_config.py``
ignores ``*.py`` so the solution script is never copied into the release.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat

from . import colab

SOURCE = "solutions"
RELEASE = "notebooks"
LEAK_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "Rubric (instructor only)",
)
_REGION = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END (SOLUTION|HIDDEN TESTS)", re.DOTALL
)


def assignments(course_dir: Path) -> dict[str, list[Path]]:
    """``{assignment: [source scripts]}``: every ``solutions/<assignment>/*.py``."""
    root = Path(course_dir) / SOURCE
    found = {d.name: sorted(d.glob("*.py")) for d in sorted(root.iterdir()) if d.is_dir()}
    return {name: scripts for name, scripts in found.items() if scripts}


def build(course_dir: Path) -> None:
    """Write the sources' ``.ipynb`` from their scripts, then regenerate the whole release."""
    course_dir = Path(course_dir).resolve()
    for scripts in assignments(course_dir).values():
        for script in scripts:
            _write_ipynb(jupytext.read(script), script.with_suffix(".ipynb"))
    _generate(course_dir, course_dir / RELEASE)


def check_in_sync(course_dir: Path) -> list[str]:
    """Problems found: a source ``.ipynb`` out of step with its script or holding outputs, a
    setup cell or badge not generated from :data:`netviz_tp.colab.REPO_URL`, a release that
    differs from a fresh build, or solution / hidden-test text in the release."""
    course_dir = Path(course_dir).resolve()
    problems: list[str] = []
    for assignment, scripts in assignments(course_dir).items():
        for script in scripts:
            problems += _check_source(course_dir, assignment, script)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / RELEASE
        _generate(course_dir, fresh)
        problems += _compare_trees(fresh, course_dir / RELEASE)
    problems += find_leaks(course_dir)
    return problems


# --- generation ----------------------------------------------------------------------------


def _generate(course_dir: Path, release_dir: Path) -> None:
    for assignment in assignments(course_dir):
        cmd = [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            assignment,
            "--force",
            "--no-db",
            f"--CourseDirectory.root={course_dir}",
            f"--CourseDirectory.release_directory={release_dir}",
            "--log-level=WARN",
        ]
        done = subprocess.run(cmd, cwd=course_dir, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"nbgrader generate_assignment {assignment} failed "
                f"(exit {done.returncode}):\n{done.stderr[-3000:]}"
            )
        for notebook in sorted((release_dir / assignment).glob("*.ipynb")):
            nb = nbformat.read(notebook, as_version=4)
            _stable_ids(nb)
            nbformat.write(nb, notebook)
            jupytext.write(nb, notebook.with_suffix(".py"), fmt="py:percent")


def _stable_ids(nb) -> None:
    """Cell ids from the nbgrader grade id, else the position: builds do not churn."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell-{i}"


def _write_ipynb(nb, path: Path) -> None:
    _stable_ids(nb)
    jupytext.write(nb, path)


# --- checks --------------------------------------------------------------------------------


def _cells(nb) -> list[tuple]:
    """What must agree between two versions of a notebook (ids and jupytext layout aside)."""
    keep = []
    for cell in nb.cells:
        meta = {k: v for k, v in cell.metadata.items() if k not in ("lines_to_next_cell",)}
        keep.append((cell.cell_type, cell.source.strip(), json.dumps(meta, sort_keys=True)))
    return keep


def _check_source(course_dir: Path, assignment: str, script: Path) -> list[str]:
    rel = script.relative_to(course_dir)
    paired = script.with_suffix(".ipynb")
    if not paired.exists():
        return [f"{rel}: no paired {paired.name}; run `netviz-tp build`"]
    nb = nbformat.read(paired, as_version=4)
    problems = []
    if _cells(nb) != _cells(jupytext.read(script)):
        problems.append(f"{rel.with_suffix('.ipynb')} differs from {rel}; run `netviz-tp build`")
    if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
        problems.append(f"{rel.with_suffix('.ipynb')} stores outputs; clear them")
    text = script.read_text("utf-8")
    release_path = f"{RELEASE}/{assignment}/{script.with_suffix('.ipynb').name}"
    if colab.badge(release_path) not in text:
        problems.append(f"{rel}: the Open-in-Colab badge must be `{colab.badge(release_path)}`")
    if colab.bootstrap_code() not in text:
        problems.append(f"{rel}: the setup cell must start with netviz_tp.colab.bootstrap_code()")
    return problems


def _comparable(path: Path):
    """A file's content up to volatile details (jupytext's version in a script's header)."""
    if path.suffix in (".ipynb", ".py"):
        nb = nbformat.read(path, as_version=4) if path.suffix == ".ipynb" else jupytext.read(path)
        meta = {k: v for k, v in nb.metadata.items() if k != "jupytext"}
        return json.dumps(meta, sort_keys=True), _cells(nb)
    return path.read_bytes()


def _compare_trees(fresh: Path, committed: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    new, old = files(fresh), files(committed) if committed.is_dir() else set()
    problems = [f"{RELEASE}/{f} is missing; run `netviz-tp build`" for f in sorted(new - old)]
    problems += [f"{RELEASE}/{f} is not generated by the build" for f in sorted(old - new)]
    for f in sorted(new & old):
        if _comparable(fresh / f) != _comparable(committed / f):
            problems.append(f"{RELEASE}/{f} is out of date; run `netviz-tp build`")
    return problems


def solution_lines(course_dir: Path) -> set[str]:
    """Distinctive lines of the solution and hidden-test regions of every source (at least 20
    characters, and found nowhere else in the sources)."""
    lines: set[str] = set()
    outside: set[str] = set()
    for scripts in assignments(course_dir).values():
        for script in scripts:
            text = script.read_text("utf-8")
            for match in _REGION.finditer(text):
                lines.update(
                    s for line in match.group(2).splitlines() if len(s := _bare(line)) >= 20
                )
            outside.update(_bare(line) for line in _REGION.sub("", text).splitlines())
    return lines - outside


def _bare(line: str) -> str:
    return line.strip().removeprefix("#").strip()


def find_leaks(course_dir: Path) -> list[str]:
    """Solution or hidden-test text found in the release under ``notebooks/``."""
    course_dir = Path(course_dir)
    secrets = solution_lines(course_dir)
    problems = []
    for path in sorted((course_dir / RELEASE).rglob("*")):
        if not path.is_file() or path.suffix not in (".ipynb", ".py"):
            continue
        text = path.read_text("utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        rel = path.relative_to(course_dir)
        problems += [f"{rel} contains {m!r}" for m in LEAK_MARKERS if m in text]
        found = {_bare(line) for line in text.splitlines()} & secrets
        problems += [f"{rel} contains solution text: {line!r}" for line in sorted(found)]
    return problems
