"""Student release: ``build(course)`` regenerates the release (``notebooks/``) from the sources
(``solutions/``); ``check_in_sync(course) -> problems`` says what is stale or leaking (empty
when all is well). Folder names come from the :class:`~netviz_tp.course.config.Course`.

The sources are py:percent scripts ``<source>/<assignment>/<name>.py`` (nbgrader metadata in
their cell headers), paired by jupytext with ``<name>.ipynb``. The build stamps the kit's
version into every setup cell's install line (``KIT = "netviz-tp @ git+REPO_URL@vX.Y.Z"``, see
:mod:`.setup`), so that a released notebook installs the kit it was released with; writes each
paired ``.ipynb`` from its script, runs nbgrader's ``generate_assignment`` (no gradebook:
``--no-db``) into ``<release>/<assignment>/``, gives every cell a stable id (its nbgrader
``grade_id``, else its position) and pairs each released notebook with a py:percent script.
``nbgrader_config.py`` ignores ``*.py`` so the solution script is never copied into the release.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import jupytext
import nbformat

from . import setup
from .config import Course
from .runner import nbgrader

LEAK_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "Rubric (instructor only)",
)
_INSTALL_LINE = re.compile(r'^(?P<indent>[ \t]*)KIT = "(?P<spec>[^"\n]*)"[ \t]*$', re.MULTILINE)
_REGION = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END (SOLUTION|HIDDEN TESTS)", re.DOTALL
)


def scripts(course: Course) -> dict[str, list[Path]]:
    """``{assignment: [source scripts]}``: every ``<source>/<assignment>/*.py``."""
    found = {name: sorted(course.source(name).glob("*.py")) for name in course.assignments()}
    return {name: paths for name, paths in found.items() if paths}


def pinned_specs(text: str) -> list[str]:
    """The pip requirements of the setup cells' install lines (``KIT = "..."``) in ``text``."""
    return [m["spec"] for m in _INSTALL_LINE.finditer(text)]


def stamp(text: str) -> str:
    """``text`` with every install line pinned to this kit (:data:`.setup.PIP_SPEC`)."""
    return _INSTALL_LINE.sub(lambda m: f'{m["indent"]}KIT = "{setup.PIP_SPEC}"', text)


def build(course: Course) -> None:
    """Stamp the kit's version into the sources' install lines, write their ``.ipynb`` from
    the scripts, then regenerate the whole release."""
    for paths in scripts(course).values():
        for script in paths:
            text = script.read_text("utf-8")
            if stamp(text) != text:
                script.write_text(stamp(text), "utf-8")
            _write_ipynb(jupytext.read(script), script.with_suffix(".ipynb"))
    _generate(course, course.root / course.release_directory)


def check_in_sync(course: Course) -> list[str]:
    """Problems found: a source ``.ipynb`` out of step with its script or holding outputs, a
    setup cell or badge not generated from :data:`netviz_tp.course.setup.REPO_URL`, an install
    line pinned to another version than this kit's (:data:`netviz_tp.course.setup.PIP_SPEC`),
    a release that differs from a fresh build, or solution / hidden-test text in the release."""
    problems: list[str] = []
    for assignment, paths in scripts(course).items():
        for script in paths:
            problems += _check_source(course, assignment, script)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / course.release_directory
        _generate(course, fresh)
        problems += _compare_trees(course, fresh)
    problems += find_leaks(course)
    return problems


# --- generation ----------------------------------------------------------------------------


def _generate(course: Course, release_dir: Path) -> None:
    for assignment in scripts(course):
        args = [
            "generate_assignment",
            assignment,
            "--force",
            "--no-db",
            f"--CourseDirectory.root={course.root}",
            f"--CourseDirectory.release_directory={release_dir}",
            "--log-level=WARN",
        ]
        run = nbgrader(course.root, args)
        if run.code != 0:
            raise RuntimeError(
                f"nbgrader generate_assignment {assignment} failed "
                f"(exit {run.code}):\n{run.log[-3000:]}"
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


def _check_source(course: Course, assignment: str, script: Path) -> list[str]:
    rel = script.relative_to(course.root)
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
    stale = sorted({spec for spec in pinned_specs(text) if spec != setup.PIP_SPEC})
    problems += [
        f"{rel}: the install line pins {spec!r}, this kit is {setup.PIP_SPEC!r}; "
        "run `netviz-tp build`"
        for spec in stale
    ]
    release_path = f"{course.release_directory}/{assignment}/{script.with_suffix('.ipynb').name}"
    badge = setup.badge(release_path)
    if badge not in text:
        problems.append(f"{rel}: the Open-in-Colab badge must be `{badge}`")
    if not stale and setup.bootstrap_code() not in text:
        problems.append(
            f"{rel}: the setup cell must start with netviz_tp.course.setup.bootstrap_code()"
        )
    return problems


def _comparable(path: Path):
    """A file's content up to volatile details (jupytext's version in a script's header)."""
    if path.suffix in (".ipynb", ".py"):
        nb = nbformat.read(path, as_version=4) if path.suffix == ".ipynb" else jupytext.read(path)
        meta = {k: v for k, v in nb.metadata.items() if k != "jupytext"}
        return json.dumps(meta, sort_keys=True), _cells(nb)
    return path.read_bytes()


def _compare_trees(course: Course, fresh: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    release = course.release_directory
    committed = course.root / release
    new, old = files(fresh), files(committed) if committed.is_dir() else set()
    problems = [f"{release}/{f} is missing; run `netviz-tp build`" for f in sorted(new - old)]
    problems += [f"{release}/{f} is not generated by the build" for f in sorted(old - new)]
    for f in sorted(new & old):
        if _comparable(fresh / f) != _comparable(committed / f):
            problems.append(f"{release}/{f} is out of date; run `netviz-tp build`")
    return problems


def solution_lines(course: Course) -> set[str]:
    """Distinctive lines of the solution and hidden-test regions of every source (at least 20
    characters, and found nowhere else in the sources)."""
    lines: set[str] = set()
    outside: set[str] = set()
    for paths in scripts(course).values():
        for script in paths:
            text = script.read_text("utf-8")
            for match in _REGION.finditer(text):
                lines.update(
                    s for line in match.group(2).splitlines() if len(s := _bare(line)) >= 20
                )
            outside.update(_bare(line) for line in _REGION.sub("", text).splitlines())
    return lines - outside


def _bare(line: str) -> str:
    return line.strip().removeprefix("#").strip()


def find_leaks(course: Course) -> list[str]:
    """Solution or hidden-test text found in the release (``notebooks/``)."""
    secrets = solution_lines(course)
    problems = []
    for path in sorted((course.root / course.release_directory).rglob("*")):
        if not path.is_file() or path.suffix not in (".ipynb", ".py"):
            continue
        text = path.read_text("utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        rel = path.relative_to(course.root)
        problems += [f"{rel} contains {m!r}" for m in LEAK_MARKERS if m in text]
        found = {_bare(line) for line in text.splitlines()} & secrets
        problems += [f"{rel} contains solution text: {line!r}" for line in sorted(found)]
    return problems
