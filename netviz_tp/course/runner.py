"""The one nbgrader runner: ``nbgrader(root, args) -> Run(code, log, seconds)`` in a subprocess.

Used by the release build and by grading. nbgrader runs as ``python -m nbgrader`` of this
interpreter, with its bin directory on PATH (nbgrader shells out to ``alembic`` when it
creates a gradebook). Past ``timeout`` the whole process tree is killed (psutil) and the
code is -1.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """An nbgrader run: exit code (-1: timed out), merged stdout+stderr, wall time."""

    code: int
    log: str
    seconds: float

    def last_error(self) -> str:
        """The last ``| ERROR]`` line of the log, else its last line."""
        errors = [
            line.split("]", 1)[-1].strip() for line in self.log.splitlines() if "| ERROR]" in line
        ]
        return errors[-1] if errors else (self.log.strip().splitlines() or ["no output"])[-1]


def nbgrader_env(**extra: str) -> dict[str, str]:
    """This process's environment with ``extra`` set and the interpreter's bin dir on PATH."""
    env = dict(os.environ, **extra)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(
    root: Path, args: list[str], *, timeout: float | None = None, env: dict | None = None
) -> Run:
    """Run ``nbgrader ARGS`` with ``root`` as working directory."""
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=nbgrader_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        log, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        log, _ = proc.communicate()
        code = -1
    return Run(code, log, time.perf_counter() - start)


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)
