"""The course directory: ``Course.load(root)`` reads ``nbgrader_config.py``; the only place that
knows the course's folder names (sources, release, submissions, autograded, feedback) and
where its gradebook is.

Release (:mod:`.release`) and grading (:mod:`.grading`) both take their folders from a
:class:`Course`; grading works in private copies of the course, each a :class:`Course` too.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

CONFIG = "nbgrader_config.py"


class GradingError(RuntimeError):
    """A problem with the course inputs (course directory, assignment, submissions folder)."""


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory and its folder names (nbgrader's defaults where unset)."""

    root: Path
    source_directory: str = "source"
    release_directory: str = "release"
    submitted_directory: str = "submitted"
    autograded_directory: str = "autograded"
    feedback_directory: str = "feedback"
    db_url: str = ""  # the gradebook; "" = nbgrader's default, ROOT/gradebook.db

    @classmethod
    def load(cls, root: str | os.PathLike) -> Course:
        """Read ``root/nbgrader_config.py`` (traitlets) for the folder names."""
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        if not (root / CONFIG).is_file():
            raise GradingError(f"{root} is not an nbgrader course: no {CONFIG} (use --course DIR)")
        config = PyFileConfigLoader(CONFIG, path=str(root)).load_config().CourseDirectory
        names = {
            field.name: str(config.get(field.name, field.default))
            for field in dataclasses.fields(cls)
            if field.name != "root"
        }
        names["db_url"] = names["db_url"] or f"sqlite:///{root / 'gradebook.db'}"
        return cls(root, **names)

    def moved(self, root: Path) -> Course:
        """The same course layout in another directory (a private working copy)."""
        return dataclasses.replace(self, root=Path(root))

    def folder_settings(self) -> str:
        """The ``CourseDirectory`` lines of nbgrader_config.py that give this layout."""
        return "".join(
            f"c.CourseDirectory.{field.name} = {str(getattr(self, field.name))!r}\n"
            for field in dataclasses.fields(self)
            if field.name != "db_url"  # a working copy has its own gradebook
        )

    def assignments(self) -> list[str]:
        """Names of the assignment folders under the source directory (hidden ones aside)."""
        source = self.root / self.source_directory
        if not source.is_dir():
            return []
        return sorted(p.name for p in source.iterdir() if p.is_dir() and p.name[:1] != ".")

    def source(self, assignment: str) -> Path:
        """The source folder of an assignment; unknown names get a suggestion."""
        folder = self.root / self.source_directory / assignment
        if not folder.is_dir() or Path(assignment).name != assignment or assignment[:1] == ".":
            known = self.assignments()
            close = difflib.get_close_matches(assignment, known, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GradingError(
                f"unknown assignment {assignment!r} in {self.root}{hint} "
                f"(known: {', '.join(known) or 'none'})"
            )
        return folder

    def release(self, assignment: str) -> Path:
        """The release folder of an assignment (written by ``generate_assignment``)."""
        return self.root / self.release_directory / assignment
