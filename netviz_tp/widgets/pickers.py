"""Pickers shared by the explorers: images (a menu plus an upload button) and classes (a
text box that proposes ImageNet names).

Contract: ``ImagePicker(images).current() -> (x [1, 3, H, W] in [0, 1] or None, true class
or None)``; ``resolve_class(text) -> index``.
"""

from __future__ import annotations

import io

import ipywidgets as W
import torch
from PIL import Image

from ..data import class_index, imagenet_classes, load_image, load_imagenet_val
from ..plot import short_name
from .common import styled


def class_names_for(model) -> list[str] | None:
    """ImageNet names for a 1000-class model (or a model name, not loaded yet); None (bare
    indices) otherwise."""
    if getattr(model, "num_classes", 1000) != 1000:
        return None
    return imagenet_classes()


def class_text(label: int, model) -> str:
    """The class box's text for ``label``: its ImageNet name when no other class shares it,
    else the bare index (which always finds it again)."""
    names = class_names_for(model)
    if names is not None and names.count(names[label]) == 1:
        return names[label]
    return str(label)


class ImagePicker:
    """A dropdown of images plus an upload button; ``current()`` -> ``(x [1,3,H,W], label)``.

    ``images``: None (the course's 25 ImageNet images), a course dataset (``.x``, ``.y``),
    a tensor ``[N, 3, H, W]`` in [0, 1], or ``{name: tensor [1,3,H,W] or path}``.
    ``label`` is the true class, or None when unknown.
    """

    def __init__(self, images=None, *, extra: tuple[str, ...] = ()):
        self._items = _image_items(images)
        self._extra = extra
        self.dropdown = styled(W.Dropdown(description="image"), "image")
        self.upload = styled(W.FileUpload(accept="image/*", multiple=False), "upload")
        self.upload.observe(self._uploaded, "value")
        self._refresh(extra[0] if extra else 0)
        self.widget = W.HBox([self.dropdown, self.upload])

    def _refresh(self, value) -> None:
        options = [(e, e) for e in self._extra]
        options += [(name, i) for i, (name, _, _) in enumerate(self._items)]
        self.dropdown.options = options
        self.dropdown.value = value

    def current(self) -> tuple[torch.Tensor | None, int | None]:
        """The chosen image and its true class (``(None, None)`` for an ``extra`` choice)."""
        if self.dropdown.value in self._extra:
            return None, None
        _, x, label = self._items[self.dropdown.value]
        return x, label

    def image(self, index: int) -> torch.Tensor:
        """The image of menu entry ``index``, ``[1, 3, H, W]``."""
        return self._items[index][1]

    def all_images(self) -> torch.Tensor:
        """Every image of the menu as one batch ``[N, 3, H, W]`` (all of one size)."""
        return torch.cat([x for _, x, _ in self._items])

    def add(self, name: str, x: torch.Tensor, label: int | None = None) -> None:
        """Add an image ``x [1, 3, H, W]`` and select it."""
        self._items.append((name, x, label))
        self._refresh(len(self._items) - 1)

    def _uploaded(self, change) -> None:
        for item in change["new"]:
            image = Image.open(io.BytesIO(bytes(item["content"])))
            self.add(f"upload: {item['name']}", load_image(image))  # 224 x 224, centre crop


def _image_items(images) -> list[tuple[str, torch.Tensor, int | None]]:
    if images is None:
        images = load_imagenet_val()
    if hasattr(images, "x") and hasattr(images, "y"):
        names = getattr(images, "class_names", None)
        return [
            (f"{i}: {short_name(int(y), names)}", images.x[i : i + 1], int(y))
            for i, y in enumerate(images.y)
        ]
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(f"images must be [N, 3, H, W] in [0, 1], got {tuple(images.shape)}")
        return [(f"image {i}", images[i : i + 1], None) for i in range(len(images))]
    if isinstance(images, dict):
        return [(str(k), _as_batch(v), None) for k, v in images.items()]
    raise TypeError(
        "images must be None (course images), a course dataset, a tensor [N, 3, H, W] "
        f"or a dict of named images, got {type(images).__name__}"
    )


def _as_batch(image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image if image.dim() == 4 else image[None]
    return load_image(image)


def class_box(description: str = "class") -> W.Combobox:
    """A text box that proposes ImageNet class names as the user types."""
    box = W.Combobox(
        options=list(dict.fromkeys(imagenet_classes())),
        placeholder="type a class name, e.g. tabby",
        description=description,
        ensure_option=False,
        continuous_update=False,
    )
    return styled(box, "class")


def resolve_class(text: str) -> int:
    """A class index from a typed name or number; KeyError with suggestions otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text:
        raise KeyError("type a class name (or its index) in the class box")
    return class_index(text)
