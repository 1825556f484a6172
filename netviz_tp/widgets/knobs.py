"""Sliders from a method table: ``KnobSliders(table)`` -> one slider per knob control, the values
of the chosen method's knobs (``ATTACKS``, ``ATTRIBUTIONS``: see :mod:`netviz_tp.methods`).

The slider of a control takes its kind, range and start value from the first method of the
table that has a knob with that control; a method's keyword is enabled only while that method
is chosen. A new method's knobs appear in the explorer with no change here.
"""

from __future__ import annotations

import math

import ipywidgets as W

from ..methods import Knob, Method
from .common import slider


class KnobSliders:
    """``sliders`` (``{control: slider}``, CSS class ``nv-<control>``), ``widget`` (a row)."""

    def __init__(self, table: dict[str, Method]):
        self.table = table
        self.sliders: dict[str, W.Widget] = {}
        self._scale: dict[str, float] = {}
        for method in table.values():
            defaults = method.defaults()
            for keyword, knob in method.knobs.items():
                control = knob.control or keyword
                if control not in self.sliders:
                    self.sliders[control] = _slider(control, keyword, knob, defaults[keyword])
                    self._scale[control] = knob.scale
        self.widget = W.HBox(list(self.sliders.values()))

    def enable(self, method: str) -> None:
        """Enable the sliders of ``method``'s knobs, disable the others."""
        used = set(self.values(method))
        controls = {k.control or kw for kw, k in self.table[method].knobs.items() if kw in used}
        for control, widget in self.sliders.items():
            widget.disabled = control not in controls

    def values(self, method: str) -> dict[str, float]:
        """``{keyword: value}`` of ``method``'s knobs, in the keyword's units."""
        found = {}
        for keyword, knob in self.table[method].knobs.items():
            control = knob.control or keyword
            value, scale = self.sliders[control].value, self._scale[control]
            found[keyword] = value if scale == 1 else value / scale
        return found


def _slider(control: str, keyword: str, knob: Knob, default: float) -> W.Widget:
    label = knob.label(keyword)
    if knob.log:
        bounds = dict(min=math.log10(knob.low), max=math.log10(knob.high))
        return slider(W.FloatLogSlider, control, label, value=default, **bounds)
    if knob.integer:
        bounds = dict(min=int(knob.low), max=int(knob.high))
        return slider(W.IntSlider, control, label, value=int(default), **bounds)
    s = knob.scale
    step = {} if knob.step is None else dict(step=knob.step * s)
    bounds = dict(min=knob.low * s, max=knob.high * s)
    return slider(W.FloatSlider, control, label, value=default * s, **bounds, **step)
