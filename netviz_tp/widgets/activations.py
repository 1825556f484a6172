"""Average-activation explorer: two images (or two classes) x model x norm -> the mean maps of
a layer's filter, ranked by their difference, the layer's mean difference, the summary curve
or the histogram; Grad-CAM of the top-5 classes (or any class) of the first image.

The views of the thesis's "Average Activation" and "Grad-CAM" pages (seed 002, Sec. 5.3 and
5.5), one click sending an image and its FGSM version into the comparison (Sec. 5.4).
"""

from __future__ import annotations

import html
import io

import ipywidgets as W
import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image

from ..activations import compare_activations, compare_classes
from ..attacks import fgsm
from ..cam import grad_cam
from ..image import overlay
from ..models import top_k
from ..plot import short_name
from ..plot_activations import plot_activation_histogram, plot_norm_summary
from .common import TILE, Cancelled, Explorer, png, slider, styled, tile
from .pickers import ImagePicker, class_box, class_names_for, resolve_class

MODES = ("images", "classes")
VIEWS = ("difference", "layer mean difference", "summary curve", "histogram")
ORDERS = {"L2": 2.0, "L1": 1.0, "L-inf": float("inf")}
ADVERSARIAL = "FGSM version of the first image"
SIDE = 224
BY_NAME = -1  # the Grad-CAM choice "by name" (the others are top-5 ranks 0..4)


