"""Method tables: ``Method(fn, knobs, deterministic)`` is an entry of ATTACKS and ATTRIBUTIONS.

A new method is one function ``fn(model, x, target, *, knobs)`` in its family module plus one
entry in that family's table. What reads an entry:

- the contract tests (``tests/test_attacks.py``, ``tests/test_saliency.py``) run ``fn`` with
  ``deterministic`` (keywords that make a run repeatable and independent of the batch);
- the explorers (``netviz_tp.widgets``) build one slider per ``Knob.control`` over the table
  and pass the chosen method the values of its own knobs.

An entry checks itself when it is made (:meth:`Method.__post_init__`): every knob and every
deterministic keyword is a keyword of ``fn``, and every knob has a numeric default (``fn``'s,
or the knob's own when ``fn``'s is None) inside its range. An entry is called like ``fn``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Knob:
    """A numeric keyword of a method that an explorer's slider sets.

    ``low``/``high``: the slider's range, in the keyword's units; ``step``: its step (None:
    the slider's own); ``log``: a log-scale slider; ``integer``: an integer slider;
    ``scale``: shown value = value * scale (``eps`` in /255: 255); ``control``: the slider's
    name, shared by the methods whose keywords mean the same thing (``max_iter`` of the
    fooling rule and ``steps`` of PGD are both ``"steps"``); default: the keyword.
    ``default``: used only when ``fn``'s default is None (e.g. PGD's ``eps``, norm-dependent).
    """

    low: float
    high: float
    step: float | None = None
    log: bool = False
    integer: bool = False
    scale: float = 1.0
    control: str = ""
    default: float | None = None

    def label(self, keyword: str) -> str:
        """The slider's description: its control name, with the display unit."""
        name = self.control or keyword
        return name if self.scale == 1 else f"{name} (/{self.scale:g})"


@dataclass(frozen=True)
class Method:
    """One entry of a method table (see the module docstring)."""

    fn: Callable
    knobs: dict[str, Knob] = field(default_factory=dict)
    deterministic: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = inspect.signature(self.fn).parameters
        keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        name = getattr(self.fn, "__name__", repr(self.fn))
        for keyword in [*self.knobs, *self.deterministic]:
            if keyword not in keywords:
                raise ValueError(
                    f"{name}: {keyword!r} is not a keyword-only parameter of {name}() "
                    f"(its keywords: {sorted(keywords)}); fix the table entry"
                )
        for keyword, knob in self.knobs.items():
            value = self.defaults()[keyword]
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(
                    f"{name}: knob {keyword!r} has no numeric default ({value!r}); "
                    "give the Knob a default"
                )
            if not knob.low <= value <= knob.high:
                raise ValueError(
                    f"{name}: the default {keyword}={value!r} lies outside the knob's range "
                    f"[{knob.low}, {knob.high}]"
                )

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    @property
    def __name__(self) -> str:
        return self.fn.__name__

    def defaults(self) -> dict[str, float]:
        """``{keyword: default}`` of every knob: ``fn``'s default, else the knob's."""
        params = inspect.signature(self.fn).parameters
        found = {}
        for keyword, knob in self.knobs.items():
            default = params[keyword].default
            found[keyword] = knob.default if default is None else default
        return found
