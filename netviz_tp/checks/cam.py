"""Grad-CAM check: ``check_grad_cam(grad_cam)`` against :func:`netviz_tp.cam.grad_cam`.

The mistakes it recognises: no ReLU, gradients not averaged over space (used pixel by pixel,
or summed), another layer than the one asked for, the softmax probability instead of the
score.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import cam
from ..hooks import capture, last_conv
from .common import check_maps, diagnose, failed, passed, run_student, tiny_setup


def check_grad_cam(
    fn, model=None, x=None, y=None, *, layer=None, seed: int = 0, tol: float = 1e-4
) -> None:
    """Check ``fn(model, x, target, layer) -> heat [N, H, W]`` against the package's
    Grad-CAM (the map upsampled bilinearly to the input size, ``align_corners=False``)."""
    name = getattr(fn, "__name__", "grad_cam")
    if model is None:
        model, x = tiny_setup(seed)
    if y is None:
        y = torch.arange(len(x)) % model.num_classes
    layer = layer if layer is not None else last_conv(model)
    y = torch.as_tensor(y).long().to(x.device)
    ref = cam.grad_cam(model, x, y, layer=layer)
    x_in = x.clone()
    out = run_student(name, "cam", fn, model, x_in, y.clone(), layer)
    n, _, h, w = x.shape
    if out.dim() == 3 and out.shape[0] == n and tuple(out.shape[1:]) != (h, w):
        failed(
            name,
            f"expected maps of the input's size {(n, h, w)}, got {tuple(out.shape)}: upsample "
            "with F.interpolate(cam[:, None], size=x.shape[-2:], mode='bilinear')",
        )
    check_maps(name, out, x_in, x, "x")
    out = out.to(ref.device)
    if (out < 0).any() and not (ref < 0).any():
        failed(name, "the map has negative values: apply a ReLU to the weighted sum (Eq. 2)")
    diagnose(name, out, ref, _mistakes(model, x, y, layer), tol, "Grad-CAM values")
    passed(name, f"shape {tuple(out.shape)}, non-negative, matches the reference within {tol:g}")


def cam_variant(
    model, x, t, layer, *, relu=True, weights="mean", objective="score"
) -> torch.Tensor:
    """Grad-CAM with one knob changed: ``relu``, ``weights`` ("mean", "sum", "pixel":
    gradient times activation at each position), ``objective`` ("score", "softmax")."""
    with torch.enable_grad(), capture(model, layer, grads=True) as rec:
        logits = model(x)
        scores = logits.softmax(1) if objective == "softmax" else logits
        scores.gather(1, t[:, None]).sum().backward()
    (act,), (grad,) = rec.activations.values(), rec.gradients.values()
    act = act.detach()
    if weights == "pixel":
        heat = (grad * act).sum(1)
    else:
        alpha = grad.mean((2, 3)) if weights == "mean" else grad.sum((2, 3))
        heat = torch.einsum("nk,nkhw->nhw", alpha, act)
    heat = heat.relu() if relu else heat
    return F.interpolate(heat[:, None], size=x.shape[-2:], mode="bilinear")[:, 0]


def _mistakes(model, x, t, layer) -> list:
    others = [n for n, m in dict(model.layers).items() if isinstance(m, nn.Conv2d) and n != layer]
    return [
        (
            "negative values were kept: apply a ReLU to the weighted sum of the maps (Eq. 2)",
            lambda: cam_variant(model, x, t, layer, relu=False),
        ),
        (
            "you multiplied gradients and activations position by position: first average "
            "each channel's gradient over space (global average pooling, Eq. 1)",
            lambda: cam_variant(model, x, t, layer, weights="pixel"),
        ),
        (
            "you summed the gradients over space: average them (divide by h * w, Eq. 1)",
            lambda: cam_variant(model, x, t, layer, weights="sum"),
        ),
        (
            "you differentiated the softmax probability: use the score (logit) of the class",
            lambda: cam_variant(model, x, t, layer, objective="softmax"),
        ),
    ] + [
        (
            f"this is the map of layer {other!r}: use the layer you were given ({layer!r})",
            lambda other=other: cam_variant(model, x, t, other),
        )
        for other in others
    ]
