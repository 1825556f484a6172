"""The course's nbgrader gradebook: ``open_gradebook(db_url)`` -> :class:`nbgrader.api.Gradebook`.

Opening never creates a gradebook by mistake (a missing SQLite file is an error naming the fix)
and never registers a course: the gradebook is nbgrader's, filled by ``netviz-tp grade``
(autograded points) and formgrader (manual points).
"""

from __future__ import annotations

from pathlib import Path


def sqlite_path(db_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other databases)."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


def open_gradebook(db_url: str):
    """An existing nbgrader gradebook (use as a context manager).

    Raises:
        FileNotFoundError: a SQLite gradebook that does not exist yet (grade first).
    """
    from nbgrader.api import Gradebook

    path = sqlite_path(db_url)
    if path is not None and not path.is_file():
        raise FileNotFoundError(
            f"no gradebook at {path}: run `netviz-tp grade` first (or pass the course with "
            "--course DIR, whose nbgrader_config.py says where gradebook.db is)"
        )
    return Gradebook(db_url, course_id="")  # "": read only, no course row is added
