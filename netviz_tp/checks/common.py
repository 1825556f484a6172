"""Check machinery: reference-use detection, tolerant comparison with diagnosis, verdicts.

Shared by the checks of every practical: :func:`forbid_reference` (the student's code may not
call the package's reference), :func:`run_student`, :func:`close` and :func:`diagnose` (match
the reference, else name the mistake the result matches), :func:`passed` / :func:`failed`
(the printed verdict) and :func:`tiny_setup` (the default seeded model and images).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from pathlib import Path

import torch

from .. import (
    activations,
    attacks,
    cam,
    checkpoints,
    featviz,
    fooling,
    generators,
    saliency,
    training,
)
from ..gradients import input_gradient
from ..models import tiny_cnn


class ReferenceUsedError(AssertionError):
    """The student's function called the package's reference implementation."""


FORBIDDEN = {
    "saliency": ([saliency], []),
    "attacks": ([attacks], []),
    "cam": ([cam], []),
    "activations": ([activations], []),
    "featviz": (
        [],
        [featviz.class_visualization, featviz.create_class_visualization, featviz._ascend],
    ),
    "generators": (
        [training, checkpoints, fooling],
        [
            generators.conditional_loss,
            attacks.fooling_rate,
            attacks.fooling_rate_curve,
            attacks.fooling_and_hit_rates,
        ],
    ),
}
"""What each exercise may not call: whole modules (by file) or single functions. Grading
evaluates the student's functions in a package copy where these do not exist
(:mod:`netviz_tp.course.stubs`). The generic helper ``gradients.input_gradient`` (three lines
of ``torch.autograd.grad``) stays allowed, as do the checks' mistake variants built on it."""

_FAMILY = contextvars.ContextVar("netviz_tp_check_family", default=None)


def current_family() -> str | None:
    """The family whose references the check being run forbids (inside
    :func:`forbid_reference` of one family: the grading referee records it)."""
    return _FAMILY.get()


@contextlib.contextmanager
def forbid_reference(*families: str):
    """Make the package's reference implementations raise :class:`ReferenceUsedError`.

    ``families``: "saliency", "attacks", "cam", "activations", "featviz",
    "generators" (default: all).
    Works however the
    function was imported (a Python call is caught by the code it runs, via ``sys.settrace``);
    helpers a student may use (``featviz.jitter``, ``featviz.gaussian_blur``) stay allowed.
    """
    files, codes = set(), set()
    for family in families or tuple(FORBIDDEN):
        modules, functions = FORBIDDEN[family]
        files.update(str(Path(m.__file__).resolve()) for m in modules)
        codes.update(f.__code__ for f in functions)
    resolved: dict[str, str] = {}
    used: list = []  # remembered: the code under test may catch the error
    previous = sys.gettrace()

    def refuse(code, file):
        return ReferenceUsedError(
            f"your code called the package's reference {code.co_name}() "
            f"({Path(file).name}): implement the exercise yourself, with torch"
        )

    def tracer(frame, event, arg):
        if event == "call":
            code = frame.f_code
            name = resolved.get(code.co_filename)
            if name is None:
                name = resolved[code.co_filename] = str(Path(code.co_filename).resolve())
            if code in codes or name in files:
                used.append((code, name))
                raise refuse(code, name)
        return previous(frame, event, arg) if previous is not None else None

    token = _FAMILY.set(families[0]) if len(families) == 1 else None
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
        if token is not None:
            _FAMILY.reset(token)
    if used:
        raise refuse(*used[0])


# --- verdicts ------------------------------------------------------------------------------


def passed(name: str, message: str) -> None:
    """Print the verdict of a passed check (printing it is the point of this package)."""
    print(f"✔ {name}: {message}")


def failed(name: str, message: str):
    """Fail the check ``name``: raise AssertionError with the diagnosis."""
    raise AssertionError(f"✘ {name}: {message}")


def close(a: torch.Tensor, b: torch.Tensor, tol: float, allowed: float = 0.0) -> bool:
    """Equal within ``tol`` relative to the scale of ``b`` (plus ``tol`` absolute), except for
    at most a fraction ``allowed`` of the entries (sign steps flip where a gradient is ~0)."""
    if a.shape != b.shape:
        return False
    scale = b.abs().max().item() if b.numel() else 0.0
    wrong = int(((a - b).abs() > tol * (1.0 + scale)).sum())
    return wrong <= allowed * b.numel()


def run_student(name: str, family: str, fn, *args, **kwargs) -> torch.Tensor:
    """``fn(*args, **kwargs)`` with the ``family`` references forbidden; a detached tensor,
    in float32 when floating (a correct float64 implementation is compared as float32)."""
    with forbid_reference(family):
        out = fn(*args, **kwargs)
    if not isinstance(out, torch.Tensor):
        failed(name, f"should return a torch.Tensor, got {type(out).__name__}")
    out = out.detach()
    return out.to(torch.float32) if out.is_floating_point() else out


def check_maps(name: str, out: torch.Tensor, x_in: torch.Tensor, x: torch.Tensor, arg="X"):
    """Fail unless ``out`` is one map per image ``[N, H, W]`` and ``x_in`` still equals ``x``
    (the student's function left its input ``arg`` alone)."""
    n, _, h, w = x.shape
    if tuple(out.shape) != (n, h, w):
        failed(name, f"expected shape {(n, h, w)} (one map per image), got {tuple(out.shape)}")
    if not torch.equal(x_in, x):
        failed(name, f"your function modified the images {arg} in place: work on a copy")


def diagnose(name, out, ref, variants, tol, what, allowed: float = 0.0) -> None:
    """Pass if ``out`` matches ``ref``; else fail with the message of the matching mistake.

    ``variants``: (message, zero-argument function computing that mistake's result) pairs.
    """
    if close(out, ref, tol, allowed):
        return
    for message, variant in variants:
        if close(out, variant(), tol, allowed):
            failed(name, message)
    diff = (out - ref).abs().max().item()
    failed(
        name,
        f"{what} differ from the reference: max |difference| = {diff:.3g} "
        f"(the reference's values reach {ref.abs().max().item():.3g})",
    )


# --- inputs and gradients ------------------------------------------------------------------


def tiny_setup(seed: int = 0, n: int = 4, size: int = 32):
    """A seeded tiny 10-class CNN and ``n`` random ``size``x``size`` images in [0, 1]."""
    model = tiny_cnn(num_classes=10, seed=seed)
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    return model, x


def input_grad(model, x, objective) -> torch.Tensor:
    """The gradient of ``objective(model(x)).sum()`` with respect to the pixels ``x``."""
    return input_gradient(model, x, objective)[0]


def pick(logits_fn, t):
    """An objective: ``logits_fn(logits)[i, t[i]]`` for each image ``i``."""
    return lambda logits: logits_fn(logits).gather(1, t[:, None]).squeeze(1)