class ActivationsExplorer(Explorer):
    """Compare the average activations of two groups, layer by layer and filter by filter.

    Controls: ``mode`` (images / classes), ``picker`` (first image, ``image_dd``, ``upload``),
    ``second_dd`` (second image, or the FGSM version of the first), ``eps`` (FGSM budget, in
    /255), ``adv_button`` (image vs its FGSM version, in one click), ``classes_box`` (two
    classes, e.g. ``"tabby, tiger cat"``; empty: the two most frequent predictions),
    ``model_dd``, ``ord_dd``, ``layer_slider``, ``filter_slider`` (rank), ``view`` (difference,
    layer mean difference, summary curve, histogram), ``log_box``; Grad-CAM: ``cam_class``
    (top-5 classes or "by name") and ``class_box``. Outputs: ``image_a``, ``centre``,
    ``image_b`` (with captions), ``cam_image``, ``status``, ``error``, ``progress``.
    """

    def __init__(self, models=None, images=None, *, eps: float = 2.0):
        super().__init__(models)
        self.picker = ImagePicker(images)
        self.image_dd, self.upload = self.picker.dropdown, self.picker.upload
        self.mode = styled(W.ToggleButtons(options=MODES, description="compare"), "mode")
        self.second_dd = styled(W.Dropdown(description="second"), "second")
        self.second_dd.options = [(ADVERSARIAL, ADVERSARIAL), *self.image_dd.options]
        self.second_dd.value = ADVERSARIAL
        self.eps = slider(W.FloatSlider, "eps", "FGSM eps (/255)", min=0.5, max=16, value=eps)
        self.adv_button = styled(W.Button(description="image vs FGSM version"), "adv-button")
        self.classes_box = styled(
            W.Text(description="classes", placeholder="two most frequent predictions"), "classes"
        )
        self.ord_dd = styled(W.Dropdown(options=list(ORDERS), description="norm"), "ord")
        self.layer_slider = slider(W.IntSlider, "layer", "layer", min=0, max=0)
        self.filter_slider = slider(W.IntSlider, "filter", "filter rank", min=0, max=0)
        self.view = styled(W.ToggleButtons(options=VIEWS, description="centre"), "view")
        self.log_box = styled(W.Checkbox(description="log scale", value=False), "log")
        self.cam_class = styled(
            W.ToggleButtons(options=[("by name", BY_NAME)], description="Grad-CAM"), "cam-class"
        )
        self.class_box = class_box()
        self.image_a, self.caption_a, tile_a = tile("mean-a", "A")
        self.centre, self.caption_centre, tile_centre = tile("centre", "difference")
        self.image_b, self.caption_b, tile_b = tile("mean-b", "B")
        self.cam_image, self.cam_caption, tile_cam = tile("cam", "Grad-CAM")
        self.centre.layout = W.Layout(width="auto", height=TILE)
        self.comparison = None
        self._summaries: dict[tuple, bytes] = {}
        self._top5: list[int] = []
        inputs = W.VBox([self.mode, self.picker.widget, W.HBox([self.second_dd, self.eps]),
                         self.adv_button, self.classes_box])  # fmt: skip
        self.widget = styled(
            W.VBox(
                [
                    inputs,
                    W.HBox([self.model_dd, self.ord_dd]),
                    W.HBox([self.progress, self.status]),
                    self.error,
                    W.HBox([self.layer_slider, self.filter_slider]),
                    W.HBox([self.view, self.log_box]),
                    W.HBox([tile_a, tile_centre, tile_b]),
                    W.HBox([W.VBox([self.cam_class, self.class_box]), tile_cam]),
                ]
            ),  # fmt: skip
            "activations-explorer",
        )
        for control in (self.mode, self.image_dd, self.second_dd, self.eps, self.classes_box,
                        self.model_dd, self.ord_dd):  # fmt: skip
            control.observe(lambda _: self.update(), "value")
        for control in (self.layer_slider, self.filter_slider, self.view, self.log_box):
            control.observe(lambda _: self.request(self._render), "value")
        self.cam_class.observe(lambda _: self.request(self._cam), "value")
        self.class_box.observe(self._class_typed, "value")
        self.adv_button.on_click(lambda _: self.image_vs_adversarial())
        self.update()

    def image_vs_adversarial(self) -> None:
        """Compare the first image with its FGSM version (one request)."""
        with self.mode.hold_trait_notifications(), self.second_dd.hold_trait_notifications():
            self.mode.value, self.second_dd.value = "images", ADVERSARIAL
        self.update()

    def update(self) -> None:
        """Recompute the comparison and Grad-CAM (a newer call cancels this one)."""
        self.request(self._compute)

    def _class_typed(self, change) -> None:
        if change["new"].strip() and self.cam_class.value != BY_NAME:
            self.cam_class.value = BY_NAME  # its observer requests the map
        else:
            self.request(self._cam)

    # ---- work (on the worker thread) ----
    def _compute(self, token) -> str:
        model, ord = self.model(), ORDERS[self.ord_dd.value]
        names = class_names_for(model)
        x, label = self.picker.current()
        self._step(token, 0.1)
        if self.mode.value == "images":
            x_b, name_b = self._second(model, x, label, names)
            self._step(token, 0.4)
            comp = compare_activations(model, x, x_b, ord=ord, labels=("first image", name_b))
        else:
            everything = self.picker.all_images()
            text = self.classes_box.value.strip()
            chosen = [resolve_class(c) for c in text.split(",")] if text else None
            comp = compare_classes(model, everything, chosen, ord=ord, class_names=names)
            labels = tuple(short_name(c, names) for c in comp.classes)
            comp = type(comp)(comp.layers, comp.ord, labels, comp.counts, comp.classes)
        self._step(token, 0.8)
        self.comparison = comp
        probs, idx = top_k(model, x, k=min(5, model.num_classes))
        self._top5 = idx[0].tolist()
        pairs = zip(self._top5, probs[0].tolist(), strict=True)
        chosen = self.cam_class.value
        with self.cam_class.hold_trait_notifications():
            self.cam_class.options = [
                *((f"{short_name(c, names)} ({p:.0%})", i) for i, (c, p) in enumerate(pairs)),
                ("by name", BY_NAME),
            ]
            self.cam_class.value = chosen if chosen in (BY_NAME, *range(len(idx[0]))) else 0
        with self.layer_slider.hold_trait_notifications():
            self.layer_slider.max = len(comp) - 1
        self._render(token)
        self._cam(token)
        return f"{comp.labels[0]} vs {comp.labels[1]} on {model.name}: {len(comp)} layers"

    def _second(self, model, x, label, names):
        if self.second_dd.value != ADVERSARIAL:
            return self.picker.image(self.second_dd.value), "second image"
        target = label if label is not None else int(top_k(model, x, k=1)[1][0, 0])
        adv = fgsm(model, x, [target], eps=self.eps.value / 255, targeted=False)
        return adv.x_adv, f"FGSM ({short_name(int(adv.pred[0]), names)})"

    def _render(self, token=None) -> str:
        comp = self.comparison
        if comp is None:
            return "nothing to show yet"
        layer = comp[min(self.layer_slider.value, len(comp) - 1)]
        with self.filter_slider.hold_trait_notifications():
            self.filter_slider.max = len(layer.ranking) - 1
        rank = min(self.filter_slider.value, len(layer.ranking) - 1)
        k = int(layer.ranking[rank])
        a, b, d = layer.mean_a[k], layer.mean_b[k], layer.delta[k]
        lo, hi = min(a.min(), b.min()).item(), max(a.max(), b.max()).item()
        self.image_a.value, self.image_b.value = map_png(a, lo, hi), map_png(b, lo, hi)
        self.caption_a.value = html.escape(f"{comp.labels[0]} (n={comp.counts[0]})")
        self.caption_b.value = html.escape(f"{comp.labels[1]} (n={comp.counts[1]})")
        view = self.view.value
        if view in ("difference", "layer mean difference"):
            values = d if view == "difference" else layer.mean_delta
            span = values.abs().max().item() or 1.0
            self.centre.value = map_png(values, -span, span, "RdBu_r")
        elif view == "summary curve":
            key = (id(comp), self.log_box.value)
            if key not in self._summaries:  # one figure per comparison and scale
                self._summaries = {key: figure_png(plot_norm_summary(comp, log=key[1]))}
            self.centre.value = self._summaries[key]
        else:
            self.centre.value = figure_png(
                plot_activation_histogram(comp, layer.name, rank, log=self.log_box.value)
            )
        self.caption_centre.value = html.escape(
            f"{layer.name}: filter {k} (rank {rank} of {len(layer.ranking)}), "
            f"norm {layer.norms[k]:.3g} | {view}"
        )
        return f"{layer.name}, filter {k}"

    def _cam(self, token=None) -> str:
        if self.comparison is None or not self._top5:
            return "nothing to show yet"
        model = self.model()
        x, _ = self.picker.current()
        choice = self.cam_class.value
        target = resolve_class(self.class_box.value) if choice == BY_NAME else self._top5[choice]
        heat = grad_cam(model, x, [target])
        self.cam_image.value = png(overlay(x, heat)[0])
        self.cam_caption.value = "Grad-CAM: " + html.escape(
            short_name(target, class_names_for(model))
        )
        return f"Grad-CAM of {short_name(target, class_names_for(model))}"

    def _step(self, token, fraction: float) -> None:
        if token.stale:
            raise Cancelled
        self.progress.value = fraction


