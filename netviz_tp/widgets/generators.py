"""Generator explorer: a class's visualisation ``V`` added to a course image, ``x + e V / 255``.

Contract: ``generator_explorer(model, x, perturbations, curves=None) -> GeneratorExplorer``;
``perturbations`` maps a kind ("class-conditional", "gradient ascent"...) to ``(V [K, 3, H, W]
with max |V| <= 1, classes [K])``. Controls: kind, class (by name), image, e; outputs: the
perturbation, the perturbed image with the network's prediction, and the fooling curves.
"""

from __future__ import annotations

import html
import io

import ipywidgets as W
import torch

from ..data import imagenet_classes
from ..fooling import check_coefficients
from ..plot import plot_fooling_curves, short_name
from ..validate import as_target, check_images
from .common import Explorer, image_png, slider, styled, tile


class GeneratorExplorer(Explorer):
    """See :func:`generator_explorer`."""

    def __init__(self, model, x, perturbations: dict, curves=None, *, e_max: int = 35):
        super().__init__(models=[model])
        if not perturbations:
            raise ValueError("perturbations is empty: give {kind: (V [K, 3, H, W], classes)}")
        self.x = check_images(x, model)
        self.perturbations = {}
        for kind, (v, classes) in perturbations.items():
            if v.abs().max() > 1 + 1e-6 or v.shape[1:] != self.x.shape[1:]:
                raise ValueError(
                    f"{kind}: V must be [K, {', '.join(map(str, self.x.shape[1:]))}] with "
                    "max|V| <= 1 (see netviz_tp.fooling.as_perturbation)"
                )
            self.perturbations[kind] = (v.detach(), as_target(classes, len(v), model))
        check_coefficients([e_max])
        names = imagenet_classes() if getattr(model, "num_classes", 0) == 1000 else None
        self.names = names
        self.kind_dd = styled(
            W.Dropdown(options=list(self.perturbations), description="kind"), "kind"
        )
        self.class_dd = styled(W.Dropdown(description="class"), "class")
        self.image_slider = slider(W.IntSlider, "image", "image", min=0, max=len(self.x) - 1)
        self.e_slider = slider(W.IntSlider, "e", "e (grey levels)", min=0, max=e_max, value=10)
        self.v_image, self.v_caption, v_box = tile("perturbation", "V")
        self.output_image, self.caption, out_box = tile("perturbed", "")
        self.curves_image = styled(W.Image(format="png"), "curves")
        if curves:
            buffer = io.BytesIO()
            plot_fooling_curves(curves).savefig(buffer, format="png", dpi=80)
            self.curves_image.value = buffer.getvalue()
        self._fill_classes()
        self.kind_dd.observe(lambda _: (self._fill_classes(), self.update()), names="value")
        for control in (self.class_dd, self.image_slider, self.e_slider):
            control.observe(lambda _: self.update(), names="value")
        controls = W.VBox([self.kind_dd, self.class_dd, self.image_slider, self.e_slider])
        top = W.HBox([controls, v_box, out_box])
        self.widget = styled(
            W.VBox([top, self.curves_image, self.status, self.error]), "generator-explorer"
        )
        self.update()

    def _fill_classes(self) -> None:
        _, classes = self.perturbations[self.kind_dd.value]
        options = [(short_name(c, self.names), i) for i, c in enumerate(classes.tolist())]
        self.class_dd.options = options
        self.class_dd.value = 0

    def update(self) -> None:
        """Recompute the perturbed image for the current controls (on the worker)."""
        kind, k = self.kind_dd.value, self.class_dd.value
        i, e = self.image_slider.value, self.e_slider.value
        self.request(lambda token: self._show(kind, k, i, e))

    def _show(self, kind: str, k: int, i: int, e: int) -> str:
        v, classes = self.perturbations[kind]
        x = self.x[i : i + 1]
        x_e = (x + e * v[k : k + 1].to(x.device) / 255).clamp(0, 1)
        with torch.no_grad():
            probs = self.model()(torch.cat([x, x_e])).softmax(1)
        clean, pred = probs.argmax(1).tolist()
        target = int(classes[k])
        self.v_image.value = image_png((v[k : k + 1] + 1) / 2)
        self.v_caption.value = html.escape(f"V: {short_name(target, self.names)}")
        self.output_image.value = image_png(x_e)
        verdict = "hit" if pred == target else ("fooled" if pred != clean else "unchanged")
        self.caption.value = html.escape(
            f"x + {e}·V/255: {short_name(pred, self.names)} ({probs[1, pred]:.0%}), {verdict}"
        )
        return f"clean prediction {short_name(clean, self.names)}"


def generator_explorer(model, x, perturbations: dict, curves=None, **kw) -> GeneratorExplorer:
    """The practical-5 explorer (see the module docstring).

    Example: ``generator_explorer(model, data.x, {"generator": (V, classes)}, curves=curves)``.
    Used in: solutions/05_generators.
    """
    return GeneratorExplorer(model, x, perturbations, curves, **kw)
