"""Probe (inside the sandbox): call the student's functions on the grader's inputs, save outputs.

Each autograded test cell of the notebook run for evaluation is replaced by
``answer(grade_id, globals(), calls_dir, out_dir)``: it reads the calls the trusted test made
(:mod:`.referee`: function name, arguments), calls the student's function of that name as it
is at that point of the notebook, and writes each output (or the error it raised) and the
state it left in its arguments with :mod:`.transport`. Nothing here decides anything: the
outputs are judged outside.
"""

from __future__ import annotations

import signal
import time
import traceback
from pathlib import Path

from .transport import Encoder, after_call, decode, load, snapshot


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "TimeoutError: interrupted: the function ran longer than the per-cell time limit"
    frames = traceback.extract_tb(exc.__traceback__)[1:][-3:]
    where = "".join(f" (line {f.lineno} of {f.name})" for f in frames[-1:])
    return f"{type(exc).__name__}: {exc}"[:1500] + where


def _interrupt(signum, frame):
    raise TimeoutError("the function ran longer than the per-cell time limit")


def answer(grade_id: str, namespace: dict, calls_dir: str, out_dir: str, limit: int = 60):
    """Evaluate the calls recorded for test cell ``grade_id``; write ``out_dir/grade_id``.

    Each call may take ``limit`` seconds (then it counts as a TimeoutError)."""
    spec, tensors = load(Path(calls_dir) / grade_id)
    encoder = Encoder()
    outputs = []
    for call in spec["calls"]:
        fn = namespace.get(call["fn"])
        start = time.perf_counter()
        try:
            if not callable(fn):
                raise NameError(f"your notebook defines no function {call['fn']}() at this test")
            models: dict = {}  # this call's models and modules (an optimizer refers to one)
            args = decode(call["args"], tensors, models)
            kwargs = decode(call["kwargs"], tensors, models)
            before = snapshot(args, kwargs)
            previous = signal.signal(signal.SIGALRM, _interrupt)
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                value = fn(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            after = encoder.encode(after_call(args, kwargs, before), strict=False)
            outputs.append({"ok": encoder.encode(value, strict=False), "after": after})
        except BaseException as exc:  # noqa: BLE001 - every failure of student code is an output
            outputs.append({"error": _describe(exc)})
        outputs[-1]["seconds"] = time.perf_counter() - start
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    encoder.save(Path(out_dir) / grade_id, {"outputs": outputs})
