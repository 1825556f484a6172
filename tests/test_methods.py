"""Method tables: every entry of ATTACKS and ATTRIBUTIONS carries what the contract tests and
the explorers read, and an entry that lacks it is refused when it is made."""

from __future__ import annotations

import inspect

import pytest

from netviz_tp.attacks import ATTACKS
from netviz_tp.methods import Knob, Method
from netviz_tp.saliency import ATTRIBUTIONS
from netviz_tp.widgets.knobs import KnobSliders

TABLES = {"ATTACKS": ATTACKS, "ATTRIBUTIONS": ATTRIBUTIONS}
ENTRIES = [(t, name, m) for t, table in TABLES.items() for name, m in table.items()]
IDS = [f"{t}.{name}" for t, name, _ in ENTRIES]


@pytest.mark.parametrize(("table", "name", "method"), ENTRIES, ids=IDS)
def test_every_entry_is_a_method_with_the_family_calling_convention(table, name, method):
    assert isinstance(method, Method), f"{table}[{name!r}] must be a netviz_tp.methods.Method"
    params = list(inspect.signature(method.fn).parameters.values())
    assert [p.name for p in params[:3]] == ["model", "x", "target"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:])
    assert method.__name__ == method.fn.__name__


@pytest.mark.parametrize(("table", "name", "method"), ENTRIES, ids=IDS)
def test_every_knob_has_a_default_in_its_range_and_a_slider(table, name, method):
    sliders = KnobSliders(TABLES[table])
    sliders.enable(name)
    values = sliders.values(name)
    assert set(values) == set(method.knobs)
    for keyword, knob in method.knobs.items():
        control = sliders.sliders[knob.control or keyword]
        assert not control.disabled
        assert knob.low <= method.defaults()[keyword] <= knob.high
        assert isinstance(values[keyword], int) == knob.integer, keyword
    enabled = {c for c, s in sliders.sliders.items() if not s.disabled}
    assert enabled == {k.control or kw for kw, k in method.knobs.items()}


def _attack(model, x, target, *, eps: float = 0.1, steps: int = 10, seed=None):
    return x


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(knobs={"epsilon": Knob(0, 1)}), "'epsilon' is not a keyword-only parameter"),
        (dict(deterministic={"random_start": False}), "'random_start' is not a keyword"),
        (dict(knobs={"eps": Knob(0.2, 1)}), "outside the knob's range"),
        (dict(knobs={"seed": Knob(0, 9)}), "no numeric default"),
    ],
)
def test_an_entry_lacking_what_tests_and_widgets_need_is_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        Method(_attack, **entry)
    assert Method(_attack, knobs={"seed": Knob(0, 9, default=1)}).defaults() == {"seed": 1}
