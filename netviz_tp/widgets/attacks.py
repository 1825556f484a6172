"""Adversarial explorer: image x target class x attack x (lr, eps, steps) -> before / after.

Every attack of ``attacks.ATTACKS`` appears in the method menu; the sliders are the table's
knobs (:class:`~netviz_tp.widgets.knobs.KnobSliders`), enabled for the chosen attack.
"""

from __future__ import annotations

import html
import inspect

import ipywidgets as W
import torch

from ..attacks import ATTACKS
from ..plot import short_name
from ..validate import check_images
from .common import Explorer, Watched, image_png, styled, tile
from .knobs import KnobSliders
from .pickers import ImagePicker, class_box, class_names_for, resolve_class

DEFAULT_TARGET = "stingray"  # the course's target (class 6)


class AdversarialExplorer(Explorer):
    """Pick an image, a target class by name, an attack and its budget; see the result.

    Controls: ``image_dd``, ``upload``, ``class_box`` (the target), ``model_dd``,
    ``method_dd``, ``lr_slider`` (step length, pixel L2), ``eps_slider`` (L-inf budget in
    /255), ``steps_slider``. Outputs: ``input_image`` (before), ``output_image`` (after),
    ``perturbation_image`` (magnified), ``result`` (success, iterations, size in /255),
    ``status``, ``error``, ``progress``.
    """

    def __init__(self, models=None, images=None, target: str = DEFAULT_TARGET):
        super().__init__(models)
        self.picker = ImagePicker(images)
        self.image_dd, self.upload = self.picker.dropdown, self.picker.upload
        self.class_box = class_box("target")
        self.class_box.value = str(target)
        self.method_dd = styled(W.Dropdown(options=list(ATTACKS), description="method"), "method")
        self.knobs = KnobSliders(ATTACKS)
        sliders = self.knobs.sliders
        self.lr_slider, self.eps_slider = sliders["lr"], sliders["eps"]
        self.steps_slider = sliders["steps"]
        self.input_image, self.before_caption, before = tile("input", "before")
        self.output_image, self.after_caption, after = tile("adversarial", "after")
        self.perturbation_image, self.delta_caption, delta = tile("perturbation", "perturbation")
        self.result = styled(W.HTML(), "result")
        self.widget = styled(
            W.VBox(
                [
                    self.picker.widget,
                    W.HBox([self.model_dd, self.method_dd, self.class_box]),
                    self.knobs.widget,
                    W.HBox([self.progress, self.status]),
                    self.error,
                    self.result,
                    W.HBox([before, after, delta]),
                ]
            ),
            "adversarial-explorer",
        )
        self.method_dd.observe(lambda _: self._method_changed(), "value")
        for control in (self.image_dd, self.model_dd, self.class_box, *sliders.values()):
            control.observe(lambda _: self.update(), "value")
        self._method_changed()

    def _knobs(self) -> dict:
        """The chosen attack's keywords: its sliders, and early stopping where it has one."""
        method = self.method_dd.value
        knobs = self.knobs.values(method)
        if "early_stop" in inspect.signature(ATTACKS[method].fn).parameters:
            knobs["early_stop"] = True  # iterations then counts the steps used
        return knobs

    def _method_changed(self) -> None:
        self.knobs.enable(self.method_dd.value)
        self.update()

    def update(self) -> None:
        """Run the attack for the current controls (a newer call cancels this one)."""
        self.request(self._attack)

    def _attack(self, token) -> str:
        model = self.model()
        x = check_images(self.picker.current()[0], model)  # on the model's device
        target = resolve_class(self.class_box.value)
        knobs = self._knobs()
        budget = self.steps_slider.value + 2 if not self.steps_slider.disabled else 3
        calls = [0]

        def forward_done():
            calls[0] += 1
            self.progress.value = min(calls[0] / budget, 1.0)

        watched = Watched(model, token, forward_done)
        result = ATTACKS[self.method_dd.value](watched, x, target, **knobs)
        if token.stale:
            return ""
        with torch.no_grad():
            probs = torch.softmax(model(torch.cat([x, result.x_adv])), dim=1)
        return self._show(x, result, probs, target, class_names_for(model))

    def _show(self, x, result, probs, target: int, names) -> str:
        """Render the before / after / perturbation tiles and the result line."""

        def name(i: int) -> str:
            return html.escape(short_name(i, names))

        before, after = probs.argmax(dim=1).tolist()
        self.input_image.value = image_png(x)
        self.output_image.value = image_png(result.x_adv)
        self.before_caption.value = f"before: {name(before)} ({probs[0, before]:.0%})"
        self.after_caption.value = f"after: {name(after)} ({probs[1, after]:.0%})"
        delta = (result.x_adv - x)[0].cpu()
        peak = delta.abs().max().item()
        gain = 0.5 / peak if peak > 0 else 0.0  # the largest change fills the grey range
        self.perturbation_image.value = image_png((0.5 + gain * delta)[None])
        self.delta_caption.value = f"perturbation &times; {gain:.0f}" if peak else "no change"
        verdict = "success" if bool(result.success[0]) else "failure"
        iterations = int(result.iterations[0])
        linf, l2 = float(result.linf_255[0]), float(result.l2_255[0])
        self.result.value = (
            f"<b>{verdict}</b>: {name(before)} &rarr; {name(after)} (target {name(target)}) "
            f"after {iterations} iterations; perturbation L&infin; {linf:.2f}/255, "
            f"L2 {l2:.1f}/255"
        )
        return f"{self.method_dd.value} {verdict} in {iterations} iterations"


def adversarial_explorer(
    models=None, images=None, target: str = DEFAULT_TARGET
) -> AdversarialExplorer:
    """An interactive adversarial-example explorer (display it as the last line of a cell).

    Args:
        models, images: as :func:`saliency_explorer`.
        target: the initial target class, a name or an index ("stingray").

    Example: ``ex = adversarial_explorer(); ex`` then change the target or the method.
    Used in: solutions/02_adversarial.
    """
    return AdversarialExplorer(models, images, target)
