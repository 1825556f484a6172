"""Referee: the trusted side of grading. Records what each test asks, judges what comes back.

The referee is a process of the grader (``python -m netviz_tp.course.referee SPEC``) that
runs the instructor's source notebook (solutions and hidden tests) with IPython, never any
student code. At each autograded test cell, the names of the exercise's functions are bound
to *recorders* that call the instructor's function and note every call's arguments, and
``checks`` to a copy whose checks use a secret seed drawn for this grading (outputs cannot
be computed at home): the calls are saved for the sandbox (:mod:`.probe`), together with the
families of references the checks forbid. For each submission, :meth:`Referee.judge` runs the
same test cell again on the state the instructor's notebook had there, with the functions
bound to *replayers* that return the student's outputs read back from the sandbox. The real
checks then compare with the reference and diagnose; whatever the notebook patched in its
own interpreter does not exist here. A cell passes when it runs to its end.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from .transport import Encoder, TransportError, apply_after, decode, load


class RefereeError(RuntimeError):
    """The instructor's notebook or its tests fail in the referee (an environment problem)."""


class StudentCodeError(RuntimeError):
    """The student's function raised, or its output never came back from the sandbox."""


def _digest(spec, tensors) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for key in sorted(tensors):
        h.update(key.encode() + str(tensors[key].dtype).encode())
        h.update(tensors[key].numpy().tobytes() if tensors[key].numel() else b"")
    return h.hexdigest()


def _encoded(args, kwargs):
    enc = Encoder()
    spec = {"args": enc.encode(list(args)), "kwargs": enc.encode(dict(kwargs))}
    return spec, enc.tensors


class Recorder:
    """Stands for the student's function while a test is recorded: calls the instructor's."""

    def __init__(self, name: str, fn, calls: list):
        self.__name__, self._fn, self._calls = name, fn, calls

    def __call__(self, *args, **kwargs):
        from netviz_tp.checks.common import current_family

        spec, tensors = _encoded(args, kwargs)
        self._calls.append((self.__name__, spec, tensors, current_family()))
        return self._fn(*args, **kwargs)


class Replayer:
    """Stands for the student's function while a test is judged: returns their outputs."""

    def __init__(self, name: str, state: dict):
        self.__name__, self._state = name, state

    def __call__(self, *args, **kwargs):
        state = self._state
        k = state["next"]
        state["next"] += 1
        if k >= len(state["recorded"]) or state["recorded"][k]["fn"] != self.__name__:
            raise RefereeError(f"the test called {self.__name__}() in another order than recorded")
        if _digest(*_encoded(args, kwargs)) != state["recorded"][k]["digest"]:
            raise RefereeError(f"the test's inputs to {self.__name__}() are not deterministic")
        if state["missing"]:
            raise StudentCodeError(state["missing"])
        if k >= len(state["outputs"]):
            raise StudentCodeError("your notebook stopped before this test ran")
        out = state["outputs"][k]
        if not isinstance(out, dict) or ("ok" not in out and "error" not in out):
            raise StudentCodeError("malformed output from the sandbox")
        if "error" in out:
            raise StudentCodeError(f"{self.__name__}() raised {str(out['error'])[:1500]}")
        try:
            after = decode(out.get("after", {}), state["tensors"], build=False)
            apply_after(list(args), kwargs, after)
            return decode(out["ok"], state["tensors"], build=False)
        except TransportError as exc:
            raise StudentCodeError(f"{self.__name__}(): {exc}") from None


class SeededChecks:
    """``netviz_tp.checks`` whose checks add the grading's secret to their ``seed``."""

    def __init__(self, module, secret: int):
        self._module, self._secret = module, secret

    def __getattr__(self, name):
        fn = getattr(self._module, name)
        if not callable(fn) or "seed" not in inspect.signature(fn).parameters:
            return fn
        default = inspect.signature(fn).parameters["seed"].default

        def seeded(*args, seed=default, **kwargs):
            return fn(*args, seed=self._secret + int(seed), **kwargs)

        seeded.__name__ = name
        return seeded