def map_png(values: torch.Tensor, lo: float, hi: float, cmap: str = "viridis") -> bytes:
    """PNG bytes of one map ``[h, w]`` coloured on the scale ``[lo, hi]``, enlarged (nearest
    neighbour) so that its longer side is about 224 pixels."""
    v = values.detach().float().cpu().numpy()
    scaled = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    rgb = (colormaps[cmap](np.clip(scaled, 0, 1))[..., :3] * 255).round().astype(np.uint8)
    factor = max(1, SIDE // max(v.shape))
    image = Image.fromarray(rgb).resize((v.shape[1] * factor, v.shape[0] * factor), 0)
    buffer = io.BytesIO()
    image.save(buffer, "png")
    return buffer.getvalue()


def figure_png(fig) -> bytes:
    """PNG bytes of a matplotlib Figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70)
    return buffer.getvalue()


def activations_explorer(models=None, images=None, *, eps: float = 2.0) -> ActivationsExplorer:
    """An interactive average-activation and Grad-CAM explorer (display it as the last line
    of a cell).

    Args:
        models: model names for ``load_model`` and/or loaded models (default SqueezeNet 1.1,
            VGG16, EfficientNet-Lite0); each is loaded on first use and kept.
        images: None (the course's 25 ImageNet images), a course dataset, a tensor
            ``[N, 3, H, W]`` in [0, 1] or ``{name: image}``; classes mode splits them all.
        eps: the FGSM budget of the adversarial version, in /255.

    Example: ``ex = activations_explorer(); ex`` then change the controls.
    Used in: solutions/04_inside_the_network.
    """
    return ActivationsExplorer(models, images, eps=eps)
