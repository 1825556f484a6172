"""Class-visualisation explorer: class x preset x knobs x start -> a live image and a gallery.

The presets of ``featviz.PRESETS`` fill the sliders; each finished (or stopped) run adds its
image, with its settings, to a gallery for side-by-side comparison; a sweep of one knob
(``sweep.sweep``, one batch) adds one image per value.
"""

from __future__ import annotations

import dataclasses
import html
import threading
import time

import ipywidgets as W

from ..featviz import PRESETS, VisSettings, class_visualization
from ..plot import short_name
from ..sweep import sweep
from .common import Cancelled, Explorer, image_png, slider, styled, tile
from .pickers import ImagePicker, class_box, class_names_for, class_text, resolve_class

NOISE = "noise"
FRAME_SECONDS = 0.25  # the live image is refreshed at most this often
DEFAULT_CLASS = "tarantula"
SLIDERS = {
    "lr": (W.FloatLogSlider, "lr", dict(min=-2, max=2)),
    "l2": (W.FloatLogSlider, "l2", dict(min=-5, max=0)),
    "steps": (W.IntSlider, "steps", dict(min=1, max=500)),
    "blur_every": (W.IntSlider, "blur every", dict(min=0, max=50)),
    "jitter": (W.IntSlider, "jitter", dict(min=0, max=32)),
}
"""The :class:`~netviz_tp.featviz.VisSettings` fields the explorer sets: kind, label, range.
The other fields (space, blur_sigma, clamp) keep the chosen preset's values."""