def exercise_functions(source_nb) -> list[str]:
    """Names of the functions the solution cells define (what the tests call)."""
    names = []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            with contextlib.suppress(SyntaxError):
                tree = ast.parse(_python(cell.source))
                names += [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    return names


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def autograded(cell) -> bool:
    """An autograded test cell: graded, code, not an answer cell."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


# --- the referee process ---------------------------------------------------------------------


class _Session:
    """Inside the referee process: the instructor's notebook state at each test cell."""

    def __init__(self, notebook: Path, calls_dir: Path, secret: int):
        import nbformat
        from IPython.core.interactiveshell import InteractiveShell

        self.nb = nbformat.read(notebook, as_version=4)
        self.calls_dir, self.secret = calls_dir, secret

        class Shell(InteractiveShell):
            def enable_gui(self, gui=None):  # no event loop here: figures are not shown
                return None

        self.shell = Shell.instance()
        self.functions = exercise_functions(self.nb)
        self.snapshots: dict[str, dict] = {}
        self.recorded: dict[str, list] = {}
        self.cells: dict[str, dict] = {}

    def _namespace(self, base: dict, bind) -> dict:
        import netviz_tp.checks

        ns = dict(base)
        for name in self.functions:
            if name in ns:
                ns[name] = bind(name, ns[name])
        for key, value in base.items():
            if value is netviz_tp.checks:
                ns[key] = SeededChecks(value, self.secret)
        return ns

    def prepare(self) -> dict:
        last = max((i for i, c in enumerate(self.nb.cells) if autograded(c)), default=-1)
        for index, cell in enumerate(self.nb.cells[: last + 1]):
            if cell.cell_type != "code":
                continue
            if autograded(cell):
                self._record(index, cell)
                continue
            result = self.shell.run_cell(cell.source, store_history=False)
            if not result.success:
                error = result.error_in_exec or result.error_before_exec
                first = cell.source.strip().splitlines()[0][:60]
                raise RefereeError(
                    f"the instructor's notebook fails at cell {index + 1} ({first!r}): "
                    f"{type(error).__name__}: {error}"
                )
        return self.cells

    def _record(self, index: int, cell) -> None:
        gid = cell.metadata["nbgrader"]["grade_id"]
        calls: list = []
        base = dict(self.shell.user_ns)
        ns = self._namespace(base, lambda name, fn: Recorder(name, fn, calls))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(_python(cell.source), f"<test {gid}>", "exec"), ns)
        except BaseException as exc:
            raise RefereeError(
                f"the instructor's solution fails its own test {gid!r} (cell {index + 1}) with "
                f"this grading's seed: {type(exc).__name__}: {exc}"
            ) from None
        enc = Encoder()
        entries, families = [], set()
        for name, spec, tensors, family in calls:
            mapping = {k: enc._tensor(v)["key"] for k, v in tensors.items()}
            entries.append({"fn": name, **_rekey(spec, mapping)})
            families |= {family} if family else set()
        enc.save(self.calls_dir / gid, {"calls": entries})
        self.snapshots[gid] = base
        self.recorded[gid] = [{"fn": n, "digest": _digest(s, t)} for n, s, t, _ in calls]
        points = float(cell.metadata["nbgrader"].get("points", 0))
        self.cells[gid] = {"points": points, "families": sorted(families), "calls": len(calls)}

    def judge(self, gid: str, stem: str, inside: str, missing: str) -> dict:
        state = {
            "next": 0,
            "recorded": self.recorded[gid],
            "outputs": [],
            "tensors": {},
            "missing": missing,
        }
        if not missing:
            try:
                spec, state["tensors"] = load(Path(stem), Path(inside))
                state["outputs"] = spec.get("outputs", []) if isinstance(spec, dict) else []
            except TransportError as exc:
                state["missing"] = f"no readable output for this test: {exc}"
        ns = self._namespace(self.snapshots[gid], lambda name, fn: Replayer(name, state))
        buffer, error = io.StringIO(), ""
        source = next(
            c.source
            for c in self.nb.cells
            if autograded(c) and c.metadata["nbgrader"]["grade_id"] == gid
        )
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compile(_python(source), f"<test {gid}>", "exec"), ns)
        except RefereeError:
            raise
        except BaseException as exc:  # the verdict: the test failed
            error = (
                str(exc)
                if isinstance(exc, AssertionError) and str(exc)
                else (f"{type(exc).__name__}: {exc}")
            )
        return {"passed": not error, "stdout": buffer.getvalue()[-20000:], "error": error[:4000]}


