"""What every explorer shares: a worker thread that drops stale requests, progress, errors,
lazily loaded models, and PNG rendering for ``widgets.Image``.

Contract: ``Explorer.request(job)`` runs ``job(token)`` on the explorer's worker thread;
a newer request makes ``token.stale`` true, and the job stops at its next check.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Callable

import ipywidgets as W
import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image

from .. import models as zoo  # looked up at call time: tests can stub load_model
from ..image import to_numpy

DEFAULT_MODELS = ("squeezenet1_1", "vgg16", "efficientnet_lite0")
TILE = "224px"


class Token:
    """Handed to a job: ``stale`` turns true once a newer request arrives."""

    def __init__(self, worker: Worker, generation: int):
        self._worker, self.generation = worker, generation

    @property
    def stale(self) -> bool:
        return self._worker.generation != self.generation


class Worker:
    """One daemon thread running the latest request; requests still waiting are replaced."""

    def __init__(self):
        self.generation = 0
        self._pending: tuple[int, Callable] | None = None
        self._busy = False
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[Token], None]) -> None:
        """Run ``job(token)`` after the running job, replacing any job still waiting."""
        with self._cv:
            self.generation += 1
            self._pending = (self.generation, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="netviz-tp")
                self._thread.start()
            self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits; False if ``timeout`` seconds passed first."""
        with self._cv:
            return self._cv.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending is not None)
                generation, job = self._pending
                self._pending, self._busy = None, True
            try:
                job(Token(self, generation))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()


class Cancelled(Exception):
    """Raised inside a job whose request went stale (the worker drops it silently)."""


class Watched(torch.nn.Module):
    """``model`` that checks its token before each forward (raising :class:`Cancelled` when
    stale) and calls ``on_forward()``: cancellation and progress for methods without a
    callback, such as the attacks."""

    def __init__(self, model, token: Token, on_forward: Callable[[], None]):
        super().__init__()
        self.model, self._token, self._on_forward = model, token, on_forward
        for name in ("name", "num_classes", "in_channels", "input_size"):
            setattr(self, name, getattr(model, name, None))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._token.stale:
            raise Cancelled
        self._on_forward()
        return self.model(x)


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of ``pixels [H, W, 3]`` (or ``[H, W]`` grey) in ``[0, 1]``."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)).save(buffer, "png")
    return buffer.getvalue()


def image_png(x: torch.Tensor) -> bytes:
    """PNG bytes of the first image of ``x [N, 3, H, W]`` in ``[0, 1]``."""
    return png(to_numpy(x[:1])[0])


def heat_png(heat: torch.Tensor, cmap: str = "inferno") -> bytes:
    """PNG bytes of one map ``heat [H, W]`` (any scale), rescaled to [0, 1] and coloured."""
    h = heat.detach().float().cpu()
    span = (h.max() - h.min()).item()
    h = (h - h.min()) / span if span > 0 else torch.zeros_like(h)
    return png(colormaps[cmap](h.numpy())[..., :3])


def tile(name: str, caption: str = "") -> tuple[W.Image, W.HTML, W.VBox]:
    """An image with a caption above it, classes ``nv-<name>`` and ``nv-<name>-caption``."""
    image = W.Image(format="png", layout=W.Layout(width=TILE, height=TILE))
    label = W.HTML(caption, layout=W.Layout(width=TILE))
    image.add_class(f"nv-{name}")
    label.add_class(f"nv-{name}-caption")
    return image, label, W.VBox([label, image])


def styled(widget: W.Widget, name: str) -> W.Widget:
    """Give ``widget`` the stable CSS class ``nv-<name>`` (selectors for browser tests)."""
    widget.add_class(f"nv-{name}")
    return widget


def slider(kind: type[W.Widget], name: str, description: str, **options) -> W.Widget:
    """A slider of ``kind`` (``W.IntSlider``, ...) that reports on release, class ``nv-<name>``."""
    style = {"description_width": "initial"}
    return styled(
        kind(description=description, continuous_update=False, style=style, **options), name
    )


def one_line(error: BaseException) -> str:
    """``"KeyError: no class 'x'"``: the first line of an error, for the widget."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


class Explorer:
    """Base of the explorers: status line, error line, progress bar, worker, model cache.

    Subclasses build their controls, set ``self.widget`` and call :meth:`request` from
    their observers. ``wait(timeout)`` blocks until the pending work is done (tests).
    """

    def __init__(self, models=None):
        self.status = styled(W.HTML(""), "status")
        self.error = styled(W.HTML("", layout=W.Layout(display="none")), "error")
        self.progress = styled(W.FloatProgress(value=0, min=0, max=1), "progress")
        self._worker = Worker()
        self._choices = _model_choices(models)
        self._cache: dict[str, torch.nn.Module] = {}
        self.model_dd = styled(
            W.Dropdown(options=list(self._choices), description="model"), "model"
        )
        self.widget: W.Box = W.VBox()

    # ---- display and tests ----
    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def wait(self, timeout: float | None = 60) -> bool:
        """Block until every pending request has been handled; False on timeout."""
        return self._worker.wait(timeout)

    # ---- work ----
    def model(self):
        """The selected model, loaded on first use and cached."""
        key = self.model_dd.value
        if key not in self._cache:
            choice = self._choices[key]
            if isinstance(choice, str):
                self.status.value = f"loading {html.escape(choice)}…"
                choice = zoo.load_model(choice)
            self._cache[key] = choice
        return self._cache[key]

    def request(self, job: Callable[[Token], str | None]) -> None:
        """Run ``job(token)`` on the worker; it returns a status line. Stale runs are dropped."""
        self._worker.submit(lambda token: self._run(job, token))

    def _run(self, job, token: Token) -> None:
        if token.stale:
            return
        start = time.perf_counter()
        self.progress.bar_style, self.progress.value = "info", 0
        try:
            message = job(token)
        except Exception as error:  # the widget shows every failure as one line
            if not token.stale:
                self.show_error(one_line(error))
            return
        if token.stale:
            return
        self.show_error("")
        self.progress.bar_style, self.progress.value = "success", self.progress.max
        seconds = time.perf_counter() - start
        self.status.value = html.escape(message or "done") + f" <i>({seconds:.2f} s)</i>"

    def show_error(self, message: str) -> None:
        """Show ``message`` in the red error line (hide it when empty)."""
        text = html.escape(message)
        self.error.value = f'<span style="color:#b00020">{text}</span>' if message else ""
        self.error.layout.display = None if message else "none"
        if message:
            self.progress.bar_style = "danger"
            self.status.value = ""


def _model_choices(models) -> dict[str, object]:
    """``{label: name or nn.Module}`` from None, a name, a module, a list of them or a dict."""
    if models is None:
        models = DEFAULT_MODELS
    if isinstance(models, (str, torch.nn.Module)):
        models = [models]
    if isinstance(models, dict):
        return dict(models)
    choices = {}
    for m in models:
        if not isinstance(m, (str, torch.nn.Module)):
            raise TypeError(f"models must be names or torch modules, got {type(m).__name__}")
        choices[m if isinstance(m, str) else getattr(m, "name", type(m).__name__)] = m
    if not choices:
        raise ValueError("models is empty: give at least one model name or module")
    return choices