class ClassVisExplorer(Explorer):
    """Generate an image for a class by gradient ascent, watching it live.

    Controls: ``class_box``, ``model_dd``, ``preset_dd``, ``lr_slider``, ``l2_slider``,
    ``blur_slider`` (blur every k steps, 0: never), ``jitter_slider``, ``steps_slider``,
    ``image_dd`` (start from "noise" or an image; choosing an image with a known class sets
    the class), ``upload``, ``run_button``, ``stop_button``, ``clear_button``.
    Sweep: ``sweep_dd`` (the knob), ``sweep_values`` (its values, "0.1, 0.3, 1", filled
    around the slider's value when the knob is chosen), ``sweep_button``: one image per value,
    the other knobs as set, run as one batch.
    Outputs: ``output_image`` (live), ``caption``, ``gallery`` (one tile per image, ``runs``
    counts them), ``status``, ``error``, ``progress``.
    """

    def __init__(
        self, models=None, images=None, target: str = DEFAULT_CLASS, preset: str | None = None
    ):
        super().__init__(models)
        self.picker = ImagePicker(images, extra=(NOISE,))
        self.image_dd, self.upload = self.picker.dropdown, self.picker.upload
        self.image_dd.description = "start from"
        self.class_box = class_box()
        self.class_box.value = str(target)
        if preset is not None and preset not in PRESETS:
            raise KeyError(f"unknown preset {preset!r}; presets are {list(PRESETS)}")
        start = preset or next(iter(PRESETS))
        self.preset_dd = styled(
            W.Dropdown(options=list(PRESETS), value=start, description="preset"), "preset"
        )
        self.sliders = {
            field: slider(kind, field.split("_")[0], label, **options)
            for field, (kind, label, options) in SLIDERS.items()
        }
        self.lr_slider, self.l2_slider = self.sliders["lr"], self.sliders["l2"]
        self.blur_slider, self.jitter_slider = self.sliders["blur_every"], self.sliders["jitter"]
        self.steps_slider = self.sliders["steps"]
        self.run_button = styled(W.Button(description="Run", button_style="primary"), "run")
        self.stop_button = styled(W.Button(description="Stop", button_style="warning"), "stop")
        self.clear_button = styled(W.Button(description="Clear gallery"), "clear")
        self.sweep_dd = styled(
            W.Dropdown(options=list(SLIDERS), value="lr", description="sweep"), "sweep-knob"
        )
        self.sweep_values = styled(W.Text(description="values"), "sweep-values")
        self.sweep_button = styled(W.Button(description="Sweep"), "sweep")
        self.output_image, self.caption, live = tile("class-vis", "press Run")
        self.gallery = styled(W.HBox(layout=W.Layout(flex_flow="row wrap")), "gallery")
        self.runs = 0
        self._stop = threading.Event()
        self.widget = styled(
            W.VBox(
                [
                    W.HBox([self.class_box, self.model_dd, self.preset_dd]),
                    W.HBox([self.lr_slider, self.l2_slider, self.steps_slider]),
                    W.HBox([self.blur_slider, self.jitter_slider]),
                    self.picker.widget,
                    W.HBox([self.run_button, self.stop_button, self.clear_button]),
                    W.HBox([self.sweep_dd, self.sweep_values, self.sweep_button]),
                    W.HBox([self.progress, self.status]),
                    self.error,
                    live,
                    self.gallery,
                ]
            ),
            "class-vis-explorer",
        )
        self.preset_dd.observe(lambda _: self._apply_preset(), "value")
        self.image_dd.observe(self._start_changed, "value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.sweep_dd.observe(lambda _: self._suggest_values(), "value")
        self.sweep_button.on_click(lambda _: self.run_sweep())
        self._apply_preset()

    def _apply_preset(self) -> None:
        preset = PRESETS[self.preset_dd.value]
        for field, control in self.sliders.items():
            control.value = getattr(preset, field)
        self._suggest_values()

    def _suggest_values(self) -> None:
        """Three values around the swept knob's slider: a third, as set, three times."""
        value = self.sliders[self.sweep_dd.value].value
        if isinstance(value, int):
            values = sorted({max(1, value // 3) if value else 0, value, 3 * value or 1})
        else:
            values = [value / 3, value, 3 * value]
        self.sweep_values.value = ", ".join(f"{v:.3g}" for v in values)

    def sweep_settings(self) -> dict[str, list]:
        """``{knob: values}`` of the sweep, from ``sweep_dd`` and ``sweep_values``."""
        knob, text = self.sweep_dd.value, self.sweep_values.value
        kind = int if isinstance(self.sliders[knob].value, int) else float
        try:
            values = [kind(float(v)) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise ValueError(
                f"sweep values must be numbers separated by commas, got {text!r}"
            ) from None
        if not values:
            raise ValueError(f"give the values of {knob} to sweep, e.g. 0.1, 0.3, 1")
        return {knob: values}

    def settings(self) -> VisSettings:
        """The chosen preset with the sliders' values."""
        values = {field: control.value for field, control in self.sliders.items()}
        return dataclasses.replace(PRESETS[self.preset_dd.value], **values)

    def _start_changed(self, change) -> None:
        _, label = self.picker.current()
        if label is not None:  # Q10: start from an image, aim at its true class
            key = self.model_dd.value  # the model as chosen: not loaded here if not yet
            self.class_box.value = class_text(label, self._cache.get(key, self._choices[key]))

    def run(self) -> None:
        """Start a run with the current settings (cancelling a run still going)."""
        self._stop.clear()
        self.request(self._optimise)

    def run_sweep(self) -> None:
        """Start a sweep of the chosen knob (cancelling a run still going)."""
        self._stop.clear()
        self.request(self._sweep)

    def stop(self) -> None:
        """Stop the current run (what it reached so far goes to the gallery) or sweep."""
        self._stop.set()

    def clear(self) -> None:
        """Empty the gallery."""
        self.gallery.children, self.runs = (), 0

    def _optimise(self, token) -> str:
        model = self.model()
        names = class_names_for(model)
        target = resolve_class(self.class_box.value)
        init_img, _ = self.picker.current()
        settings = self.settings()
        steps = settings.steps
        self.progress.max = steps
        title = html.escape(short_name(target, names))
        last_frame = [0.0]

        def frame(step, x, scores) -> bool:
            self.progress.value = step + 1
            now = time.perf_counter()
            if now - last_frame[0] >= FRAME_SECONDS or step + 1 == steps:
                last_frame[0] = now
                self.output_image.value = image_png(x)
                self.caption.value = f"{title}: step {step + 1}/{steps}, score {scores[0]:.1f}"
            return token.stale or self._stop.is_set()

        result = class_visualization(
            model, target, preset=settings, init_img=init_img, callback=frame
        )
        if token.stale:
            return ""
        self.output_image.value = image_png(result.x)
        stopped = result.steps_run < steps
        self._add_to_gallery(result.x, result.settings[0], result.steps_run, title, model.name)
        done = f"stopped at step {result.steps_run}" if stopped else f"{steps} steps"
        self.caption.value = f"{title}: {done}, score {result.scores[-1, 0]:.1f}"
        return f"{short_name(target, names)}: {done}"

    def _sweep(self, token) -> str:
        model = self.model()
        names = class_names_for(model)
        target = resolve_class(self.class_box.value)
        init_img, _ = self.picker.current()
        vary, settings = self.sweep_settings(), self.settings()
        ((knob, values),) = vary.items()
        self.progress.max = sum(settings.steps if knob != "steps" else v for v in values)
        try:
            grid = sweep(
                model, target, vary, preset=settings, init_img=init_img,
                progress=_Progress(self, token),
            )  # fmt: skip
        except Cancelled:
            if token.stale:
                raise
            return f"sweep of {knob} stopped"
        title = html.escape(short_name(target, names))
        for x, used in zip(grid.x, grid.settings, strict=True):
            self._add_to_gallery(x[None], used, used.steps, title, model.name)
        self.output_image.value = image_png(grid.x[-1:])
        self.caption.value = f"{title}: {knob} swept over {len(values)} values in one batch"
        return f"{short_name(target, names)}: {knob} = {', '.join(f'{v:g}' for v in values)}"

    def _add_to_gallery(self, x, used: VisSettings, steps_run: int, title: str, model: str):
        image = W.Image(value=image_png(x), format="png", width=150, height=150)
        start = self.image_dd.label if self.image_dd.value != NOISE else NOISE
        lines = [
            f"<b>{title}</b> ({html.escape(model)}, {self.preset_dd.value})",
            f"lr {used.lr:.3g}, l2 {used.l2:.1e}",
            f"blur/{used.blur_every}, jitter {used.jitter}",
            f"{steps_run}/{used.steps} steps from {html.escape(str(start))}",
        ]
        text = '<div style="font-size:11px;line-height:1.35">' + "<br>".join(lines) + "</div>"
        caption = W.HTML(text, layout=W.Layout(width="150px"))
        card = styled(W.VBox([image, caption]), "gallery-item")
        self.gallery.children = (*self.gallery.children, card)
        self.runs += 1


class _Progress:
    """The progress bar of a sweep: advances the explorer's, and cancels the sweep (raising
    :class:`~netviz_tp.widgets.common.Cancelled`) when stale or stopped."""

    def __init__(self, explorer: ClassVisExplorer, token):
        self._explorer, self._token = explorer, token

    def update(self, n: int) -> None:
        if self._token.stale or self._explorer._stop.is_set():
            raise Cancelled
        self._explorer.progress.value += n


def class_vis_explorer(
    models=None, images=None, target: str = DEFAULT_CLASS, preset: str | None = None
) -> ClassVisExplorer:
    """An interactive class-visualisation explorer (display it as the last line of a cell).

    Args:
        models, images: as :func:`saliency_explorer`; ``images`` are the possible starts
            (besides noise).
        target: the initial class, a name or an index ("tarantula").
        preset: the initial preset of ``featviz.PRESETS`` (default: its first).

    Example: ``ex = class_vis_explorer(); ex`` then Run, change a knob, Run again.
    Used in: solutions/03_class_visualization.
    """
    return ClassVisExplorer(models, images, target, preset)