def _rekey(spec, mapping: dict):
    if isinstance(spec, dict):
        if spec.get("t") == "tensor":
            return {"t": "tensor", "key": mapping[spec["key"]]}
        if spec.get("t") == "model":
            rest = {k: _rekey(v, mapping) for k, v in spec.items() if k != "state"}
            return {**rest, "state": {k: mapping[v] for k, v in spec["state"].items()}}
        return {k: _rekey(v, mapping) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_rekey(v, mapping) for v in spec]
    return spec


def serve(spec_path: str) -> int:
    """The referee process: prepare, then answer one JSON request per stdin line."""
    spec = json.loads(Path(spec_path).read_text())
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # everything the notebook prints goes to the log, not into the protocol
    os.chdir(spec["cwd"])
    try:
        session = _Session(Path(spec["notebook"]), Path(spec["calls_dir"]), int(spec["secret"]))
        message = {"cells": session.prepare()}
    except RefereeError as exc:
        message = {"fatal": str(exc)}
    reply.write(json.dumps(message) + "\n")
    reply.flush()
    if "fatal" in message:
        return 1
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = session.judge(**request)
        except RefereeError as exc:
            answer = {"fatal": str(exc)}
        reply.write(json.dumps(answer) + "\n")
        reply.flush()
    return 0


class Referee:
    """The grader's handle on a referee process for one source notebook (thread-safe).

    ``threads``: the torch threads of the sandboxed runs. The referee computes with as many,
    so that the instructor's own solution gets bit for bit the reference's values (the float
    sums of a convolution depend on the thread count, and a rule that stops at a threshold,
    such as the course's fooling rule, can turn that last bit into a whole step).
    """

    def __init__(
        self, notebook: Path, work: Path, secret: int, log: Path, timeout: float = 900, *, threads=1
    ):
        self.calls_dir = work / "calls"
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "notebook": str(notebook),
            "calls_dir": str(self.calls_dir),
            "secret": secret,
            "cwd": str(notebook.parent),
        }
        (work / "referee.json").write_text(json.dumps(spec))
        env = dict(os.environ, NETVIZ_TP_FAST="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self._log = open(log, "w")  # noqa: SIM115 (open for the life of the process)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "netviz_tp.course.referee", str(work / "referee.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._lock = threading.Lock()
        timer = threading.Timer(timeout, self._proc.kill)
        timer.start()
        ready = self._read()
        timer.cancel()
        if "fatal" in ready:
            self.close()
            raise RefereeError(ready["fatal"])
        self.cells: dict[str, dict] = ready["cells"]

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            tail = Path(self._log.name).read_text()[-1500:]
            raise RefereeError(f"the referee process ended unexpectedly: {tail}")
        return json.loads(line)

    def judge(self, gid: str, outputs: Path, inside: Path, missing: str = "") -> dict:
        """The trusted verdict of test cell ``gid`` on the outputs ``outputs/gid.{json,st}``."""
        request = {
            "gid": gid,
            "stem": str(outputs / gid),
            "inside": str(inside),
            "missing": missing,
        }
        with self._lock:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            answer = self._read()
        if "fatal" in answer:
            raise RefereeError(answer["fatal"])
        return answer

    def close(self) -> None:
        """End the referee process."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
