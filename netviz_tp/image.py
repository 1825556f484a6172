"""Images: numpy/PIL <-> tensor conversions and heat-map overlays (no matplotlib).

The one value convention of the package: an image batch ``x`` is a float tensor
``[N, 3, H, W]`` of RGB pixels in ``[0, 1]``. Every model returned by
:func:`netviz_tp.load_model` normalises its input itself, so every method works on
pixels, and perturbation budgets are stated in pixel units (``8/255`` is 8 grey levels).
numpy arrays appear only at the boundary with files and plots, as ``[N, H, W, 3]``.
"""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """Convert course-style ``uint8`` images ``[N, H, W, 3]`` (or one ``[H, W, 3]``)
    to a float batch ``[N, 3, H, W]`` in ``[0, 1]``."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"expected uint8 pixels in 0..255, got dtype {images.dtype}; "
            "convert float images with torch.as_tensor(...).permute(0, 3, 1, 2) instead"
        )
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected images of shape [N, H, W, 3] or [H, W, 3], got {tuple(images.shape)}"
        )
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """Convert a batch ``[N, C, H, W]`` (or one ``[C, H, W]``) to numpy ``[N, H, W, 3]``,
    clipped to ``[0, 1]``, ready for ``imshow`` (grey images, ``C = 1``, become RGB)."""
    x = x.detach().float().cpu()
    if x.dim() == 3:
        x = x[None]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def rescale_heat(heat: torch.Tensor) -> torch.Tensor:
    """Rescale each map of ``heat [N, H, W]`` to ``[0, 1]`` (min to 0, max to 1);
    a constant map becomes all zeros."""
    flat = heat.detach().float().flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - lo
    scaled = (flat - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.view_as(heat)


def overlay(x: torch.Tensor, heat: torch.Tensor, *, alpha: float = 0.5) -> np.ndarray:
    """Blend a heat map over its image.

    Shape: ``x [N, 3, H, W]`` in ``[0, 1]``, ``heat [N, H, W]`` (any scale)
    -> numpy ``[N, H, W, 3]`` in ``[0, 1]``; the heat is rescaled per image and coloured
    with a red-yellow ramp (hot pixels are bright).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    h = rescale_heat(heat).cpu()[:, None]
    colour = torch.cat([torch.ones_like(h), h, torch.zeros_like(h)], dim=1) * h
    blended = (1 - alpha * h) * x.detach().float().cpu() + alpha * colour
    return to_numpy(blended)
