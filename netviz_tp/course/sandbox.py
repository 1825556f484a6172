"""Sandbox: run a command on a student's code under bubblewrap, or say loudly that it cannot.

Under bubblewrap (Debian package ``bubblewrap``) the command sees only: the system's ``/usr``
(+ its ``/bin``, ``/lib`` links and the dynamic linker's cache), the Python installation and
the virtual environment read-only, a copy of the package read-only at ``/opt/netviz`` (the
editable install's target, the repository with its solutions and hidden tests, is not
mounted), the assets folder read-only at ``/opt/netviz-assets``, the grader's inputs
read-only at ``/grading``, and one writable scratch folder at ``/scratch`` (HOME, TMPDIR and
``/tmp`` are inside it). It runs as uid 1000 in fresh user, pid, network (loopback only, not
the host's), IPC, UTS and cgroup namespaces with a fresh ``/proc``, a cleared environment, a
new session (no terminal), and dies with the grader. When the command ends, times out or
fills more than ``max_disk`` bytes (one file at most half of it), the pid namespace ends:
every process it started, double-forked daemons and ``setsid`` ones included, is killed by
the kernel.

Without bubblewrap (or where user namespaces are disabled) :func:`detect` returns the
``none`` sandbox, whose ``warning`` the grader prints and writes into grades.csv: the student
code then runs with the grader's rights, in its own process group (killed at the end).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from netviz_tp import settings

MAX_MEMORY = 8 * 2**30
"""Default resident memory of one sandboxed run (its whole process tree): 8 GiB, so that
two parallel runs and the grader fit in a 24 GiB machine; a practical in fast mode needs
well under 2 GiB."""
INSIDE = {
    "package": "/opt/netviz",
    "assets": "/opt/netviz-assets",
    "inputs": "/grading",
    "scratch": "/scratch",
}
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts")


@dataclass
class Run:
    """How a sandboxed command ended: exit code (None when killed by us), log, why killed."""

    code: int | None
    log: str
    killed: str = ""  # "" or the reason: "timed out after 60 s", "wrote more than 1 GB"
    seconds: float = 0.0


@dataclass(frozen=True)
class Sandbox:
    """``kind`` "bubblewrap" or "none"; ``warning`` says what "none" means for the grades."""

    kind: str
    warning: str = ""
    bwrap: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The grades.csv ``sandbox`` column."""
        return self.kind if self.kind != "none" else self.warning

    def paths(self, package: Path, scratch: Path, inputs: Path) -> dict[str, str]:
        """Where the command sees its folders (inside the sandbox, or the host's own paths)."""
        if self.kind == "bubblewrap":
            return dict(INSIDE)
        assets = str(settings.assets_dir() or "")
        return {
            "package": str(package),
            "assets": assets,
            "inputs": str(inputs),
            "scratch": str(scratch),
        }

    def run(
        self,
        argv: list[str],
        *,
        package: Path,
        scratch: Path,
        inputs: Path,
        timeout: float,
        max_disk: int = 2**30,
        max_memory: int = MAX_MEMORY,
        threads: int = 1,
    ) -> Run:
        """Run ``argv`` (its first item ``python`` means this interpreter) on the student's code.

        ``package``: folder holding the ``netviz_tp`` copy; ``scratch``: the only writable
        folder (created); ``inputs``: read-only grader inputs; ``timeout``: wall seconds;
        ``max_disk``, ``max_memory``: bytes written in ``scratch``, resident memory of the
        whole process tree.
        """
        for sub in ("home", "tmp", "work"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        paths = self.paths(package, scratch, inputs)
        env = _student_env(paths, threads)
        argv = [sys.executable if a == "python" else a for a in argv]
        if self.kind == "bubblewrap":
            cmd = [*self._bwrap_args(package, scratch, inputs, env), "--", *argv]
            popen_env, cwd = {}, None
        else:
            cmd, popen_env, cwd = argv, env, scratch / "work"
        return _supervise(cmd, popen_env, cwd, scratch, timeout, max_disk, max_memory)

    def _bwrap_args(self, package: Path, scratch: Path, inputs: Path, env: dict) -> list[str]:
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("bin", "lib", "lib64", "sbin", "lib32"):
            link = Path("/") / top
            if link.is_symlink():
                args += ["--symlink", os.readlink(link), str(link)]
            elif link.is_dir():
                args += ["--ro-bind", str(link), str(link)]
        for path in _ETC:
            if Path(path).exists():
                args += ["--ro-bind", path, path]
        for prefix in sorted({sys.base_prefix, sys.prefix}):
            args += ["--ro-bind", prefix, prefix]
        args += [
            "--ro-bind",
            str(package),
            INSIDE["package"],
            "--ro-bind",
            str(inputs),
            INSIDE["inputs"],
            "--bind",
            str(scratch),
            INSIDE["scratch"],
            "--bind",
            str(scratch / "tmp"),
            "/tmp",
            "--chdir",
            INSIDE["scratch"] + "/work",
        ]
        assets = settings.assets_dir()
        if assets is not None:
            args += ["--ro-bind", str(Path(assets).resolve()), INSIDE["assets"]]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return args


def _student_env(paths: dict[str, str], threads: int) -> dict[str, str]:
    """The whole environment of the student's code: nothing inherited from the grader."""
    home, tmp = f"{paths['scratch']}/home", f"{paths['scratch']}/tmp"
    env = {
        "HOME": home,
        "TMPDIR": tmp,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": paths["package"],
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        settings.FAST: "1",
        settings.CACHE: f"{home}/.cache/netviz_tp",
        "TORCH_HOME": f"{home}/.cache/torch",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": f"{tmp}/jupyter",
        "IPYTHONDIR": f"{home}/.ipython",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    if paths.get("assets"):
        env[settings.ASSETS] = paths["assets"]
    return env


def _disk_usage(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _limits(max_disk: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (max_disk // 2, max_disk // 2))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _tree_memory(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (0 once it has ended)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def _supervise(cmd, env, cwd, scratch: Path, timeout, max_disk: int, max_memory: int) -> Run:
    """Run ``cmd`` in its own session; kill its process group on timeout, a full disk or
    too much memory (the process tree's resident size, polled 5 times a second)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env or None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_limits(max_disk),
    )
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: proc.stdout.read(65536), b""))
    )
    reader.start()
    killed = ""
    while proc.poll() is None:
        if time.perf_counter() - start > timeout:
            killed = f"timed out after {timeout:g} s (whole submission)"
        elif _disk_usage(scratch) > max_disk:
            killed = f"wrote more than {max_disk / 2**20:.0f} MB in its scratch folder"
        elif _tree_memory(proc.pid) > max_memory:
            killed = f"used more than {max_memory / 2**20:.0f} MB of memory"
        if killed:
            _kill_group(proc)
            break
        time.sleep(0.2)
    proc.wait()
    _kill_group(proc)  # a no-sandbox run may have left children in its process group
    reader.join(timeout=10)
    log = b"".join(chunks)[-200_000:].decode("utf-8", "replace")
    return Run(None if killed else proc.returncode, log, killed, time.perf_counter() - start)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def detect(requested: str = "auto") -> Sandbox:
    """The sandbox to grade with: "bubblewrap" (fails if unusable), "none", or "auto"
    (bubblewrap when it works here, else "none" with the reason)."""
    if requested not in ("auto", "bubblewrap", "none"):
        raise ValueError(f"sandbox must be auto, bubblewrap or none, got {requested!r}")
    if requested == "none":
        return Sandbox(
            "none",
            "NO SANDBOX (disabled by --sandbox none): student code ran with the grader's rights",
        )
    bwrap = shutil.which("bwrap")
    problem = "" if bwrap else "bubblewrap is not installed (apt-get install bubblewrap)"
    if bwrap:
        probe = Sandbox("bubblewrap", bwrap=bwrap)
        with tempfile.TemporaryDirectory(prefix="netviz-probe-") as tmp:
            run = probe.run(
                ["/usr/bin/true"],
                package=Path(tmp),
                scratch=Path(tmp) / "s",
                inputs=Path(tmp),
                timeout=30,
            )
        if run.code == 0:
            return probe
        problem = f"bubblewrap cannot create its namespaces here: {run.log.strip()[-200:]}"
    if requested == "bubblewrap":
        raise RuntimeError(f"no sandbox: {problem}")
    return Sandbox("none", f"NO SANDBOX ({problem}): student code ran with the grader's rights")
