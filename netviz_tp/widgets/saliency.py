"""Saliency explorer: image x class x model x method -> the map, its overlay and the top-5.

Every method of ``saliency.ATTRIBUTIONS`` appears in the method menu, and its knobs (SmoothGrad's
samples and noise, the integrated-gradients steps) as sliders enabled for that method.
"""

from __future__ import annotations

import html

import ipywidgets as W

from ..image import overlay
from ..models import top_k
from ..plot import short_name
from ..saliency import ATTRIBUTIONS
from .common import Explorer, heat_png, image_png, png, styled, tile
from .knobs import KnobSliders
from .pickers import ImagePicker, class_box, class_names_for, resolve_class

TARGETS = ("true class", "predicted class", "class by name")


class SaliencyExplorer(Explorer):
    """Pick an image (or upload one), the class to explain, the model and the method.

    Controls: ``image_dd``, ``upload``, ``target_mode`` (true / predicted / by name),
    ``class_box`` (type a class name), ``model_dd``, ``method_dd``, ``knobs.sliders`` (the
    methods' knobs, from ``ATTRIBUTIONS``).
    Outputs: ``input_image``, ``output_image`` (the map), ``overlay_image``, ``top5``
    (HTML list), ``status``, ``error``, ``progress``.
    """

    def __init__(self, models=None, images=None):
        super().__init__(models)
        self.picker = ImagePicker(images)
        self.image_dd, self.upload = self.picker.dropdown, self.picker.upload
        self.target_mode = styled(
            W.ToggleButtons(options=TARGETS, value=TARGETS[0], description="explain"), "target"
        )
        self.class_box = class_box()
        self.method_dd = styled(
            W.Dropdown(options=list(ATTRIBUTIONS), description="method"), "method"
        )
        self.knobs = KnobSliders(ATTRIBUTIONS)
        self.input_image, self.input_caption, input_tile = tile("input", "image")
        self.output_image, self.map_caption, map_tile = tile("saliency-map", "map")
        self.overlay_image, _, overlay_tile = tile("overlay", "overlay")
        self.top5 = styled(W.HTML(layout=W.Layout(min_width="220px")), "top5")
        controls = W.VBox(
            [
                self.picker.widget,
                W.HBox([self.model_dd, self.method_dd]),
                self.knobs.widget,
                self.target_mode,
                self.class_box,
            ]
        )
        self.widget = styled(
            W.VBox(
                [
                    controls,
                    W.HBox([self.progress, self.status]),
                    self.error,
                    W.HBox([input_tile, map_tile, overlay_tile, self.top5]),
                ]
            ),
            "saliency-explorer",
        )
        self.method_dd.observe(lambda _: self.knobs.enable(self.method_dd.value), "value")
        self.knobs.enable(self.method_dd.value)
        controls = (self.image_dd, self.target_mode, self.model_dd, self.method_dd)
        for control in (*controls, *self.knobs.sliders.values()):
            control.observe(lambda _: self.update(), "value")
        self.class_box.observe(self._class_typed, "value")
        self.update()

    def _class_typed(self, change) -> None:
        if change["new"].strip() and self.target_mode.value != TARGETS[2]:
            self.target_mode.value = TARGETS[2]  # its observer requests the update
        else:
            self.update()

    def update(self) -> None:
        """Recompute for the current controls (a newer call cancels this one)."""
        self.request(self._compute)

    def _compute(self, token) -> str:
        x, label = self.picker.current()
        model = self.model()
        names = class_names_for(model)
        probs, idx = top_k(model, x, k=min(5, model.num_classes))
        target, why = self._target(label, int(idx[0, 0]))
        if token.stale:
            return ""
        method = self.method_dd.value
        heat = ATTRIBUTIONS[method](model, x, target, **self.knobs.values(method))
        if token.stale:
            return ""
        self.input_image.value = image_png(x)
        self.output_image.value = heat_png(heat[0])
        self.overlay_image.value = png(overlay(x, heat)[0])
        shown = html.escape(short_name(target, names))
        true = "" if label is None else f" (true: {html.escape(short_name(label, names))})"
        self.input_caption.value = "image" + true
        self.map_caption.value = f"{method}: <b>{shown}</b>"
        rows = "".join(
            f"<li>{html.escape(short_name(i, names))}: {p:.1%}</li>"
            for p, i in zip(probs[0].tolist(), idx[0].tolist(), strict=True)
        )
        self.top5.value = f"<b>{model.name} top-{len(idx[0])}</b><ol>{rows}</ol>"
        return f"{method} map of {short_name(target, names)} ({why}) on {model.name}"

    def _target(self, label: int | None, predicted: int) -> tuple[int, str]:
        mode = self.target_mode.value
        if mode == TARGETS[2]:
            return resolve_class(self.class_box.value), "by name"
        if mode == TARGETS[0] and label is not None:
            return label, "true class"
        return predicted, "predicted" if mode == TARGETS[1] else "predicted: no true class"


def saliency_explorer(models=None, images=None) -> SaliencyExplorer:
    """An interactive saliency explorer (display it as the last line of a cell).

    Args:
        models: model names for ``load_model`` and/or loaded models (default SqueezeNet 1.1,
            VGG16, EfficientNet-Lite0); each is loaded on first use and kept.
        images: None (the course's 25 ImageNet images), a course dataset, a tensor
            ``[N, 3, H, W]`` in [0, 1] or ``{name: image}``; uploads are added to the menu.

    Example: ``ex = saliency_explorer(); ex`` then change the controls.
    Used in: solutions/01_saliency.
    """
    return SaliencyExplorer(models, images)
